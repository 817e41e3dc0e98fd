package httpadapter_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
)

// signIn runs the form flow and returns the session cookie's value.
func (e *env) signIn(addr string) string {
	e.t.Helper()
	tok, _ := e.issue(addr, "/")
	rec := e.do(formReq("https://app.example.com"+verifyPath, url.Values{"token_hash": {tok}}))
	wantStatus(e.t, rec, http.StatusSeeOther)
	return sessionCookie(e.t, rec).Value
}

// apiTokens are the tokens of a JSON sign-in or refresh.
type apiTokens struct{ access, refresh, userID string }

// apiSignIn runs the JSON flow and returns its tokens.
func (e *env) apiSignIn(addr string) apiTokens {
	e.t.Helper()
	tok, _ := e.issue(addr, "/")
	rec := e.do(jsonReq(verifyPath, `{"token_hash":"`+tok+`","type":"magiclink"}`))
	wantStatus(e.t, rec, http.StatusOK)
	return tokensOf(e.t, rec)
}

func tokensOf(t *testing.T, rec *httptest.ResponseRecorder) apiTokens {
	t.Helper()
	m := decode(t, rec)
	a, _ := m["access_token"].(string)
	r, _ := m["refresh_token"].(string)
	u, _ := m["user"].(map[string]any)
	id, _ := u["id"].(string)
	if a == "" || r == "" || id == "" {
		t.Fatalf("no tokens in %s", rec.Body)
	}
	return apiTokens{a, r, id}
}

// withCookie returns r carrying the session cookie (the __Host- name, as
// r is an https request).
func withCookie(r *http.Request, value string) *http.Request {
	r.AddCookie(&http.Cookie{Name: httpadapter.SecureSessionCookie, Value: value})
	return r
}

func withBearer(r *http.Request, token string) *http.Request {
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

func get(path string) *http.Request {
	return httptest.NewRequest(http.MethodGet, "https://app.example.com"+path, nil)
}

func (e *env) refresh(token string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(jsonReq("https://app.example.com"+httpadapter.PathToken, `{"grant_type":"refresh_token","refresh_token":`+jsonString(token)+`}`))
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cookie := e.signIn("a@example.com")
	api := e.apiSignIn("a@example.com")
	// Sessions of a Service with another secret (and store) are foreign.
	other := newEnv(t, func(c *magiclink.Config, _ *httpadapter.Config) {
		c.Secret = []byte("another-server-secret-0123456789abcdef")
	})
	foreignCookie := other.signIn("a@example.com")
	foreignAccess := other.apiSignIn("a@example.com").access

	protected := e.h.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := magiclink.IdentityFrom(r.Context())
		if !ok || id.SessionID == "" {
			t.Error("no identity with a session in context")
		}
		fmt.Fprint(w, id.Email)
	}))
	tests := []struct {
		name       string
		cookie     string
		cookieName string
		auth       string
		ok         bool
	}{
		{"cookie", cookie, "", "", true},
		{"bearer", "", "", "Bearer " + api.access, true},
		{"bearer lowercase scheme", "", "", "bearer " + api.access, true},
		{"missing", "", "", "", false},
		{"tampered cookie", flipLast(cookie), "", "", false},
		{"tampered access token", "", "", "Bearer " + flipMiddle(api.access), false},
		{"access token with non-canonical base64 (same bytes)", "", "", "Bearer " + alias(api.access), false},
		{"foreign cookie", foreignCookie, "", "", false},
		{"foreign access token", "", "", "Bearer " + foreignAccess, false},
		{"garbage cookie", "garbage", "", "", false},
		{"refresh token as bearer", "", "", "Bearer " + api.refresh, false},
		{"access token as cookie", api.access, "", "", false},
		{"cookie as bearer", "", "", "Bearer " + cookie, false},
		{"the plain-http cookie name on https (planted without Secure)", cookie, httpadapter.InsecureSessionCookie, "", false},
		{"basic auth", "", "", "Basic YTpi", false},
		{"basic auth in front, session cookie", cookie, "", "Basic YTpi", true},
		{"bad bearer beats good cookie", cookie, "", "Bearer garbage", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get("/me")
			if tt.cookie != "" {
				name := tt.cookieName
				if name == "" {
					name = httpadapter.SecureSessionCookie
				}
				r.AddCookie(&http.Cookie{Name: name, Value: tt.cookie})
			}
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			protected.ServeHTTP(rec, r)
			if tt.ok {
				wantStatus(t, rec, http.StatusOK)
				if rec.Body.String() != "a@example.com" {
					t.Fatalf("body = %q", rec.Body)
				}
				return
			}
			wantSessionRequired(t, rec)
		})
	}
}

