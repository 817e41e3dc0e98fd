// Command stdmux mounts magiclink on an existing net/http application: the
// application keeps its own routes on its http.ServeMux, magiclink adds its
// endpoints next to them with Register, and Authenticate protects a route.
//
//	go run ./examples/stdmux
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

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/mailer"
)

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8081"
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
	fmt.Printf("stdmux example listening on %s\n", origin)
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

	// The application's mux and its own routes, as they were before
	// magiclink came along.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", home)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })

	// magiclink's endpoints: /auth/send-magic-link, /auth/verify,
	// /auth/sign-out (and the partner and admin APIs when configured).
	auth.Register(mux)
	// A route only signed-in users reach.
	mux.Handle("GET /account", auth.Authenticate(http.HandlerFunc(account)))
	return mux, svc.Close, nil
}

func home(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, `Welcome to the stdmux example.

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
