package magiclinktest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/magiclinktest"
)

// recorder is a testing.TB whose failures are recorded instead of failing
// the real test, so the kit's own failure paths can be tested. Fatal ends
// the calling goroutine, as testing.T's does.
type recorder struct {
	testing.TB
	mu        sync.Mutex
	capturing bool // inside fails; otherwise failures go to the real test
	msgs      []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.capturing {
		r.TB.Errorf(format, args...)
		return
	}
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	capturing := r.capturing
	r.mu.Unlock()
	if !capturing {
		r.TB.Fatalf(format, args...)
	}
	r.Errorf(format, args...)
	runtime.Goexit()
}

// fails runs f, which must fail r, on its own goroutine (a Fatal ends it)
// and returns what it failed with; the real test fails if f did not fail.
func (r *recorder) fails(f func()) string {
	r.TB.Helper()
	r.mu.Lock()
	before := len(r.msgs)
	r.capturing = true
	r.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	r.capturing = false
	if len(r.msgs) == before {
		r.TB.Fatal("the call did not fail the test")
	}
	return strings.Join(r.msgs[before:], "\n")
}

// newRecorded returns a harness whose failures go to a recorder.
func newRecorded(t *testing.T, opts ...magiclinktest.Option) (*magiclinktest.Harness, *recorder) {
	r := &recorder{TB: t}
	return magiclinktest.New(r, opts...), r
}

// whoami answers with the signed-in address; it must sit behind
// Authenticate.
var whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	id, _ := magiclink.IdentityFrom(r.Context())
	fmt.Fprintf(w, "%s via %s", id.Email, id.Method)
})

