package httpadapter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/internal/fakeclock"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store"
)

var (
	testSecret  = []byte("0123456789abcdef0123456789abcdef-server")
	adminSecret = []byte("admin-hs256-secret-0123456789abcdef-xyz")
	t0          = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

const (
	appOrigin    = "https://app.example.com"
	portalOrigin = "https://portal.example.com"
	partnerKey   = "pk_live_0123456789abcdef"
	partnerOrg   = "org_partner"
)

// flakyStore answers store.ErrUnavailable from every method while down.
type flakyStore struct {
	store.Store
	down atomic.Bool
	// panics makes every method panic, standing in for any bug below the
	// handlers.
	panics atomic.Bool
}

func (s *flakyStore) err() error {
	if s.panics.Load() {
		panic("store bug")
	}
	if s.down.Load() {
		return store.ErrUnavailable
	}
	return nil
}

func (s *flakyStore) PutToken(ctx context.Context, t *store.Token) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.PutToken(ctx, t)
}

func (s *flakyStore) ConsumeToken(ctx context.Context, h store.Digest) (*store.Token, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.ConsumeToken(ctx, h)
}

// PeekToken forwards the memory store's optional capability.
func (s *flakyStore) PeekToken(ctx context.Context, h store.Digest) (*store.Token, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.(store.TokenPeeker).PeekToken(ctx, h)
}

func (s *flakyStore) ConsumeCode(ctx context.Context, email string, mac store.Digest, n int) (*store.Token, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.ConsumeCode(ctx, email, mac, n)
}

func (s *flakyStore) CreateUser(ctx context.Context, u *store.User) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.CreateUser(ctx, u)
}

func (s *flakyStore) UserByEmail(ctx context.Context, org, email string) (*store.User, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.UserByEmail(ctx, org, email)
}

func (s *flakyStore) UserByID(ctx context.Context, id string) (*store.User, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.UserByID(ctx, id)
}

func (s *flakyStore) PutCustomer(ctx context.Context, c *store.Customer) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.PutCustomer(ctx, c)
}

func (s *flakyStore) CustomerByID(ctx context.Context, id string) (*store.Customer, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.CustomerByID(ctx, id)
}

func (s *flakyStore) CreateSession(ctx context.Context, x *store.Session) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.CreateSession(ctx, x)
}

func (s *flakyStore) SessionByToken(ctx context.Context, d store.Digest, t store.Touch) (*store.Session, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.SessionByToken(ctx, d, t)
}

func (s *flakyStore) SessionByID(ctx context.Context, id string, t store.Touch) (*store.Session, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.SessionByID(ctx, id, t)
}

func (s *flakyStore) RotateRefresh(ctx context.Context, id string, cur, next store.Digest, t store.Touch) (*store.Session, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.RotateRefresh(ctx, id, cur, next, t)
}

func (s *flakyStore) RevokeSession(ctx context.Context, user, id string) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.RevokeSession(ctx, user, id)
}

func (s *flakyStore) RevokeUserSessions(ctx context.Context, user, except string) (int, error) {
	if err := s.err(); err != nil {
		return 0, err
	}
	return s.Store.RevokeUserSessions(ctx, user, except)
}

func (s *flakyStore) UserSessions(ctx context.Context, user string) ([]*store.Session, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.UserSessions(ctx, user)
}

// env is one Service and Handler with everything in memory.
type env struct {
	t     *testing.T
	svc   *magiclink.Service
	h     *httpadapter.Handler
	inbox *mailer.Memory
	store *flakyStore
	clock *fakeclock.Clock
	// mux is a ServeMux the Handler registered on.
	mux    http.Handler
	prefix string
}

type envOption func(*magiclink.Config, *httpadapter.Config)

func withLimits(l magiclink.Limits) envOption {
	return func(c *magiclink.Config, _ *httpadapter.Config) { c.Limits = l }
}

