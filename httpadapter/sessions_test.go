package httpadapter_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/internal/conc"
	"github.com/magiclink-go/magiclink/ratelimit"
)

func isConfigError(err error, field string) bool {
	var e *magiclink.Error
	return errors.As(err, &e) && errors.Is(err, magiclink.ErrInvalidConfig) && e.Field == field
}

func signOutReq(query, contentType, body string, hdr ...string) *http.Request {
	return newReq(http.MethodPost, "https://app.example.com"+httpadapter.PathSignOut+query, contentType, body, hdr...)
}

func TestSignOutThenReplayCookie(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cookie := e.signIn("a@example.com")
	wantStatus(t, e.do(withCookie(get(httpadapter.PathUser), cookie)), http.StatusOK)
	rec := e.do(withCookie(formReq("https://app.example.com"+httpadapter.PathSignOut, url.Values{}), cookie))
	wantStatus(t, rec, http.StatusSeeOther)
	if c := sessionCookie(t, rec); c.MaxAge >= 0 || c.Value != "" || rec.Header().Get("Location") != "/" {
		t.Fatalf("sign-out answered %v with cookie %+v; want 303 to / clearing it", rec.Header().Get("Location"), c)
	}
	wantSessionRequired(t, e.do(withCookie(get(httpadapter.PathUser), cookie)))
	protected := e.h.Authenticate(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("replayed cookie reached the handler") }))
	replay := httptest.NewRecorder()
	protected.ServeHTTP(replay, withCookie(get("/me"), cookie))
	wantSessionRequired(t, replay)
}

func TestSignOutOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.signIn("a@example.com")
	second := e.apiSignIn("a@example.com")
	bob := e.signIn("bob@example.com")
	rec := e.do(withCookie(signOutReq("?scope=others", "", ""), first))
	wantStatus(t, rec, http.StatusNoContent)
	if len(rec.Result().Cookies()) != 0 {
		t.Fatal("scope=others cleared the cookie of the session that lives on")
	}
	wantSessionRequired(t, e.do(withBearer(get(httpadapter.PathUser), second.access)))
	wantPortalError(t, e.refresh(second.refresh), http.StatusUnauthorized, "SESSION_INVALID")
	wantStatus(t, e.do(withCookie(get(httpadapter.PathUser), first)), http.StatusOK)
	wantStatus(t, e.do(withCookie(get(httpadapter.PathUser), bob)), http.StatusOK)
}

func TestSignOutFormScope(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first, second := e.signIn("a@example.com"), e.signIn("a@example.com")
	rec := e.do(withCookie(formReq("https://app.example.com"+httpadapter.PathSignOut, url.Values{"scope": {"others"}},
		"Sec-Fetch-Site", "same-origin", "Origin", "https://app.example.com"), first))
	wantStatus(t, rec, http.StatusSeeOther)
	if len(rec.Result().Cookies()) != 0 {
		t.Fatal("a form scope=others cleared the cookie of the session that lives on")
	}
	wantSessionRequired(t, e.do(withCookie(get(httpadapter.PathUser), second)))
	wantStatus(t, e.do(withCookie(get(httpadapter.PathUser), first)), http.StatusOK)
	// The body's scope wins over the query's.
	rec = e.do(withCookie(formReq("https://app.example.com"+httpadapter.PathSignOut+"?scope=others", url.Values{"scope": {"global"}}), first))
	wantStatus(t, rec, http.StatusSeeOther)
	wantSessionRequired(t, e.do(withCookie(get(httpadapter.PathUser), first)))
}

func TestSignOutGlobalByBearerJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cookie := e.signIn("a@example.com")
	api := e.apiSignIn("a@example.com")
	// A bearer credential is not ambient: no same-origin check applies.
	rec := e.do(withBearer(jsonReq("https://app.example.com"+httpadapter.PathSignOut, `{"scope":"global"}`, "Origin", "https://elsewhere.example.net"), api.access))
	wantStatus(t, rec, http.StatusNoContent)
	wantSessionRequired(t, e.do(withCookie(get(httpadapter.PathUser), cookie)))
	wantSessionRequired(t, e.do(withBearer(get(httpadapter.PathUser), api.access)))
}

func TestSignOutBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cookie := e.signIn("a@example.com")
	api := e.apiSignIn("a@example.com")
	tests := []struct {
		name   string
		req    *http.Request
		status int
		code   string
	}{
		{"no session (JSON)", signOutReq("", "application/json", `{}`), http.StatusUnauthorized, "SESSION_INVALID"},
		{"no session, no body", signOutReq("", "", ""), http.StatusUnauthorized, "SESSION_INVALID"},
		{"a revoked-looking bearer", withBearer(signOutReq("", "", ""), flipLast(api.access)), http.StatusUnauthorized, "SESSION_INVALID"},
		{"unknown scope in the query", withCookie(signOutReq("?scope=all", "", ""), cookie), http.StatusBadRequest, "VALIDATION_FAILED"},
		{"unknown scope in JSON", withCookie(signOutReq("", "application/json", `{"scope":"everything"}`), cookie), http.StatusBadRequest, "VALIDATION_FAILED"},
		{"scope of the wrong type", withCookie(signOutReq("", "application/json", `{"scope":1}`), cookie), http.StatusBadRequest, "VALIDATION_FAILED"},
		{"malformed JSON", withCookie(signOutReq("", "application/json", `{"scope":`), cookie), http.StatusBadRequest, "VALIDATION_FAILED"},
		{"oversized JSON", withCookie(signOutReq("", "application/json", `{"scope":"`+strings.Repeat("a", 70<<10)+`"}`), cookie), http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE"},
		{"cross-site with a cookie", withCookie(signOutReq("", "application/json", `{}`, "Origin", "https://evil.example.net"), cookie), http.StatusForbidden, "FORBIDDEN"},
		{"cross-site fetch metadata", withCookie(signOutReq("", "", "", "Sec-Fetch-Site", "cross-site"), cookie), http.StatusForbidden, "FORBIDDEN"},
		{"GET", withCookie(get(httpadapter.PathSignOut), cookie), http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do(tt.req)
			wantPortalError(t, rec, tt.status, tt.code)
			if len(rec.Result().Cookies()) != 0 && tt.status != http.StatusUnauthorized {
				t.Fatal("a refused sign-out touched the cookie")
			}
		})
	}
	// None of that signed anyone out.
	wantStatus(t, e.do(withCookie(get(httpadapter.PathUser), cookie)), http.StatusOK)
	wantStatus(t, e.do(withBearer(get(httpadapter.PathUser), api.access)), http.StatusOK)

	t.Run("cross-site form", func(t *testing.T) {
		rec := e.do(withCookie(formReq("https://app.example.com"+httpadapter.PathSignOut, url.Values{}, "Sec-Fetch-Site", "cross-site"), cookie))
		wantStatus(t, rec, http.StatusForbidden)
		wantPageHeaders(t, rec)
	})
	t.Run("form without a session still signs the browser out", func(t *testing.T) {
		rec := e.do(formReq("https://app.example.com"+httpadapter.PathSignOut, url.Values{}))
		wantStatus(t, rec, http.StatusSeeOther)
		if c := sessionCookie(t, rec); c.MaxAge >= 0 {
			t.Fatalf("cookie not cleared: %+v", c)
		}
	})
}

func TestRefreshThenReuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.apiSignIn("a@example.com")
	rec := e.refresh(first.refresh)
	wantStatus(t, rec, http.StatusOK)
	second := tokensOf(t, rec)
	if m := decode(t, rec); m["token_type"] != "bearer" || m["expires_in"] != float64(900) || second.refresh == first.refresh {
		t.Fatalf("refresh answered %s", rec.Body)
	}
	wantStatus(t, e.do(withBearer(get(httpadapter.PathUser), second.access)), http.StatusOK)
	wantPortalError(t, e.refresh(first.refresh), http.StatusUnauthorized, "SESSION_INVALID")
	wantSessionRequired(t, e.do(withBearer(get(httpadapter.PathUser), second.access)))
	wantPortalError(t, e.refresh(second.refresh), http.StatusUnauthorized, "SESSION_INVALID")
}

func TestConcurrentRefreshOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.apiSignIn("a@example.com")
	var ok, refused atomic.Int32
	conc.Run(100, func(int) {
		rec := httptest.NewRecorder()
		r := jsonReq("https://app.example.com"+httpadapter.PathToken, `{"grant_type":"refresh_token","refresh_token":"`+api.refresh+`"}`)
		r.RemoteAddr = "203.0.113.7:5555"
		e.mux.ServeHTTP(rec, r)
		switch rec.Code {
		case http.StatusOK:
			ok.Add(1)
		case http.StatusUnauthorized:
			refused.Add(1)
		default:
			t.Errorf("refresh answered %d: %s", rec.Code, rec.Body)
		}
	})
	if ok.Load() != 1 || refused.Load() != 99 {
		t.Fatalf("100 concurrent refreshes of one token: %d new pairs, %d refused; want 1 and 99", ok.Load(), refused.Load())
	}
}

