package app

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"testing"

	"github.com/magiclink-go/magiclink/internal/testredis"
)

// getHealth fetches a health endpoint and decodes its JSON body.
func getHealth(t *testing.T, base, path string) (int, healthBody) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	var body healthBody
	if err := json.Unmarshal(data, &body); err != nil {
		t.Fatalf("GET %s: %v in %q", path, err, data)
	}
	return resp.StatusCode, body
}

func TestHealthMemory(t *testing.T) {
	t.Parallel()
	ts := start(t, nil)
	if status, body := getHealth(t, ts.base, "/healthz"); status != http.StatusOK || body.Status != "ok" {
		t.Errorf("/healthz = %d %+v, want 200 ok", status, body)
	}
	want := healthBody{Status: "ok", Checks: map[string]string{"store": "ok"}}
	if status, body := getHealth(t, ts.base, "/readyz"); status != http.StatusOK || !reflect.DeepEqual(body, want) {
		t.Errorf("/readyz = %d %+v, want 200 %+v", status, body, want)
	}
	resp, err := http.Post(ts.base+"/readyz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /readyz = %d, want 405", resp.StatusCode)
	}
}

// TestReadyzRedisOutage kills the real redis-server behind the store:
// /readyz turns 503 naming the store while /healthz stays 200, and turns
// 200 again once the server is back, with no restart of the example.
func TestReadyzRedisOutage(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	ts := start(t, map[string]string{"REDIS_URL": "redis://" + srv.Addr() + "/0"})
	up := healthBody{Status: "ok", Checks: map[string]string{"store": "ok"}}
	if status, body := getHealth(t, ts.base, "/readyz"); status != http.StatusOK || !reflect.DeepEqual(body, up) {
		t.Fatalf("/readyz with Redis up = %d %+v, want 200 %+v", status, body, up)
	}

	srv.Stop(t)
	down := healthBody{Status: "unavailable", Checks: map[string]string{"store": "unavailable"}, Failed: []string{"store"}}
	if status, body := getHealth(t, ts.base, "/readyz"); status != http.StatusServiceUnavailable || !reflect.DeepEqual(body, down) {
		t.Fatalf("/readyz with Redis killed = %d %+v, want 503 %+v", status, body, down)
	}
	if status, _ := getHealth(t, ts.base, "/healthz"); status != http.StatusOK {
		t.Fatalf("/healthz with Redis killed = %d, want 200: the process is up", status)
	}

	srv.Restart(t)
	if status, body := getHealth(t, ts.base, "/readyz"); status != http.StatusOK || !reflect.DeepEqual(body, up) {
		t.Fatalf("/readyz after the restart = %d %+v, want 200 %+v", status, body, up)
	}
}
