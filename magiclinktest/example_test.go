package magiclinktest_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/magiclinktest"
)

// TestDashboard is a handler test of an application's own protected page.
// (Here it is unexported so that this file is shown whole as the example;
// in your package, name it TestDashboard.)
func testDashboard(t *testing.T) {
	h := magiclinktest.New(t)
	// The application's own route, behind the session middleware.
	h.Mux.Handle("GET /dashboard", h.Handler.Authenticate(http.HandlerFunc(dashboard)))

	// Request a link through POST /auth/send-magic-link, open it and press
	// the confirm button: the returned client holds the session cookie.
	client := h.SignIn("ada@example.com")

	resp, err := client.Get(h.URL + "/dashboard")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "Hello, ada@example.com" {
		t.Errorf("dashboard = %q", body)
	}

	// A signed-out client is refused.
	resp, err = h.Client().Get(h.URL + "/dashboard")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("signed out: %d, want 401", resp.StatusCode)
	}
}

// dashboard greets whoever Authenticate let through.
func dashboard(w http.ResponseWriter, r *http.Request) {
	id, _ := magiclink.IdentityFrom(r.Context())
	fmt.Fprintf(w, "Hello, %s", id.Email)
}

// New needs a *testing.T, so the example is a test function: testDashboard
// above, which TestExampleNew runs.
func ExampleNew() {
	_ = testDashboard
}
