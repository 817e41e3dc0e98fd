// Package app is the example server of magiclink (DESIGN §8): a sign-in
// page, the library's HTTP endpoints, a development mailbox and a signed-in
// page, configured from the environment. It lives in an importable package
// so that tests, including the browser tests in e2e/, can run the whole
// server in-process; examples/server/main.go only calls Main.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/internal/clientip"
	"github.com/magiclink-go/magiclink/mailer"
)

// linkTTL is how long a mailed link and its code live: the Service's
// default, spelt out because the pages and the dev mailbox tell it too.
const linkTTL = 15 * time.Minute

// Timeouts of start-up and shutdown.
const (
	redisPingTimeout = 5 * time.Second
	shutdownTimeout  = 10 * time.Second
)

// Main runs the server until ctx ends and returns the process exit code:
// 0 after a clean shutdown, 1 on any error, which it prints to stderr as one
// line starting with "magiclink: ".
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if err := Run(ctx, args, getenv, stdout, stderr, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "magiclink: "+oneLine(err))
		return 1
	}
	return 0
}

// Run configures the server from getenv and args, listens, prints
// "magiclink example server listening on <base URL>" to stdout, sends the
// base URL on ready (when not nil) and serves until ctx ends. Then it shuts
// the server down gracefully and releases the mailer, store and Service.
// ADDR may use port 0; the base URL carries the port actually bound.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready chan<- string) error {
	flags := flag.NewFlagSet("server", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: server\n\nThe magiclink example server is configured by environment variables; see examples/server/README.md.")
	}
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; configure the server with environment variables", flags.Arg(0))
	}
	cfg, err := ParseConfig(getenv)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on ADDR %s: %w", cfg.Addr, unwrapOp(err))
	}
	base := baseURL(cfg.Addr, ln.Addr())
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	srv, err := New(ctx, cfg, base, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer srv.Close()

	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ln) }()
	fmt.Fprintf(stdout, "magiclink example server listening on %s\n", base)
	if a := srv.MetricsAddr(); a != "" {
		fmt.Fprintf(stdout, "metrics on http://%s/metrics\n", a)
	}
	if ready != nil {
		ready <- base
	}

	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err = httpSrv.Shutdown(shutdownCtx)
	<-served // Serve has returned http.ErrServerClosed by now.
	if err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

// Server is the example application: an http.Handler with every route.
type Server struct {
	cfg     *Config
	base    string
	portal  string
	ips     *clientip.Resolver
	log     *slog.Logger
	svc     *magiclink.Service
	origins *magiclink.Origins // the Service's allowlist, for pages
	auth    *httpadapter.Handler
	inbox   *mailer.Memory // nil with SMTP
	mux     *http.ServeMux
	handler http.Handler // mux behind the Host check
	ready   []readyCheck
	metrics *metrics // nil without METRICS_ADDR
	closers []func(context.Context) error
}

