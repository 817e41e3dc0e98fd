package dashboard_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	dashboard "github.com/magiclink-go/magiclink/examples/testing"
	"github.com/magiclink-go/magiclink/magiclinktest"
)

// newApp runs the application on a magiclinktest harness: the real
// magiclink endpoints, a captured mailbox and a fake clock.
func newApp(t *testing.T) *magiclinktest.Harness {
	t.Helper()
	h := magiclinktest.New(t)
	// The harness has registered magiclink's endpoints on h.Mux already;
	// the application adds its own routes next to them.
	dashboard.Register(h.Mux, h.Handler)
	return h
}

func TestDashboardGreetsSignedInUser(t *testing.T) {
	t.Parallel()
	h := newApp(t)
	client := h.SignIn("ada@example.com")

	resp, err := client.Get(h.URL + "/dashboard")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "Hello, ada@example.com!\n" {
		t.Fatalf("GET /dashboard = %d %q, want a greeting", resp.StatusCode, body)
	}
}

func TestDashboardRequiresSignIn(t *testing.T) {
	t.Parallel()
	h := newApp(t)
	resp, err := h.Client().Get(h.URL + "/dashboard")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /dashboard signed out = %d, want 401", resp.StatusCode)
	}
}

func TestDashboardSessionExpires(t *testing.T) {
	t.Parallel()
	h := newApp(t)
	client := h.SignIn("grace@example.com")
	// An unused session ends after its idle time (7 days by default); the
	// fake clock gets there without waiting.
	h.Advance(magiclink.DefaultSessionIdleTTL + time.Minute)
	resp, err := client.Get(h.URL + "/dashboard")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /dashboard after the session expired = %d, want 401", resp.StatusCode)
	}
}
