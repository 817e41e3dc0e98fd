// Command postgres is an application that keeps its users in its own
// PostgreSQL table, with its own IDs and columns, while magiclink keeps
// links, codes and rate limits in the same database (store/pgstore, in the
// schema "magiclink"). Config.Users connects the two; Hooks.OnSignIn puts
// the application's own "plan" column into the session token.
//
//	DATABASE_URL=postgres://app:secret@127.0.0.1:5432/app go run ./examples/postgres
//
// Sign-in mails are printed to the console (mailer.Log). See README.md.
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

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store/pgstore"
)

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8082"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, addr, os.Getenv("DATABASE_URL")); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr, databaseURL string) error {
	if databaseURL == "" {
		return errors.New("DATABASE_URL is required, such as postgres://app:secret@127.0.0.1:5432/app")
	}
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer pool.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	origin := "http://" + ln.Addr().String()
	a, err := newApp(ctx, pool, origin, mailer.NewLog(os.Stdout))
	if err != nil {
		ln.Close()
		return err
	}
	defer a.Close()
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("postgres example listening on %s\n", origin)
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

// app is the application: its users table, magiclink, and its routes.
type app struct {
	users   *Users
	store   *pgstore.Store
	svc     *magiclink.Service
	handler http.Handler
}

// newApp migrates both schemas and builds the application for origin.
func newApp(ctx context.Context, pool *pgxpool.Pool, origin string, m mailer.Mailer) (*app, error) {
	if _, err := pool.Exec(ctx, schema); err != nil {
		return nil, fmt.Errorf("creating app_users: %w", err)
	}
	if err := pgstore.Migrate(ctx, pool); err != nil {
		return nil, err
	}
	st, err := pgstore.New(ctx, pool)
	if err != nil {
		return nil, err
	}
	a := &app{users: &Users{pool: pool}, store: st}
	a.svc, err = magiclink.New(magiclink.Config{
		Origins: []string{origin},
		Store:   st, // links, codes, customers
		Limiter: st,
		Users:   a.users, // users: the application's own table
		Mailer:  m,
		Hooks:   magiclink.Hooks{OnSignIn: a.onSignIn},
		// Secret is left empty for the example: a random one per process.
		// Set 32 or more random bytes in production.
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	auth, err := httpadapter.New(a.svc, httpadapter.Config{})
	if err != nil {
		a.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	auth.Register(mux)
	mux.Handle("GET /me", auth.Authenticate(http.HandlerFunc(a.me)))
	a.handler = mux
	return a, nil
}

// onSignIn adds the user's plan to the session token, so services that
// verify it offline see the plan too.
func (a *app) onSignIn(ctx context.Context, id magiclink.Identity) (map[string]any, error) {
	plan, err := a.users.Plan(ctx, id.UserID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"plan": plan}, nil
}

// me shows the signed-in user's row of the application's table.
func (a *app) me(w http.ResponseWriter, r *http.Request) {
	id, _ := magiclink.IdentityFrom(r.Context())
	plan, err := a.users.Plan(r.Context(), id.UserID)
	if err != nil {
		http.Error(w, "user not found", http.StatusNotFound)
		return
	}
	fmt.Fprintf(w, "user %s (%s), plan %s\n", id.UserID, id.Email, plan)
}

// Close releases the Service and the store.
func (a *app) Close() error {
	return errors.Join(a.svc.Close(), a.store.Close())
}