func withHTTP(f func(*httpadapter.Config)) envOption {
	return func(_ *magiclink.Config, c *httpadapter.Config) { f(c) }
}

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	c := fakeclock.New(t0)
	mem := store.NewMemory(store.WithClock(c.Now))
	t.Cleanup(func() { _ = mem.Close() })
	fs := &flakyStore{Store: mem}
	inbox := mailer.NewMemory(mailer.WithClock(c.Now))
	scfg := magiclink.Config{
		Origins: []string{appOrigin, portalOrigin, "https://example.com", "http://localhost:8080"},
		Secret:  testSecret,
		Store:   fs,
		Mailer:  inbox,
		AppName: "Acme",
		Clock:   c.Now,
		Limits:  magiclink.NoLimits(),
		Logger:  discardLogger(),
	}
	hcfg := httpadapter.Config{
		APIKeys: []httpadapter.APIKey{{ID: "partner-1", Key: partnerKey, OrgID: partnerOrg, PortalOrigin: portalOrigin}},
		Admin: &httpadapter.AdminConfig{
			Key: adminSecret, Methods: []string{"HS256"}, Issuer: "https://issuer.example.com", Audience: "magiclink-admin",
			PortalOrigin: portalOrigin,
		},
		ServeOpenAPI: true,
		Logger:       discardLogger(),
	}
	for _, o := range opts {
		o(&scfg, &hcfg)
	}
	svc, err := magiclink.New(scfg)
	if err != nil {
		t.Fatalf("magiclink.New: %v", err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	h, err := httpadapter.New(svc, hcfg)
	if err != nil {
		t.Fatalf("httpadapter.New: %v", err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	return &env{t: t, svc: svc, h: h, inbox: inbox, store: fs, clock: c, mux: mux, prefix: hcfg.Prefix}
}

// do serves req on e.mux and validates the exchange against the OpenAPI
// document.
func (e *env) do(req *http.Request) *httptest.ResponseRecorder {
	e.t.Helper()
	return serve(e.t, e.mux, req, e.prefix)
}

// serve runs req through h and validates request route and response
// against openapi.yaml, so that every handler test also tests the spec.
func serve(t *testing.T, h http.Handler, req *http.Request, prefix string) *httptest.ResponseRecorder {
	t.Helper()
	if req.RemoteAddr == "" || req.RemoteAddr == "192.0.2.1:1234" {
		req.RemoteAddr = "203.0.113.7:5555"
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	validateExchange(t, req, rec, prefix)
	return rec
}

type specBundle struct {
	doc    *openapi3.T
	router routers.Router
}

var loadSpec = sync.OnceValues(func() (*specBundle, error) {
	// The confirm page and the document itself are text; check their
	// presence and headers, the body as a string.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("application/yaml", openapi3filter.PlainBodyDecoder)
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(httpadapter.OpenAPI())
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, err
	}
	// Paths are matched without the server URL ("/"); tests strip the
	// Handler's prefix themselves.
	doc.Servers = nil
	r, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &specBundle{doc: doc, router: r}, nil
})

func validateExchange(t *testing.T, req *http.Request, rec *httptest.ResponseRecorder, prefix string) {
	t.Helper()
	sb, err := loadSpec()
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	path := strings.TrimPrefix(req.URL.Path, prefix)
	if req.Method == http.MethodOptions {
		return // OPTIONS is answered 204 + Allow and not an operation.
	}
	if rec.Header().Get("X-Request-Id") == "" {
		t.Errorf("%s %s: response has no X-Request-Id", req.Method, req.URL.Path)
	}
	vreq := req.Clone(context.Background())
	vreq.URL = &url.URL{Scheme: "http", Host: "example.test", Path: path, RawQuery: req.URL.RawQuery}
	vreq.Host = "example.test"
	vreq.Body = http.NoBody
	route, params, err := sb.router.FindRoute(vreq)
	if err != nil {
		var re *routers.RouteError
		if !errors.As(err, &re) || (re.Reason != routers.ErrMethodNotAllowed.Error() && rec.Code != http.StatusMethodNotAllowed) {
			t.Fatalf("%s %s: no route in openapi.yaml: %v", req.Method, path, err)
		}
		// A method the path does not serve: check the 405 against the
		// path's first operation, whose 405 response describes it. The
		// router finds a templated path only by a method it has.
		for _, m := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
			probe := vreq.Clone(context.Background())
			probe.Method = m
			if r, p, err := sb.router.FindRoute(probe); err == nil {
				route, params = r, p
				break
			}
		}
		if route == nil {
			t.Fatalf("%s %s: path not in openapi.yaml", req.Method, path)
		}
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
		Body: io.NopCloser(bytes.NewReader(rec.Body.Bytes())), Options: opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s → %d does not match openapi.yaml: %v\nbody: %s", req.Method, req.URL.Path, rec.Code, err, truncate(rec.Body.String()))
	}
}

func truncate(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newReq builds a request; hdr holds header name/value pairs.
func newReq(method, target, contentType, body string, hdr ...string) *http.Request {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

func jsonReq(target, body string, hdr ...string) *http.Request {
	return newReq(http.MethodPost, target, "application/json", body, hdr...)
}

func formReq(target string, form url.Values, hdr ...string) *http.Request {
	return newReq(http.MethodPost, target, "application/x-www-form-urlencoded", form.Encode(), hdr...)
}

// decode reads a JSON body into a map.
func decode(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("response is not a JSON object: %v\n%s", err, truncate(rec.Body.String()))
	}
	return m
}

// wantStatus fails unless rec has the status.
func wantStatus(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body: %s", rec.Code, status, truncate(rec.Body.String()))
	}
}

// wantPortalError checks a seed-001 error: status, code, and for 429 the
// retryAfter member and Retry-After header.
func wantPortalError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) map[string]any {
	t.Helper()
	wantStatus(t, rec, status)
	m := decode(t, rec)
	if m["code"] != code {
		t.Fatalf("code = %v, want %s; body: %s", m["code"], code, rec.Body.String())
	}
	if s, _ := m["error"].(string); s == "" {
		t.Fatalf("error message missing: %s", rec.Body.String())
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		if rec.Header().Get("Retry-After") == "" {
			t.Fatalf("%d without Retry-After", status)
		}
	}
	if status == http.StatusTooManyRequests {
		if ra, _ := m["retryAfter"].(float64); ra < 1 || strconv.Itoa(int(ra)) != rec.Header().Get("Retry-After") {
			t.Fatalf("retryAfter = %v, Retry-After = %q; want the same whole seconds ≥ 1", m["retryAfter"], rec.Header().Get("Retry-After"))
		}
	}
	return m
}

// lastLink returns the token of the newest mail to addr.
func (e *env) lastMail(addr string) (token, code string) {
	e.t.Helper()
	m, ok := e.inbox.Last(addr)
	if !ok {
		e.t.Fatalf("no mail to %s", addr)
	}
	u, err := url.Parse(m.Link)
	if err != nil {
		e.t.Fatalf("bad link %q: %v", m.Link, err)
	}
	return u.Query().Get("token_hash"), m.Code
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func mustPrefixes(t *testing.T, cidrs ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// wantComponentResponse validates a response the Handler gives outside its
// operations (the Authenticate middleware, unmatched paths) against a
// response of the document's components.
func wantComponentResponse(t *testing.T, rec *httptest.ResponseRecorder, name string) {
	t.Helper()
	sb, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	ref := sb.doc.Components.Responses[name]
	if ref == nil || ref.Value == nil {
		t.Fatalf("openapi.yaml has no response %s", name)
	}
	var v any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	mt := ref.Value.Content.Get("application/json")
	if err := mt.Schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		t.Fatalf("body does not match components.responses.%s: %v", name, err)
	}
	for h, hr := range ref.Value.Headers {
		if hr.Value.Required && rec.Header().Get(h) == "" {
			t.Fatalf("header %s missing (components.responses.%s)", h, name)
		}
	}
}

// wantValidRequest checks that openapi.yaml accepts a request, so that the
// documented request schemas admit the seed documents' own examples.
func wantValidRequest(t *testing.T, method, path, contentType, body string, hdr ...string) {
	t.Helper()
	sb, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	r := newReq(method, "http://example.test"+path, contentType, body, hdr...)
	route, params, err := sb.router.FindRoute(r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		t.Fatalf("openapi.yaml rejects %s %s %s: %v", method, path, truncate(body), err)
	}
}
