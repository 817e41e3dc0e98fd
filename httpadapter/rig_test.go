package httpadapter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/internal/syncbuf"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store"
)

// Rig defaults. The endpoint paths, appOrigin and testSecret are the
// package's (helpers_test.go and each endpoint's test file).
var (
	// allowedOrigins is the allowlist of every rig: one exact origin and
	// one wildcard, so both matching paths are attacked.
	allowedOrigins = []string{"https://app.example.com", "https://*.tenant.example.com"}
	partnerAPIKey  = "pk_reliability_0123456789abcdef"
)

// rig is one Service with its HTTP handler and a capturing mailer, for the
// attack and threat-model tests: a simpler fixture than env, built from a
// full magiclink.Config so that a test can set any of it.
type rig struct {
	svc   *magiclink.Service
	store store.Store
	h     *httpadapter.Handler
	mail  *mailer.Memory
}

type rigOptions struct {
	svc  magiclink.Config
	http httpadapter.Config
}

// newRig builds a Service and Handler. Unset fields get test defaults:
// the allowlist above, the test secret, a Memory mailer, no rate limits and
// a discarding logger.
func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	cfg := o.svc
	if cfg.Origins == nil {
		cfg.Origins = allowedOrigins
	}
	if cfg.Secret == nil {
		cfg.Secret = testSecret
	}
	mem := mailer.NewMemory()
	if cfg.Mailer == nil {
		cfg.Mailer = mem
	}
	if cfg.Limits == (magiclink.Limits{}) {
		cfg.Limits = magiclink.NoLimits()
	}
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	if cfg.Store == nil {
		var opts []store.MemoryOption
		if cfg.Clock != nil {
			opts = append(opts, store.WithClock(cfg.Clock))
		}
		m := store.NewMemory(opts...)
		t.Cleanup(func() { _ = m.Close() })
		cfg.Store = m
	}
	svc, err := magiclink.New(cfg)
	if err != nil {
		t.Fatalf("magiclink.New: %v", err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	hc := o.http
	if hc.Logger == nil {
		hc.Logger = discardLogger()
	}
	h, err := httpadapter.New(svc, hc)
	if err != nil {
		t.Fatalf("httpadapter.New: %v", err)
	}
	return &rig{svc: svc, store: cfg.Store, h: h, mail: mem}
}

// do serves one request through the handler in process.
func (r *rig) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	r.h.ServeHTTP(rec, req)
	return rec
}

// jsonRequest builds a POST with a JSON body (any value, or a raw string).
func jsonRequest(path string, body any) *http.Request {
	var s string
	switch b := body.(type) {
	case string:
		s = b
	default:
		raw, _ := json.Marshal(b)
		s = string(raw)
	}
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(s))
	req.Header.Set("Content-Type", "application/json")
	return req
}

// portalError is the seed-001 error envelope.
type portalError struct {
	Error       string            `json:"error"`
	Code        string            `json:"code"`
	FieldErrors map[string]string `json:"fieldErrors"`
	Issues      []struct {
		Path    string `json:"path"`
		Message string `json:"message"`
	} `json:"issues"`
	RetryAfter *float64 `json:"retryAfter"`
}

// decodePortal decodes a seed-001 body strictly enough to notice a body in
// another envelope: an error must have "error" and "code", a success
// exactly {"ok":true}.
func decodePortal(body []byte) (ok bool, e portalError, err error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return false, e, err
	}
	if v, has := m["ok"]; has {
		if string(v) != "true" || len(m) != 1 {
			return false, e, errEnvelope("success body is not exactly {\"ok\":true}: " + string(body))
		}
		return true, e, nil
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return false, e, err
	}
	if e.Error == "" || e.Code == "" {
		return false, e, errEnvelope("error body lacks error or code: " + string(body))
	}
	return false, e, nil
}

type errEnvelope string

func (e errEnvelope) Error() string { return string(e) }

// linkTarget parses a mailed link and returns its origin and the next
// parameter.
func linkTarget(link string) (origin, path, next string, err error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", "", "", err
	}
	return u.Scheme + "://" + u.Host, u.Path, u.Query().Get("next"), nil
}

// inAllowlist is an independent, deliberately simple reading of the
// allowlist: the exact origin, or https with a host that ends in
// ".tenant.example.com" after at least one label of letters, digits and
// hyphens, and no port.
func inAllowlist(origin string) bool {
	if origin == appOrigin {
		return true
	}
	const suffix = ".tenant.example.com"
	host, ok := strings.CutPrefix(origin, "https://")
	if !ok || !strings.HasSuffix(host, suffix) {
		return false
	}
	labels := strings.TrimSuffix(host, suffix)
	if labels == "" {
		return false
	}
	for _, l := range strings.Split(labels, ".") {
		if l == "" {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// safeLanding reports whether next, resolved against the link's origin as
// a browser would after the redirect, stays on that origin.
func safeLanding(origin, next string) bool {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return false
	}
	base, err := url.Parse(origin + "/")
	if err != nil {
		return false
	}
	ref, err := url.Parse(next)
	if err != nil || ref.Scheme != "" || ref.Host != "" || ref.User != nil {
		return false
	}
	res := base.ResolveReference(ref)
	return res.Scheme+"://"+res.Host == origin
}

// logCapture is a Debug-level JSON logger writing into a buffer.
func logCapture() (*slog.Logger, *syncbuf.Buffer) {
	buf := &syncbuf.Buffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// readAll drains and closes a response body.
func readAll(resp *http.Response) []byte {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// ctxBG is context.Background, short for the many calls that need one.
var ctxBG = context.Background()

// rigServer is a rig behind a real loopback HTTP server, with a protected
// route GET /me behind Authenticate.
type rigServer struct {
	*rig
	ts     *httptest.Server
	client *http.Client
}

func serveRig(r *rig) *rigServer {
	mux := http.NewServeMux()
	r.h.Register(mux)
	mux.Handle("GET /me", r.h.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		id, _ := magiclink.IdentityFrom(req.Context())
		_ = json.NewEncoder(w).Encode(map[string]string{"user": id.UserID, "email": id.Email})
	})))
	ts := httptest.NewServer(mux)
	return &rigServer{rig: r, ts: ts, client: &http.Client{Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// close stops the server and drops the client's idle connections.
func (s *rigServer) close() {
	s.client.CloseIdleConnections()
	s.ts.Close()
}

// reply is one HTTP answer, decoded.
type reply struct {
	status     int
	code       string // the send-magic-link error code, if any
	retryAfter string
	body       []byte
	err        error
}

// postJSON posts body to path and decodes the answer.
func (s *rigServer) postJSON(path string, body any) reply {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, s.ts.URL+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return reply{err: err}
	}
	b := readAll(resp)
	rp := reply{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: b}
	var e struct{ Code string }
	_ = json.Unmarshal(b, &e)
	rp.code = e.Code
	return rp
}

// linkToken extracts token_hash from a mailed link.
func linkToken(link string) string {
	_, rest, _ := strings.Cut(link, "token_hash=")
	tok, _, _ := strings.Cut(rest, "&")
	return tok
}

// fireNow is a DispatcherOptions.After that fires at once.
func fireNow(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- time.Now()
	return ch
}
