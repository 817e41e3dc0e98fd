// Package magiclinktest runs magiclink in-process for the tests of
// applications that use it: a Service and its HTTP endpoints on an
// httptest.Server, a memory mailer that captures every sign-in mail, a
// fake clock, and helpers that sign a test client in through the real
// endpoints, exactly as a browser would.
//
//	func TestDashboard(t *testing.T) {
//		h := magiclinktest.New(t)
//		h.Mux.Handle("GET /dashboard", h.Handler.Authenticate(dashboard))
//
//		client := h.SignIn("ada@example.com") // a signed-in *http.Client
//		resp, err := client.Get(h.URL + "/dashboard")
//		...
//	}
//
// Helpers that fail report through the test's Fatalf, so call them from the
// test's own goroutine. Everything New starts is stopped by the test's
// cleanup. Rate limits are off unless WithLimits turns them on; the clock
// moves only when Advance moves it.
package magiclinktest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/internal/fakeclock"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store"
)

// Harness is a running magiclink for one test. Its fields are ready to use
// once New returns; do not change them.
type Harness struct {
	// URL is the base URL of the test server, such as
	// "http://127.0.0.1:41234". It is the Service's allowed origin, and
	// sign-in links point to it.
	URL string
	// Server is the test server. Its handler is Mux.
	Server *httptest.Server
	// Mux serves the magiclink endpoints and the routes added by WithMux.
	Mux *http.ServeMux
	// Service is the magiclink Service behind the endpoints.
	Service *magiclink.Service
	// Handler is the HTTP adapter; use Handler.Authenticate to protect
	// routes and Handler.Identity to read the session.
	Handler *httpadapter.Handler
	// Mailer captures every mail the Service sends (unless WithConfig
	// replaced Config.Mailer).
	Mailer *mailer.Memory

	t       testing.TB
	clock   *fakeclock.Clock
	prefix  string
	cookie  string
	onLogin bool
}

// Option adjusts New.
type Option func(*options)

type options struct {
	config  []func(*magiclink.Config)
	adapter []func(*httpadapter.Config)
	limits  *magiclink.Limits
	mux     []func(*http.ServeMux)
	start   time.Time
}

// WithConfig lets f change the Service configuration after the harness
// filled it in (Origins, Secret, Store, Mailer, Clock, Limits, Logger).
// Replacing Clock stops Advance from working; replacing Mailer stops
// LastLink, LastCode, SendLink's capture and SignIn from working.
func WithConfig(f func(*magiclink.Config)) Option {
	return func(o *options) { o.config = append(o.config, f) }
}

// WithAdapterConfig lets f change the HTTP adapter configuration, such as
// SessionCookie, Prefix, APIKeys or OnLogin.
func WithAdapterConfig(f func(*httpadapter.Config)) Option {
	return func(o *options) { o.adapter = append(o.adapter, f) }
}

// WithLimits turns rate limiting on with l (magiclink.DefaultLimits() for
// the production defaults). Without it every limit is off, so tests can
// sign in as often as they like. Limits run on the fake clock.
func WithLimits(l magiclink.Limits) Option {
	return func(o *options) { o.limits = &l }
}

// WithMux lets f add the application's own routes to the test server's
// mux, next to the magiclink endpoints. f runs at the end of New, once the
// endpoints are registered. Routes that need the Handler (to protect them
// with Authenticate) are simplest to add after New returns, on h.Mux:
//
//	h := magiclinktest.New(t)
//	h.Mux.Handle("GET /dashboard", h.Handler.Authenticate(dashboard))
func WithMux(f func(mux *http.ServeMux)) Option {
	return func(o *options) { o.mux = append(o.mux, f) }
}

// WithStart sets the fake clock's starting time (default: the real time
// when New runs, to the second, so that cookies set by the server are
// valid for the client's cookie jar, which uses the real clock).
func WithStart(t time.Time) Option {
	return func(o *options) { o.start = t }
}

// New starts a Service and its HTTP endpoints on a test server and stops
// them when the test ends. It fails the test if the configuration is
// invalid.
func New(t testing.TB, opts ...Option) *Harness {
	t.Helper()
	o := options{start: time.Now().Truncate(time.Second)}
	for _, opt := range opts {
		opt(&o)
	}
	h := &Harness{t: t, clock: fakeclock.New(o.start), Mux: http.NewServeMux()}
	h.Server = httptest.NewServer(h.Mux)
	t.Cleanup(h.Server.Close)
	h.URL = h.Server.URL

	acfg := httpadapter.Config{Logger: slog.New(slog.DiscardHandler)}
	for _, f := range o.adapter {
		f(&acfg)
	}
	h.prefix = acfg.Prefix
	h.onLogin = acfg.OnLogin != nil
	h.cookie = acfg.SessionCookie
	if h.cookie == "" {
		// The test server is plain http on loopback.
		h.cookie = httpadapter.InsecureSessionCookie
	}

	h.Mailer = mailer.NewMemory(mailer.WithClock(h.clock.Now))
	st := store.NewMemory(store.WithClock(h.clock.Now))
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails (Go ≥ 1.24).
	cfg := magiclink.Config{
		Origins:  []string{h.URL},
		Secret:   secret,
		Store:    st,
		Mailer:   h.Mailer,
		LinkPath: acfg.Prefix + httpadapter.PathVerify,
		Limits:   magiclink.NoLimits(),
		Clock:    h.clock.Now,
		Logger:   slog.New(slog.DiscardHandler),
	}
	if o.limits != nil {
		cfg.Limits = *o.limits
	}
	for _, f := range o.config {
		f(&cfg)
	}
	if cfg.Store != store.Store(st) {
		st.Close()
	} else {
		t.Cleanup(func() { st.Close() })
	}
	svc, err := magiclink.New(cfg)
	if err != nil {
		t.Fatalf("magiclinktest: magiclink.New: %v", err)
	}
	// Cleanups run last-in first-out: the server above closes before the
	// Service it calls.
	t.Cleanup(func() { svc.Close() })
	h.Service = svc

	if h.Handler, err = httpadapter.New(svc, acfg); err != nil {
		t.Fatalf("magiclinktest: httpadapter.New: %v", err)
	}
	h.Handler.Register(h.Mux)
	for _, f := range o.mux {
		f(h.Mux)
	}
	return h
}

