package app

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink/internal/syncbuf"
	"github.com/magiclink-go/magiclink/internal/testredis"
)

// TestRedisAndSMTPUseTheOutbox: with REDIS_URL and SMTP_URL the mail goes
// to the Redis outbox, which /readyz then checks, and a send is accepted
// while the SMTP server is still unreachable (the mail waits in Redis).
func TestRedisAndSMTPUseTheOutbox(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	ts := start(t, map[string]string{
		"REDIS_URL":        "redis://" + srv.Addr() + "/0",
		"SMTP_URL":         "smtp://127.0.0.1:1?tls=none", // nothing listens there
		"MAGICLINK_SECRET": "0123456789abcdef0123456789abcdef",
	})
	want := healthBody{Status: "ok", Checks: map[string]string{"store": "ok", "outbox": "ok"}}
	if status, body := getHealth(t, ts.base, "/readyz"); status != http.StatusOK || !reflect.DeepEqual(body, want) {
		t.Fatalf("/readyz = %d %+v, want 200 %+v", status, body, want)
	}
	req, err := http.NewRequest(http.MethodPost, ts.base+"/auth/send-magic-link",
		strings.NewReader(`{"email":"queued@example.com","callback_origin":"`+ts.base+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("send with the SMTP server down = %d, want 200: the outbox accepts it", resp.StatusCode)
	}
	keys, err := srv.Client(t).Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(keys, " "), "mail") {
		t.Fatalf("no outbox keys in Redis after an accepted send: %v", keys)
	}
}

// TestOutboxNeedsTheSecret: the outbox seals queued mail with the server
// secret, which every instance must share, so a random per-process one
// will not do.
func TestOutboxNeedsTheSecret(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	var stdout, stderr syncbuf.Buffer
	code := Main(context.Background(), nil, env(map[string]string{"ADDR": "127.0.0.1:0",
		"REDIS_URL": "redis://" + srv.Addr() + "/0", "SMTP_URL": "smtp://127.0.0.1:1?tls=none"}), &stdout, &stderr)
	const want = "magiclink: MAGICLINK_SECRET is required with REDIS_URL and SMTP_URL"
	if got := stderr.String(); code != 1 || !strings.HasPrefix(got, want) || strings.Count(got, "\n") != 1 {
		t.Fatalf("exit %d, stderr %q; want 1 and one line starting %q", code, got, want)
	}
}