func TestSessionExpiryOverHTTP(t *testing.T) {
	t.Parallel()
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		cookie := e.signIn("a@example.com")
		e.clock.Advance(magiclink.DefaultSessionIdleTTL - time.Second)
		wantStatus(t, e.do(withCookie(get(httpadapter.PathUser), cookie)), http.StatusOK)
		e.clock.Advance(magiclink.DefaultSessionIdleTTL)
		wantSessionRequired(t, e.do(withCookie(get(httpadapter.PathUser), cookie)))
	})
	t.Run("maximum age", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		cookie := e.signIn("a@example.com")
		for range 4 {
			e.clock.Advance(7*24*time.Hour - time.Hour)
			wantStatus(t, e.do(withCookie(get(httpadapter.PathUser), cookie)), http.StatusOK)
		}
		e.clock.Advance(magiclink.DefaultSessionMaxTTL - 4*(7*24*time.Hour-time.Hour))
		wantSessionRequired(t, e.do(withCookie(get(httpadapter.PathUser), cookie)))
	})
	t.Run("access token", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		api := e.apiSignIn("a@example.com")
		e.clock.Advance(magiclink.DefaultAccessTokenTTL + 6*time.Second)
		wantSessionRequired(t, e.do(withBearer(get(httpadapter.PathUser), api.access)))
		rec := e.refresh(api.refresh)
		wantStatus(t, rec, http.StatusOK)
		wantStatus(t, e.do(withBearer(get(httpadapter.PathUser), tokensOf(t, rec).access)), http.StatusOK)
	})
}

func TestTokenBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.apiSignIn("a@example.com")
	foreign := newEnv(t, func(c *magiclink.Config, _ *httpadapter.Config) {
		c.Secret = []byte("another-server-secret-0123456789abcdef")
	}).apiSignIn("a@example.com")
	tokenReq := func(ct, body string) *http.Request {
		return newReq(http.MethodPost, "https://app.example.com"+httpadapter.PathToken, ct, body)
	}
	grant := func(tok string) string {
		return `{"grant_type":"refresh_token","refresh_token":` + jsonString(tok) + `}`
	}
	tests := []struct {
		name   string
		req    *http.Request
		status int
		code   string
		field  string
	}{
		{"form body", tokenReq("application/x-www-form-urlencoded", "grant_type=refresh_token"), http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", ""},
		{"no content type", tokenReq("", grant(api.refresh)), http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", ""},
		{"malformed JSON", tokenReq("application/json", `{"grant_type":`), http.StatusBadRequest, "VALIDATION_FAILED", ""},
		{"not an object", tokenReq("application/json", `["refresh_token"]`), http.StatusBadRequest, "VALIDATION_FAILED", ""},
		{"oversized", tokenReq("application/json", `{"refresh_token":"`+strings.Repeat("a", 70<<10)+`"}`), http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", ""},
		{"missing grant_type", tokenReq("application/json", `{"refresh_token":"x"}`), http.StatusBadRequest, "VALIDATION_FAILED", "grant_type"},
		{"another grant", tokenReq("application/json", `{"grant_type":"password","refresh_token":"x"}`), http.StatusBadRequest, "VALIDATION_FAILED", "grant_type"},
		{"missing refresh_token", tokenReq("application/json", `{"grant_type":"refresh_token"}`), http.StatusBadRequest, "VALIDATION_FAILED", "refresh_token"},
		{"empty refresh_token", tokenReq("application/json", `{"grant_type":"refresh_token","refresh_token":""}`), http.StatusBadRequest, "VALIDATION_FAILED", "refresh_token"},
		{"refresh_token a number", tokenReq("application/json", `{"grant_type":"refresh_token","refresh_token":7}`), http.StatusBadRequest, "VALIDATION_FAILED", "refresh_token"},
		{"malformed refresh token", tokenReq("application/json", grant("garbage")), http.StatusUnauthorized, "SESSION_INVALID", ""},
		{"the access token", tokenReq("application/json", grant(api.access)), http.StatusUnauthorized, "SESSION_INVALID", ""},
		{"a foreign refresh token", tokenReq("application/json", grant(foreign.refresh)), http.StatusUnauthorized, "SESSION_INVALID", ""},
		{"GET", get(httpadapter.PathToken), http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := wantPortalError(t, e.do(tt.req), tt.status, tt.code)
			if tt.field != "" {
				if fe, _ := m["fieldErrors"].(map[string]any); fe[tt.field] == nil {
					t.Fatalf("fieldErrors %v lack %s", m["fieldErrors"], tt.field)
				}
			}
		})
	}
	// Foreign and malformed tokens revoke nothing.
	wantStatus(t, e.refresh(api.refresh), http.StatusOK)
}

func TestTokenRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLimits(magiclink.Limits{VerifyPerIP: ratelimit.Rate{Limit: 3, Period: time.Minute, Burst: 3}}))
	codes := map[int]int{}
	for range 5 {
		codes[e.refresh("garbage").Code]++
	}
	if codes[http.StatusTooManyRequests] == 0 {
		t.Fatalf("5 refresh guesses from one IP under a limit of 3: statuses %v, want some 429", codes)
	}
	wantPortalError(t, e.refresh("garbage"), http.StatusTooManyRequests, "RATE_LIMITED")
}

func TestUserAndSessionsEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cookie := e.signIn("a@example.com")
	e.clock.Advance(time.Minute)
	api := e.apiSignIn("a@example.com")
	bobCookie := e.signIn("bob@example.com")

	rec := e.do(withBearer(get(httpadapter.PathUser), api.access))
	wantStatus(t, rec, http.StatusOK)
	if m := decode(t, rec); m["id"] != api.userID || m["email"] != "a@example.com" || len(m) != 2 {
		t.Fatalf("GET /auth/user = %s", rec.Body)
	}
	rec = e.do(withCookie(get(httpadapter.PathSessions), cookie))
	wantStatus(t, rec, http.StatusOK)
	var list struct {
		Sessions []struct {
			ID         string    `json:"id"`
			CreatedAt  time.Time `json:"created_at"`
			LastSeenAt time.Time `json:"last_seen_at"`
			IP         string    `json:"ip"`
			UserAgent  string    `json:"user_agent"`
			Method     string    `json:"method"`
			Current    bool      `json:"current"`
		} `json:"sessions"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list.Sessions) != 2 {
		t.Fatalf("GET /auth/sessions = %s (%v), want alice's two sessions", rec.Body, err)
	}
	s0, s1 := list.Sessions[0], list.Sessions[1]
	if !s0.Current || s1.Current || !s0.CreatedAt.Equal(t0) || !s1.CreatedAt.Equal(t0.Add(time.Minute)) || s0.IP != "203.0.113.7" || s0.Method != "link" {
		t.Fatalf("sessions %+v: want the cookie's first and current, the API one second", list.Sessions)
	}
	// Another user's session ID is not found, and stays alive.
	bobs := e.do(withCookie(get(httpadapter.PathSessions), bobCookie))
	var bobList struct {
		Sessions []struct {
			ID string `json:"id"`
		} `json:"sessions"`
	}
	_ = json.Unmarshal(bobs.Body.Bytes(), &bobList)
	del := func(id string) *http.Request {
		return httptest.NewRequest(http.MethodDelete, "https://app.example.com/auth/sessions/"+id, nil)
	}
	wantPortalError(t, e.do(withBearer(del(bobList.Sessions[0].ID), api.access)), http.StatusNotFound, "SESSION_NOT_FOUND")
	wantStatus(t, e.do(withCookie(get(httpadapter.PathUser), bobCookie)), http.StatusOK)
	// Revoking the API session from the browser ends it at once.
	wantStatus(t, e.do(withCookie(del(s1.ID), cookie)), http.StatusNoContent)
	wantSessionRequired(t, e.do(withBearer(get(httpadapter.PathUser), api.access)))
	wantPortalError(t, e.do(withCookie(del(s1.ID), cookie)), http.StatusNotFound, "SESSION_NOT_FOUND")
	// Revoking one's own browser session clears its cookie.
	rec = e.do(withCookie(del(s0.ID), cookie))
	wantStatus(t, rec, http.StatusNoContent)
	if c := sessionCookie(t, rec); c.MaxAge >= 0 {
		t.Fatalf("deleting the current session left its cookie: %+v", c)
	}
	wantSessionRequired(t, e.do(withCookie(get(httpadapter.PathUser), cookie)))
}

func TestSessionEndpointsBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cookie := e.signIn("a@example.com")
	api := e.apiSignIn("a@example.com")
	foreign := newEnv(t, func(c *magiclink.Config, _ *httpadapter.Config) {
		c.Secret = []byte("another-server-secret-0123456789abcdef")
	}).apiSignIn("a@example.com")
	del := func(id string) *http.Request {
		return httptest.NewRequest(http.MethodDelete, "https://app.example.com/auth/sessions/"+id, nil)
	}
	req := func(method, path string) *http.Request {
		return httptest.NewRequest(method, "https://app.example.com"+path, nil)
	}
	sid := sessionIDOf(t, api.access)
	tests := []struct {
		name   string
		req    *http.Request
		status int
		code   string
	}{
		{"user without a session", get(httpadapter.PathUser), http.StatusUnauthorized, "SESSION_INVALID"},
		{"user with a malformed bearer", withBearer(get(httpadapter.PathUser), "a.b.c"), http.StatusUnauthorized, "SESSION_INVALID"},
		{"user with a foreign bearer", withBearer(get(httpadapter.PathUser), foreign.access), http.StatusUnauthorized, "SESSION_INVALID"},
		{"user with a malformed cookie", withCookie(get(httpadapter.PathUser), "%%%"), http.StatusUnauthorized, "SESSION_INVALID"},
		{"POST user", withCookie(req(http.MethodPost, httpadapter.PathUser), cookie), http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"},
		{"sessions without a session", get(httpadapter.PathSessions), http.StatusUnauthorized, "SESSION_INVALID"},
		{"sessions with a foreign bearer", withBearer(get(httpadapter.PathSessions), foreign.access), http.StatusUnauthorized, "SESSION_INVALID"},
		{"DELETE the list", withCookie(req(http.MethodDelete, httpadapter.PathSessions), cookie), http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"},
		{"delete without a session", del(sid), http.StatusUnauthorized, "SESSION_INVALID"},
		{"delete with a foreign bearer", withBearer(del(sid), foreign.access), http.StatusUnauthorized, "SESSION_INVALID"},
		{"delete a malformed ID", withBearer(del("not.a~session"), api.access), http.StatusNotFound, "SESSION_NOT_FOUND"},
		{"delete an oversized ID", withBearer(del(strings.Repeat("A", 300)), api.access), http.StatusNotFound, "SESSION_NOT_FOUND"},
		{"delete an ID one character short", withBearer(del(sid[:21]), api.access), http.StatusNotFound, "SESSION_NOT_FOUND"},
		{"delete an unknown ID", withBearer(del(strings.Repeat("A", 22)), api.access), http.StatusNotFound, "SESSION_NOT_FOUND"},
		{"delete cross-site with a cookie", withCookie(newReq(http.MethodDelete, "https://app.example.com/auth/sessions/"+sid, "", "", "Origin", "https://evil.example.net"), cookie), http.StatusForbidden, "FORBIDDEN"},
		{"GET one session", withCookie(get("/auth/sessions/"+sid), cookie), http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"},
		{"POST jwks", req(http.MethodPost, httpadapter.PathJWKS), http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantPortalError(t, e.do(tt.req), tt.status, tt.code)
		})
	}
	wantStatus(t, e.do(withBearer(get(httpadapter.PathUser), api.access)), http.StatusOK)
}

// sessionIDOf reads the sid claim of an access token.
func sessionIDOf(t *testing.T, access string) string {
	t.Helper()
	parts := strings.Split(access, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.SID == "" {
		t.Fatalf("no sid in %s", payload)
	}
	return c.SID
}

func TestJWKSEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := e.do(get(httpadapter.PathJWKS))
	wantStatus(t, rec, http.StatusOK)
	if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=300" {
		t.Fatalf("Cache-Control = %q, want a cacheable public document", cc)
	}
	if strings.TrimSpace(rec.Body.String()) != string(e.svc.JWKS()) {
		t.Fatalf("served %s, want the Service's JWKS %s", rec.Body, e.svc.JWKS())
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil || len(set.Keys) != 1 || set.Keys[0]["kty"] != "OKP" || set.Keys[0]["d"] != "" {
		t.Fatalf("JWKS %s: want one public OKP key", rec.Body)
	}
}
