package redisflow

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/magiclinktest"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store/redisstore"
)

// Paths of the endpoints under test.
const (
	sendPath   = "/auth/send-magic-link"
	createPath = "/api/v1/Auth/CreateMagicLink"
	adminPath  = "/admin/magic_link"
	verifyPath = "/auth/verify"
)

const (
	// appOrigin is the callback origin the tests send; every harness
	// allows it beside its own URL.
	appOrigin     = "https://app.example.com"
	partnerAPIKey = "pk_redisflow_0123456789abcdef"
)

// sharedSecret is every instance's Config.Secret, so that instances on one
// Redis accept each other's codes and sessions, as a deployment's do.
var sharedSecret = []byte("redisflow-shared-secret-0123456789abcdef")

// server is a magiclinktest harness on the Redis store and limiter, with a
// protected route GET /me and a client with a connection pool for many
// goroutines.
type server struct {
	*magiclinktest.Harness
	store  *redisstore.Store
	client *http.Client
}

// serverOptions are the knobs of newServer. Zero limits mean limits high
// enough never to deny but on, so every request makes limiter round trips.
type serverOptions struct {
	prefix  string
	limits  magiclink.Limits
	timeout time.Duration // the store's per-call timeout (default 1 s)
	adapter func(*httpadapter.Config)
	// mailer, when set, wraps the instance's memory mailer.
	mailer func(mailer.Mailer) mailer.Mailer
}

// newServer starts one instance on rdb.
func newServer(t *testing.T, rdb redis.UniversalClient, o serverOptions) *server {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = time.Second
	}
	st, err := redisstore.New(rdb, redisstore.WithPrefix(o.prefix), redisstore.WithTimeout(o.timeout))
	if err != nil {
		t.Fatal(err)
	}
	limits := o.limits
	if limits == (magiclink.Limits{}) {
		high := ratelimit.Rate{Limit: 1_000_000, Period: time.Second, Burst: 1_000_000}
		limits = magiclink.Limits{SendPerIP: high, SendPerEmail: high, VerifyPerIP: high, CreatePerAPIKey: high, AdminPerSubject: high}
	}
	opts := []magiclinktest.Option{
		magiclinktest.WithLimits(limits),
		magiclinktest.WithConfig(func(c *magiclink.Config) {
			c.Origins = append(c.Origins, appOrigin)
			c.Secret = sharedSecret
			c.Store, c.Limiter = st, st
			if o.mailer != nil {
				c.Mailer = o.mailer(c.Mailer)
			}
		}),
	}
	if o.adapter != nil {
		opts = append(opts, magiclinktest.WithAdapterConfig(o.adapter))
	}
	h := magiclinktest.New(t, opts...)
	h.Mux.Handle("GET /me", h.Handler.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		id, _ := magiclink.IdentityFrom(req.Context())
		_ = json.NewEncoder(w).Encode(map[string]string{"user": id.UserID, "email": id.Email})
	})))
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}
	return &server{Harness: h, store: st, client: &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// close stops the server and the Service before the test's cleanup would,
// so that a goroutine check can run in the test itself.
func (s *server) close() {
	s.client.CloseIdleConnections()
	s.Server.Close()
	_ = s.Service.Close()
}

// reply is one HTTP answer, decoded.
type reply struct {
	status     int
	code       string // the error body's code, if any
	retryAfter string
	body       []byte
	err        error
}

// postJSON posts body to path and decodes the answer. It is safe to call
// from many goroutines.
func (s *server) postJSON(path string, body any) reply {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, bytes.NewReader(raw))
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

// sendFor asks for a mail to email and returns it.
func (s *server) sendFor(t *testing.T, email string) *mailer.Message {
	t.Helper()
	if rp := s.postJSON(sendPath, map[string]string{"email": email, "callback_origin": appOrigin}); rp.status != http.StatusOK {
		t.Fatalf("send %s: %d %v %s", email, rp.status, rp.err, rp.body)
	}
	m, ok := s.Mailer.Last(email)
	if !ok {
		t.Fatalf("no mail to %s", email)
	}
	return m
}

// tokenOf extracts token_hash from a mailed link.
func tokenOf(link string) string {
	_, rest, _ := strings.Cut(link, "token_hash=")
	tok, _, _ := strings.Cut(rest, "&")
	return tok
}

// readAll drains and closes a response body.
func readAll(resp *http.Response) []byte {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// latencies collects request durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// percentile returns the p-th percentile (0 < p ≤ 100), nearest rank.
func (l *latencies) percentile(p float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), l.d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func (l *latencies) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.d)
}