func flipLast(s string) string {
	if strings.HasSuffix(s, "A") {
		return s[:len(s)-1] + "B"
	}
	return s[:len(s)-1] + "A"
}

// flipMiddle changes one character in the middle of a JWT's signature.
func flipMiddle(jwt string) string {
	i := len(jwt) - 20
	b := []byte(jwt)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// alias sets the unused low bits of a JWT signature's last base64
// character: the same signature bytes to a lenient decoder, a different
// token to a strict one.
func alias(jwt string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, jwt[len(jwt)-1])
	return jwt[:len(jwt)-1] + string(alphabet[last|1])
}

// wantSessionRequired checks the 401 of a request without a live session.
func wantSessionRequired(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	wantStatus(t, rec, http.StatusUnauthorized)
	wantComponentResponse(t, rec, "SessionRequired")
	if got := strings.TrimSpace(rec.Body.String()); got != `{"error":"sign-in required","code":"SESSION_INVALID"}` {
		t.Fatalf("body = %s", got)
	}
	if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("WWW-Authenticate = %q", rec.Header().Get("WWW-Authenticate"))
	}
	if rec.Header().Get("X-Request-Id") == "" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatal("401 lacks X-Request-Id or Cache-Control")
	}
}

// Two Authorization headers are ambiguous: refused even when both are good.
func TestAuthenticateRepeatedAuthorization(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.apiSignIn("a@example.com")
	protected := e.h.Authenticate(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := get("/me")
	r.Header.Add("Authorization", "Bearer "+api.access)
	r.Header.Add("Authorization", "Bearer "+api.access)
	rec := httptest.NewRecorder()
	protected.ServeHTTP(rec, r)
	wantSessionRequired(t, rec)
}

func TestAuthenticateStoreDownIs503(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cookie := e.signIn("a@example.com")
	e.store.down.Store(true)
	protected := e.h.Authenticate(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("reached the handler") }))
	rec := httptest.NewRecorder()
	protected.ServeHTTP(rec, withCookie(get("/me"), cookie))
	wantPortalError(t, rec, http.StatusServiceUnavailable, "STORE_UNAVAILABLE")
	wantPortalError(t, e.do(withCookie(get(httpadapter.PathUser), cookie)), http.StatusServiceUnavailable, "STORE_UNAVAILABLE")
}

func TestAuthenticateSignInURL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withHTTP(func(c *httpadapter.Config) { c.SignInURL = "/sign-in" }))
	protected := e.h.Authenticate(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("reached the handler") }))
	serve := func(r *http.Request) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		protected.ServeHTTP(rec, r)
		return rec
	}
	page := get("/reports/q3?tab=2")
	page.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
	rec := serve(page)
	wantStatus(t, rec, http.StatusSeeOther)
	if got := rec.Header().Get("Location"); got != "/sign-in?next=%2Freports%2Fq3%3Ftab%3D2" {
		t.Fatalf("Location = %q, want the sign-in page with the path to return to", got)
	}
	hostile := get("/%2F%2Fevil.example.net")
	hostile.Header.Set("Accept", "text/html")
	if got := serve(hostile).Header().Get("Location"); got != "/sign-in" {
		t.Fatalf("an unsafe return path: Location = %q, want the sign-in page without next", got)
	}
	api := get("/reports/q3")
	api.Header.Set("Accept", "application/json")
	wantSessionRequired(t, serve(api))
	post := httptest.NewRequest(http.MethodPost, "https://app.example.com/reports", nil)
	post.Header.Set("Accept", "text/html")
	wantSessionRequired(t, serve(post))

	for _, bad := range []string{"//evil.example.net", "javascript:alert(1)", "https://", "sign-in", "/a#frag"} {
		_, err := httpadapter.New(e.svc, httpadapter.Config{SignInURL: bad})
		if !isConfigError(err, "SignInURL") {
			t.Errorf("SignInURL %q: %v, want a config error naming SignInURL", bad, err)
		}
	}
}

