// Package dashboard is a tiny application protected by magiclink, and the
// subject of dashboard_test.go: an example of testing one's own handlers
// with package magiclinktest.
package dashboard

import (
	"fmt"
	"net/http"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
)

// Register adds the application's own routes to mux: a public home page
// and a dashboard that requires a session, checked by auth. The magiclink
// endpoints are registered by whoever builds auth (auth.Register(mux) in a
// main; magiclinktest.New in tests).
func Register(mux *http.ServeMux, auth *httpadapter.Handler) {
	mux.HandleFunc("GET /{$}", home)
	mux.Handle("GET /dashboard", auth.Authenticate(http.HandlerFunc(dashboard)))
}

func home(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "Welcome. Sign in to see your dashboard.")
}

// dashboard greets the signed-in user; Authenticate put the Identity into
// the request's context.
func dashboard(w http.ResponseWriter, r *http.Request) {
	id, ok := magiclink.IdentityFrom(r.Context())
	if !ok {
		// Unreachable behind Authenticate; guards against a wiring mistake.
		http.Error(w, "not signed in", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Hello, %s!\n", id.Email)
}
