// Command chi mounts magiclink on an existing github.com/go-chi/chi
// application: the httpadapter.Handler is an http.Handler, so chi mounts
// it like any other, and its Authenticate method is ordinary chi
// middleware.
//
//	go run ./examples/chi
//
// Sign-in mails are printed to the console (mailer.Log), so the link can be
// opened from there.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/mailer"
)

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8082"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, addr); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	origin := "http://" + ln.Addr().String()
	handler, closeApp, err := newApp(origin, mailer.NewLog(os.Stdout))
	if err != nil {
		ln.Close()
		return err
	}
	defer closeApp()

	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("chi example listening on %s\n", origin)
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return err
}

// newApp builds the application for origin, its own address as browsers
// see it. The returned function releases the Service.
func newApp(origin string, m mailer.Mailer) (http.Handler, func() error, error) {
	svc, err := magiclink.New(magiclink.Config{
		Origins: []string{origin},
		Mailer:  m,
		// Secret is left empty for the example: a random one per process.
		// Set 32 or more random bytes in production.
	})
	if err != nil {
		return nil, nil, err
	}
	auth, err := httpadapter.New(svc, httpadapter.Config{})
	if err != nil {
		svc.Close()
		return nil, nil, err
	}

	// The application's router and its own routes.
	r := chi.NewRouter()
	r.Get("/", home)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })

	// magiclink's browser endpoints live under /auth. The Handler matches
	// full paths and chi passes them on unchanged, so it mounts as is.
	// (With APIKeys or Admin configured, mount /api/v1/Auth and /admin the
	// same way.)
	r.Mount("/auth", auth)

	// Authenticate is plain func(http.Handler) http.Handler middleware.
	r.Group(func(r chi.Router) {
		r.Use(auth.Authenticate)
		r.Get("/account", account)
	})
	return r, svc.Close, nil
}

func home(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, `Welcome to the chi example.

Ask for a sign-in link (it is printed on the server's console):

  curl -H 'Content-Type: application/json' -H 'Origin: <this origin>' \
    -d '{"email":"you@example.com","callback_next":"/account"}' <this origin>/auth/send-magic-link

Open the link in a browser, press "Sign in", and /account greets you.
`)
}

// account shows the signed-in user, whom Authenticate put in the context.
func account(w http.ResponseWriter, r *http.Request) {
	id, _ := magiclink.IdentityFrom(r.Context())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Signed in as %s (user %s).\n", id.Email, id.UserID)
}