func TestIdentity(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cookie := e.signIn("a@example.com")
	if _, ok := e.h.Identity(get("/")); ok {
		t.Fatal("identity without a session")
	}
	id, ok := e.h.Identity(withCookie(get("/"), cookie))
	if !ok || id.Email != "a@example.com" || id.SessionID == "" {
		t.Fatalf("Identity = %+v, %v", id, ok)
	}
	if _, ok := e.h.Identity(withCookie(get("/"), "garbage")); ok {
		t.Fatal("identity from a garbage cookie")
	}
}

func TestCustomSessionCookieName(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withHTTP(func(c *httpadapter.Config) { c.SessionCookie = "sid" }))
	tok, _ := e.issue("a@example.com", "/")
	rec := e.do(formReq("https://app.example.com"+verifyPath, url.Values{"token_hash": {tok}}))
	wantStatus(t, rec, http.StatusSeeOther)
	var value string
	for _, c := range rec.Result().Cookies() {
		if c.Name == "sid" {
			value = c.Value
		}
	}
	if value == "" {
		t.Fatal("cookie sid not set")
	}
	r := get(httpadapter.PathUser)
	r.AddCookie(&http.Cookie{Name: "sid", Value: value})
	wantStatus(t, e.do(r), http.StatusOK)
}

// TestSessionCookieSecurity pins where Secure (and the __Host- name) comes
// from: the connection, a trusted proxy or the configuration — never the
// Host header alone.
func TestSessionCookieSecurity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		target  string
		remote  string
		hdr     []string
		proxies []string
		force   bool
		secure  bool
	}{
		{"https", "https://app.example.com", "203.0.113.7:5555", nil, nil, false, true},
		{"loopback http at both ends", "http://localhost:8080", "127.0.0.1:50000", nil, nil, false, false},
		{"loopback http over IPv6", "http://[::1]:8080", "[::1]:50000", nil, nil, false, false},
		{"Host localhost from a remote client", "http://localhost:8080", "203.0.113.7:5555", nil, nil, false, true},
		{"a local proxy forwarding another Host", "http://app.example.com", "127.0.0.1:50000", nil, nil, false, true},
		{"trusted proxy says https", "http://localhost:8080", "127.0.0.1:50000", []string{"X-Forwarded-Proto", "https"}, []string{"127.0.0.0/8"}, false, true},
		{"untrusted X-Forwarded-Proto is ignored", "http://localhost:8080", "127.0.0.1:50000", []string{"X-Forwarded-Proto", "https"}, nil, false, false},
		{"SecureCookies", "http://localhost:8080", "127.0.0.1:50000", nil, nil, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, withHTTP(func(c *httpadapter.Config) {
				c.SecureCookies = tt.force
				c.TrustedProxies = mustPrefixes(t, tt.proxies...)
			}))
			body := `{"email":"a@example.com","callback_origin":"http://localhost:8080"}`
			wantStatus(t, e.do(jsonReq(sendPath, body)), http.StatusOK)
			tok, _ := e.lastMail("a@example.com")
			req := formReq(tt.target+verifyPath, url.Values{"token_hash": {tok}}, tt.hdr...)
			req.RemoteAddr = tt.remote
			rec := e.do(req)
			wantStatus(t, rec, http.StatusSeeOther)
			c := sessionCookie(t, rec)
			wantName := map[bool]string{true: httpadapter.SecureSessionCookie, false: httpadapter.InsecureSessionCookie}[tt.secure]
			if c.Secure != tt.secure || c.Name != wantName {
				t.Fatalf("cookie %s Secure=%v, want %s Secure=%v", c.Name, c.Secure, wantName, tt.secure)
			}
		})
	}
}