// New builds the Server for cfg. base is the server's own base URL, such as
// "http://127.0.0.1:8080": the default allowed origin. It connects to Redis
// (with a bounded ping) when cfg.Redis is set and to PostgreSQL (migrating
// it) when cfg.Database is. Close releases what it made.
func New(ctx context.Context, cfg *Config, base string, logger *slog.Logger) (_ *Server, err error) {
	s := &Server{cfg: cfg, base: base, mux: http.NewServeMux(), log: logger}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	origins := cfg.AllowedOrigins
	if len(origins) == 0 {
		origins = []string{base}
	}
	portal := cfg.PortalOrigin
	if portal == "" {
		portal = origins[0]
		if strings.Contains(portal, "*") {
			return nil, fmt.Errorf("MAGICLINK_PORTAL_ORIGIN is required when the first allowed origin is a pattern (%s)", portal)
		}
	}

	b, err := s.openBackends(ctx, cfg)
	if err != nil {
		return nil, err
	}
	st := b.st
	for i := range cfg.Customers {
		if err := st.PutCustomer(ctx, &cfg.Customers[i]); err != nil {
			return nil, fmt.Errorf("MAGICLINK_CUSTOMERS: storing customer %q: %w", cfg.Customers[i].ID, err)
		}
	}

	m, templates, err := s.newMailer(cfg, b, logger)
	if err != nil {
		return nil, err
	}

	var meters metric.MeterProvider
	if cfg.MetricsAddr != "" {
		if s.metrics, err = newMetrics(cfg.MetricsAddr); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, s.metrics.Close)
		meters = s.metrics.provider
	}

	s.svc, err = magiclink.New(magiclink.Config{
		MeterProvider:     meters,
		Origins:           origins,
		AllowInsecureHTTP: cfg.AllowInsecureHTTP,
		Secret:            cfg.Secret,
		Store:             st,
		Limiter:           b.limiter,
		Mailer:            m,
		Templates:         templates,
		AppName:           appName("en"), // each mail gets its own language's (namedMails)
		LinkTTL:           linkTTL,
		Logger:            logger,
	})
	if err != nil {
		return nil, fmt.Errorf("configuration: %s", trimPrefix(err))
	}
	s.closers = append(s.closers, func(context.Context) error { return s.svc.Close() })
	// The same patterns New accepted, so this cannot fail.
	if s.origins, err = magiclink.NewOriginsWithOptions(magiclink.OriginOptions{AllowInsecureHTTP: cfg.AllowInsecureHTTP}, origins...); err != nil {
		return nil, fmt.Errorf("configuration: %s", trimPrefix(err))
	}
	s.ready = append(readyChecks(st, m), b.ready...)

	// The adapter's pages name the example in their own language, from
	// the same "app.name" texts as the example's pages and mails.
	named, err := adapterPages()
	if err != nil {
		return nil, fmt.Errorf("the adapter's page texts: %w", err)
	}
	acfg := httpadapter.Config{TrustedProxies: cfg.TrustedProxies, Logger: logger, Pages: named}
	if len(cfg.CORSOrigins) > 0 {
		acfg.CORS = &httpadapter.CORSConfig{Origins: cfg.CORSOrigins, AllowInsecureHTTP: cfg.AllowInsecureHTTP, AllowCredentials: true}
	}
	if cfg.APIKey != "" {
		// Its own organisation, never the public one (""): the partner can
		// neither pre-create nor probe the accounts of public sign-ins.
		acfg.APIKeys = []httpadapter.APIKey{{ID: "dev", Key: cfg.APIKey, OrgID: "partner-dev", PortalOrigin: portal}}
	}
	if cfg.AdminJWTSecret != nil {
		acfg.Admin = &httpadapter.AdminConfig{
			Key: cfg.AdminJWTSecret, Methods: []string{"HS256"},
			Issuer: cfg.AdminJWTIssuer, Audience: cfg.AdminJWTAudience, Scope: cfg.AdminScope,
			PortalOrigin: portal,
		}
	}
	if s.auth, err = httpadapter.New(s.svc, acfg); err != nil {
		return nil, fmt.Errorf("configuration: %s", trimPrefix(err))
	}
	// The sign-in form resolves client IPs exactly as the adapter does.
	if s.ips, err = clientip.New(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("MAGICLINK_TRUSTED_PROXIES: %w", err)
	}
	s.portal = portal
	var portalOrigins *magiclink.Origins
	if cfg.PortalOrigin != "" {
		if portalOrigins, err = magiclink.NewOriginsWithOptions(magiclink.OriginOptions{AllowInsecureHTTP: cfg.AllowInsecureHTTP}, cfg.PortalOrigin); err != nil {
			return nil, fmt.Errorf("MAGICLINK_PORTAL_ORIGIN: %s", trimPrefix(err))
		}
	}
	guard, err := newHostGuard(cfg.Addr, base, s.origins, portalOrigins)
	if err != nil {
		return nil, err
	}
	s.routes()
	s.handler = guard.wrap(s.mux)
	return s, nil
}

// ServeHTTP serves every route of the example to the Hosts it serves.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// MetricsAddr is the address /metrics is served on, or "" without
// METRICS_ADDR.
func (s *Server) MetricsAddr() string {
	if s.metrics == nil {
		return ""
	}
	return s.metrics.Addr()
}

// Service returns the magiclink Service behind the server.
func (s *Server) Service() *magiclink.Service { return s.svc }

// Mailbox returns the memory mailer, or nil when mail goes out by SMTP. Its
// mails are served at /dev/mailbox only when Config.DevMailbox is set.
func (s *Server) Mailbox() *mailer.Memory { return s.inbox }

// Close releases the Service, the mailer (draining queued mail) and the
// store, in the reverse order of their creation.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i](ctx))
	}
	s.closers = nil
	return errors.Join(errs...)
}

// baseURL is the server's own origin: the configured host (loopback
// "127.0.0.1" stays as typed, an empty or unspecified host becomes
// "localhost") with the port actually bound.
func baseURL(addr string, bound net.Addr) string {
	host, _, _ := net.SplitHostPort(addr)
	_, port, _ := net.SplitHostPort(bound.String())
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// oneLine keeps an error to the single line the contract promises.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// unwrapOp drops the "listen tcp 1.2.3.4:5:" prefix of a net.OpError; the
// message names the address already.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
