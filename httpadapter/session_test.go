package httpadapter_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
)

// signIn runs the form flow and returns the session token.
func (e *env) signIn(addr string) string {
	e.t.Helper()
	tok, _ := e.issue(addr, "/")
	rec := e.do(formReq("https://app.example.com"+verifyPath, url.Values{"token_hash": {tok}}))
	wantStatus(e.t, rec, http.StatusSeeOther)
	return sessionCookie(e.t, rec).Value
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	token := e.signIn("a@example.com")
	// Sessions signed with another server secret must not verify.
	other := newEnv(t, func(c *magiclink.Config, _ *httpadapter.Config) {
		c.Secret = []byte("another-server-secret-0123456789abcdef")
	})
	foreign := other.signIn("a@example.com")

	protected := e.h.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := magiclink.IdentityFrom(r.Context())
		if !ok {
			t.Error("no identity in context")
		}
		fmt.Fprint(w, id.Email)
	}))
	tamperedSig := token[:len(token)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(token, "AA")]

	tests := []struct {
		name   string
		cookie string
		bearer string
		auth   string
		ok     bool
	}{
		{"cookie", token, "", "", true},
		{"bearer", "", token, "", true},
		{"bearer lowercase scheme", "", "", "bearer " + token, true},
		{"missing", "", "", "", false},
		{"tampered signature", tamperedSig, "", "", false},
		{"tampered payload", tamper(token), "", "", false},
		{"other secret", foreign, "", "", false},
		{"garbage", "garbage", "", "", false},
		{"basic auth", "", "", "Basic YTpi", false},
		{"basic auth in front, session cookie", token, "", "Basic YTpi", true},
		{"bad bearer beats good cookie", token, "garbage", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "https://app.example.com/me", nil)
			if tt.cookie != "" {
				r.AddCookie(&http.Cookie{Name: httpadapter.DefaultSessionCookie, Value: tt.cookie})
			}
			if tt.bearer != "" {
				r.Header.Set("Authorization", "Bearer "+tt.bearer)
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
			wantStatus(t, rec, http.StatusUnauthorized)
			wantComponentResponse(t, rec, "SessionRequired")
			if got := strings.TrimSpace(rec.Body.String()); got != `{"error":"sign-in required","code":"UNAUTHORIZED"}` {
				t.Fatalf("body = %s", got)
			}
			if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("WWW-Authenticate = %q", rec.Header().Get("WWW-Authenticate"))
			}
			if rec.Header().Get("X-Request-Id") == "" || rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatal("401 lacks X-Request-Id or Cache-Control")
			}
		})
	}

	t.Run("expired", func(t *testing.T) {
		e := newEnv(t)
		token := e.signIn("b@example.com")
		protected := e.h.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		e.clock.Advance(24*time.Hour + time.Minute)
		r := httptest.NewRequest(http.MethodGet, "/me", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		protected.ServeHTTP(rec, r)
		wantStatus(t, rec, http.StatusUnauthorized)
		wantComponentResponse(t, rec, "SessionRequired")
	})
}

func TestIdentity(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	token := e.signIn("a@example.com")
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if _, ok := e.h.Identity(r); ok {
		t.Fatal("identity without a session")
	}
	r.AddCookie(&http.Cookie{Name: httpadapter.DefaultSessionCookie, Value: token})
	id, ok := e.h.Identity(r)
	if !ok || id.Email != "a@example.com" {
		t.Fatalf("Identity = %+v, %v", id, ok)
	}
	r = httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: httpadapter.DefaultSessionCookie, Value: "garbage"})
	if _, ok := e.h.Identity(r); ok {
		t.Fatal("identity from a garbage cookie")
	}
}

func TestCustomSessionCookieName(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withHTTP(func(c *httpadapter.Config) { c.SessionCookie = "sid" }))
	tok, _ := e.issue("a@example.com", "/")
	rec := e.do(formReq("https://app.example.com"+verifyPath, url.Values{"token_hash": {tok}}))
	wantStatus(t, rec, http.StatusSeeOther)
	found := false
	for _, c := range rec.Result().Cookies() {
		found = found || c.Name == "sid"
	}
	if !found {
		t.Fatal("cookie sid not set")
	}
}

func TestSignOut(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		ct     string
		hdr    []string
		status int
	}{
		{"form", "application/x-www-form-urlencoded", nil, http.StatusSeeOther},
		{"json", "application/json", nil, http.StatusNoContent},
		{"no body", "", nil, http.StatusNoContent},
		{"same origin", "application/x-www-form-urlencoded", []string{"Sec-Fetch-Site", "same-origin", "Origin", "https://app.example.com"}, http.StatusSeeOther},
		{"cross-site form", "application/x-www-form-urlencoded", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"cross-site json", "application/json", []string{"Origin", "https://evil.example.net"}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			rec := e.do(newReq(http.MethodPost, "https://app.example.com/auth/sign-out", tt.ct, "", tt.hdr...))
			wantStatus(t, rec, tt.status)
			if tt.status == http.StatusForbidden {
				if len(rec.Result().Cookies()) != 0 {
					t.Fatal("cookie cleared by a cross-site request")
				}
				return
			}
			c := sessionCookie(t, rec)
			if c.MaxAge >= 0 || c.Value != "" {
				t.Fatalf("cookie not cleared: %+v", c)
			}
			if tt.status == http.StatusSeeOther && rec.Header().Get("Location") != "/" {
				t.Fatalf("Location = %q", rec.Header().Get("Location"))
			}
		})
	}
}

// Two Authorization headers are ambiguous: refused even when both are good.
func TestAuthenticateRepeatedAuthorization(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	token := e.signIn("a@example.com")
	protected := e.h.Authenticate(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest(http.MethodGet, "/me", nil)
	r.Header.Add("Authorization", "Bearer "+token)
	r.Header.Add("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	protected.ServeHTTP(rec, r)
	wantStatus(t, rec, http.StatusUnauthorized)
	wantComponentResponse(t, rec, "SessionRequired")
}