// Now returns the fake clock's time, which the Service, store, limiter and
// mailer all read.
func (h *Harness) Now() time.Time { return h.clock.Now() }

// Advance moves the fake clock forward by d, so links, codes and sessions
// expire without waiting.
func (h *Harness) Advance(d time.Duration) {
	if d < 0 {
		panic(fmt.Sprintf("magiclinktest: Advance(%v): the clock only moves forward", d))
	}
	h.clock.Advance(d)
}

// Client returns a new HTTP client for the test server with an empty cookie
// jar: a signed-out browser. It follows redirects.
func (h *Harness) Client() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		h.t.Fatalf("magiclinktest: cookie jar: %v", err)
	}
	// The server's own transport: closing the server closes its idle
	// connections, so no client goroutine outlives the test.
	return &http.Client{Jar: jar, Transport: h.Server.Client().Transport, Timeout: 30 * time.Second}
}

// SendLink asks for a sign-in mail to email through the real
// POST /auth/send-magic-link endpoint, as the test server's own page would,
// and fails the test unless it answers 200.
func (h *Harness) SendLink(email string) {
	h.t.Helper()
	h.askForLink(h.Server.Client(), "SendLink", email, "")
}

// askForLink posts the sign-in page's request for a mail to email with c
// (from the browser userAgent names; "" leaves Go's default), and fails
// the test, as fn, unless it answers 200.
func (h *Harness) askForLink(c *http.Client, fn, email, userAgent string) {
	h.t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "callback_origin": h.URL, "callback_next": "/"})
	req, err := http.NewRequest(http.MethodPost, h.URL+h.prefix+httpadapter.PathSendMagicLink, bytes.NewReader(body))
	if err != nil {
		h.t.Fatalf("magiclinktest: %s: %v", fn, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", h.URL)
	if userAgent != "" {
		req.Header.Set("User-Agent", userAgent)
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatalf("magiclinktest: %s(%q): %v", fn, email, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("magiclinktest: %s(%q): POST %s answered %d: %s", fn, email, req.URL.Path, resp.StatusCode, data)
	}
}

// LastLink returns the sign-in link of the newest mail to email, failing
// the test when there is none.
func (h *Harness) LastLink(email string) string {
	h.t.Helper()
	return h.last(email, "LastLink").Link
}

// LastCode returns the 6-digit code of the newest mail to email, failing
// the test when there is none.
func (h *Harness) LastCode(email string) string {
	h.t.Helper()
	return h.last(email, "LastCode").Code
}

func (h *Harness) last(email, fn string) *mailer.Message {
	h.t.Helper()
	m, ok := h.Mailer.Last(email)
	if !ok {
		h.t.Fatalf("magiclinktest: %s(%q): no mail to that address (%d mails captured)", fn, email, h.Mailer.Len())
	}
	return m
}

// Follow does what a user does with a sign-in link: it opens the link
// (the confirm page), presses the confirm button (a form POST) and checks
// that the answer is the 303 redirect of a successful sign-in that set the
// session cookie. It returns a client whose cookie jar holds the session;
// the client follows redirects. It fails the test otherwise.
func (h *Harness) Follow(link string) *http.Client {
	h.t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Scheme+"://"+u.Host != h.URL {
		h.t.Fatalf("magiclinktest: Follow(%q): not a link to the test server %s", link, h.URL)
	}
	c := h.Client()
	noFollow := *c
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	resp, err := noFollow.Get(link)
	if err != nil {
		h.t.Fatalf("magiclinktest: Follow: GET the link: %v", err)
	}
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		h.t.Fatalf("magiclinktest: Follow: GET the link answered %d (%v): %s", resp.StatusCode, err, summary(page))
	}
	action, fields, err := confirmForm(page)
	if err != nil {
		h.t.Fatalf("magiclinktest: Follow: the link's page has %v: %s", err, summary(page))
	}
	req, err := formPost(u, action, fields, resp.Header.Get("Referrer-Policy"), h.URL)
	if err != nil {
		h.t.Fatalf("magiclinktest: Follow: %v", err)
	}
	resp, err = noFollow.Do(req)
	if err != nil {
		h.t.Fatalf("magiclinktest: Follow: POST the confirm form: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		h.t.Fatalf("magiclinktest: Follow: confirming the sign-in answered %d, want 303: %s", resp.StatusCode, summary(body))
	}
	if !h.onLogin && !h.hasSession(c) {
		h.t.Fatalf("magiclinktest: Follow: the sign-in set no %s cookie", h.cookie)
	}
	return c
}

// SignIn sends a link to email and follows it: it returns a client whose
// cookie jar holds a live session cookie, or fails the test.
func (h *Harness) SignIn(email string) *http.Client {
	h.t.Helper()
	h.SendLink(email)
	return h.Follow(h.LastLink(email))
}

// hasSession reports whether c's jar holds the session cookie for the
// test server.
func (h *Harness) hasSession(c *http.Client) bool {
	u, _ := url.Parse(h.URL + "/")
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == h.cookie && ck.Value != "" {
			return true
		}
	}
	return false
}