// get fetches path with c and returns status and body.
func get(t *testing.T, c *http.Client, h *magiclinktest.Harness, path string) (int, string) {
	t.Helper()
	resp, err := c.Get(h.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	h := magiclinktest.New(t)
	h.Mux.Handle("GET /whoami", h.Handler.Authenticate(whoami))

	c := h.SignIn("Ada@Example.com")
	if status, body := get(t, c, h, "/whoami"); status != http.StatusOK || body != "ada@example.com via link" {
		t.Fatalf("signed in: GET /whoami = %d %q", status, body)
	}
	if status, _ := get(t, h.Client(), h, "/whoami"); status != http.StatusUnauthorized {
		t.Fatalf("signed out: GET /whoami = %d, want 401", status)
	}
}

func TestCode(t *testing.T) {
	t.Parallel()
	h, r := newRecorded(t)
	h.SendLink("grace@example.com")
	code := h.LastCode("grace@example.com")
	if len(code) != 6 {
		t.Fatalf("LastCode = %q, want 6 digits", code)
	}
	resp, err := h.Client().Post(h.URL+"/auth/verify", "application/json",
		strings.NewReader(`{"email":"grace@example.com","code":"`+code+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.AccessToken == "" {
		t.Fatalf("verify by code = %d %+v (%v)", resp.StatusCode, out, err)
	}
	// The code consumed the link too: its confirm page says so.
	msg := r.fails(func() { h.Follow(h.LastLink("grace@example.com")) })
	if !strings.Contains(msg, "expired or was already used") {
		t.Fatalf("Follow of a link whose code was used failed with %q", msg)
	}
}

func TestLinkIsSingleUse(t *testing.T) {
	t.Parallel()
	h, r := newRecorded(t)
	h.SendLink("once@example.com")
	link := h.LastLink("once@example.com")
	h.Follow(link)
	if msg := r.fails(func() { h.Follow(link) }); !strings.Contains(msg, "expired or was already used") {
		t.Fatalf("second Follow failed with %q", msg)
	}
}

func TestAdvance(t *testing.T) {
	t.Parallel()
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	h, r := newRecorded(t, magiclinktest.WithStart(start))
	h.Mux.Handle("GET /whoami", h.Handler.Authenticate(whoami))
	if !h.Now().Equal(start) {
		t.Fatalf("Now = %v, want %v", h.Now(), start)
	}

	c := h.SignIn("clock@example.com")
	idle := magiclink.DefaultSessionIdleTTL
	h.Advance(idle - time.Hour)
	if status, _ := get(t, c, h, "/whoami"); status != http.StatusOK {
		t.Fatalf("session used again within its idle time: %d, want 200", status)
	}
	h.Advance(idle + time.Hour)
	if status, _ := get(t, c, h, "/whoami"); status != http.StatusUnauthorized {
		t.Fatalf("session unused for longer than its idle time: %d, want 401", status)
	}

	h.SendLink("clock@example.com")
	link := h.LastLink("clock@example.com")
	h.Advance(15*time.Minute + time.Second)
	if msg := r.fails(func() { h.Follow(link) }); !strings.Contains(msg, "expired or was already used") {
		t.Fatalf("Follow of an expired link failed with %q", msg)
	}
	if got, want := h.Now(), start.Add(2*idle+15*time.Minute+time.Second); !got.Equal(want) {
		t.Fatalf("Now = %v, want %v", got, want)
	}
}

func TestSignOutEndsTheSession(t *testing.T) {
	t.Parallel()
	h := magiclinktest.New(t)
	h.Mux.Handle("GET /whoami", h.Handler.Authenticate(whoami))
	c := h.SignIn("out@example.com")
	u, _ := url.Parse(h.URL)
	stolen := c.Jar.Cookies(u) // what a thief copied before sign-out
	req, _ := http.NewRequest(http.MethodPost, h.URL+httpadapter.PathSignOut, nil)
	req.Header.Set("Origin", h.URL)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("sign-out answered %d, want 204", resp.StatusCode)
	}
	replay := h.Client()
	replay.Jar.SetCookies(u, stolen)
	if status, _ := get(t, replay, h, "/whoami"); status != http.StatusUnauthorized {
		t.Fatalf("the cookie replayed after sign-out: %d, want 401", status)
	}
}

func TestSignInAPIAndRefresh(t *testing.T) {
	t.Parallel()
	h := magiclinktest.New(t)
	h.Mux.Handle("GET /whoami", h.Handler.Authenticate(whoami))
	tok := h.SignInAPI("app@example.com")
	if tok.Email != "app@example.com" || tok.UserID == "" {
		t.Fatalf("SignInAPI = %+v", tok)
	}
	if status, body := get(t, h.BearerClient(tok.AccessToken), h, "/whoami"); status != http.StatusOK || body != "app@example.com via link" {
		t.Fatalf("bearer GET /whoami = %d %q", status, body)
	}
	next, ok := h.Refresh(tok.RefreshToken)
	if !ok || next.RefreshToken == tok.RefreshToken {
		t.Fatalf("Refresh = %+v, %v; want a new pair", next, ok)
	}
	if _, ok := h.Refresh(tok.RefreshToken); ok {
		t.Fatal("a used refresh token refreshed again")
	}
	// The reuse ended the session: the newest access token is dead too.
	if status, _ := get(t, h.BearerClient(next.AccessToken), h, "/whoami"); status != http.StatusUnauthorized {
		t.Fatalf("access token after refresh reuse: %d, want 401", status)
	}
}

func TestLimitsOffByDefault(t *testing.T) {
	t.Parallel()
	h := magiclinktest.New(t)
	for range 20 {
		h.SendLink("often@example.com")
	}
	if n := h.Mailer.Len(); n != 20 {
		t.Fatalf("captured %d mails, want 20", n)
	}
}

func TestWithLimits(t *testing.T) {
	t.Parallel()
	h, r := newRecorded(t, magiclinktest.WithLimits(magiclink.DefaultLimits()))
	h.SendLink("limited@example.com")
	h.SendLink("limited@example.com")
	if msg := r.fails(func() { h.SendLink("limited@example.com") }); !strings.Contains(msg, "answered 429") {
		t.Fatalf("third SendLink failed with %q, want a 429", msg)
	}
	// The limits run on the fake clock: an hour later the address may
	// send again.
	h.Advance(time.Hour)
	h.SendLink("limited@example.com")
}

func TestWithConfig(t *testing.T) {
	t.Parallel()
	h := magiclinktest.New(t, magiclinktest.WithConfig(func(c *magiclink.Config) { c.AppName = "Acme" }))
	h.SendLink("acme@example.com")
	m, _ := h.Mailer.Last("acme@example.com")
	if !strings.Contains(m.Subject, "Acme") {
		t.Fatalf("subject %q does not name the app", m.Subject)
	}
}

func TestWithAdapterConfig(t *testing.T) {
	t.Parallel()
	h := magiclinktest.New(t, magiclinktest.WithAdapterConfig(func(c *httpadapter.Config) {
		c.Prefix = "/auth-service"
		c.SessionCookie = "sid"
	}))
	h.Mux.Handle("GET /whoami", h.Handler.Authenticate(whoami))
	c := h.SignIn("prefix@example.com")
	if !strings.HasPrefix(h.LastLink("prefix@example.com"), h.URL+"/auth-service/auth/verify?") {
		t.Fatalf("link %q ignores the prefix", h.LastLink("prefix@example.com"))
	}
	u, _ := url.Parse(h.URL)
	if cs := c.Jar.Cookies(u); len(cs) != 1 || cs[0].Name != "sid" {
		t.Fatalf("cookies = %v, want one named sid", cs)
	}
	if status, body := get(t, c, h, "/whoami"); status != http.StatusOK {
		t.Fatalf("GET /whoami = %d %q", status, body)
	}
}

func TestOnLogin(t *testing.T) {
	t.Parallel()
	h := magiclinktest.New(t, magiclinktest.WithAdapterConfig(func(c *httpadapter.Config) {
		c.OnLogin = func(w http.ResponseWriter, r *http.Request, id magiclink.Identity) error {
			http.SetCookie(w, &http.Cookie{Name: "app_session", Value: id.UserID, Path: "/"})
			return nil
		}
	}))
	c := h.SignIn("hook@example.com")
	u, _ := url.Parse(h.URL)
	if cs := c.Jar.Cookies(u); len(cs) != 1 || cs[0].Name != "app_session" {
		t.Fatalf("cookies = %v, want the host's own session", cs)
	}
}

func TestWithMux(t *testing.T) {
	t.Parallel()
	h := magiclinktest.New(t, magiclinktest.WithMux(func(mux *http.ServeMux) {
		mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	}))
	if status, body := get(t, h.Client(), h, "/hello"); status != http.StatusOK || body != "hello" {
		t.Fatalf("GET /hello = %d %q", status, body)
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	h, r := newRecorded(t)
	tests := []struct {
		name string
		call func()
		want string
	}{
		{"LastLink without mail", func() { h.LastLink("nobody@example.com") }, "no mail to that address"},
		{"LastCode without mail", func() { h.LastCode("nobody@example.com") }, "no mail to that address"},
		{"SendLink with a bad address", func() { h.SendLink("not an address") }, "answered 400"},
		{"Follow a foreign link", func() { h.Follow("https://evil.example/auth/verify?token_hash=x") }, "not a link to the test server"},
		{"Follow a garbage link", func() { h.Follow(h.URL + "/auth/verify?token_hash=nope&type=magiclink") },
			"the link's page has no confirm form (a form posting token_hash): Sign-in link not valid: This link has expired"},
	}
	for _, tt := range tests {
		if msg := r.fails(tt.call); !strings.Contains(msg, tt.want) {
			t.Errorf("%s: failed with %q, want %q", tt.name, msg, tt.want)
		}
	}
}

func TestCleanupStopsServer(t *testing.T) {
	t.Parallel()
	var base string
	t.Run("inner", func(t *testing.T) {
		h := magiclinktest.New(t)
		base = h.URL
		h.SignIn("cleanup@example.com")
	})
	c := &http.Client{Timeout: 5 * time.Second}
	if resp, err := c.Get(base + "/"); err == nil {
		resp.Body.Close()
		t.Fatalf("server still answers after the test ended")
	}
}

// The examples' test functions run here: an Example cannot take a
// *testing.T.
func TestExampleNew(t *testing.T) {
	t.Parallel()
	testDashboard(t)
}

func TestExampleHarnessLastCode(t *testing.T) {
	t.Parallel()
	testCodeExpires(t)
}
