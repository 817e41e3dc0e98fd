package httpadapter_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/ratelimit"
)

const verifyPath = "/auth/verify"

// issue sends a link for addr to the app origin and returns its token and
// code.
func (e *env) issue(addr, next string) (token, code string) {
	e.t.Helper()
	body := `{"email":"` + addr + `","callback_origin":"https://app.example.com","callback_next":` + jsonString(next) + `}`
	wantStatus(e.t, e.do(jsonReq(sendPath, body)), http.StatusOK)
	return e.lastMail(addr)
}

func pageReq(method, query string) *http.Request {
	r := httptest.NewRequest(method, "https://app.example.com"+verifyPath+query, nil)
	return r
}

func wantPageHeaders(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	h := rec.Header()
	want := map[string]string{
		"Cache-Control":          "no-store",
		"Referrer-Policy":        "no-referrer",
		"X-Frame-Options":        "DENY",
		"X-Content-Type-Options": "nosniff",
		"Content-Type":           "text/html; charset=utf-8",
	}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "style-src 'sha256-", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP %q allows more than it should", csp)
	}
}

func TestVerifyPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// In the browser that asked, the page is the plain sign-in page (the
	// other devices' page is in crossdevice_test.go).
	pending, tok, _ := e.ask("a@example.com")
	req := pageReq(http.MethodGet, "?token_hash="+tok+"&type=magiclink&next=/overview")
	req.AddCookie(&http.Cookie{Name: pending.Name, Value: pending.Value})
	rec := e.do(req)
	wantStatus(t, rec, http.StatusOK)
	wantPageHeaders(t, rec)
	body := rec.Body.String()
	for _, want := range []string{
		`<html lang="en">`, "Acme", "https://app.example.com", `<form method="post" action="/auth/verify">`,
		`<input type="hidden" name="token_hash" value="` + tok + `">`, `<button type="submit" autofocus>Sign in</button>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "http://") && !strings.Contains(body, "https://") {
		t.Error("page has a script or an insecure reference")
	}
	// HEAD gets the same headers.
	head := e.do(pageReq(http.MethodHead, "?token_hash="+tok+"&type=magiclink"))
	wantStatus(t, head, http.StatusOK)
	wantPageHeaders(t, head)
}

func TestVerifyPageInvalidStates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok, _ := e.issue("a@example.com", "/")
	tests := []struct{ name, query string }{
		{"no token", ""},
		{"wrong type", "?token_hash=" + tok + "&type=signup"},
		{"no type", "?token_hash=" + tok},
		{"short token", "?token_hash=abc&type=magiclink"},
		{"token with bad characters", "?token_hash=" + strings.Repeat("%2B", 43) + "&type=magiclink"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do(pageReq(http.MethodGet, tt.query))
			wantStatus(t, rec, http.StatusOK)
			wantPageHeaders(t, rec)
			body := rec.Body.String()
			if !strings.Contains(body, "This link has expired or was already used") {
				t.Fatal("expired state not shown")
			}
			for _, want := range []string{`inputmode="numeric"`, `autocomplete="one-time-code"`, `<label for="code">`, `<label for="email">`} {
				if !strings.Contains(body, want) {
					t.Errorf("code form lacks %s", want)
				}
			}
			if strings.Contains(body, `name="token_hash"`) {
				t.Fatal("an invalid link offers the sign-in button")
			}
		})
	}
	// None of this consumed the real link.
	if _, err := e.svc.Verify(context.Background(), tok); err != nil {
		t.Fatalf("the link was touched by GETs: %v", err)
	}
}

func TestVerifyPageEscapesReflectedInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	payloads := []string{
		`"><script>alert(1)</script>`,
		`'><img src=x onerror=alert(1)>`,
		`javascript:alert(1)`,
		`</style><script>alert(1)</script>`,
	}
	for _, p := range payloads {
		q := "?token_hash=" + url.QueryEscape(p) + "&type=" + url.QueryEscape(p) + "&next=" + url.QueryEscape(p)
		rec := e.do(pageReq(http.MethodGet, q))
		wantStatus(t, rec, http.StatusOK)
		if strings.Contains(rec.Body.String(), p) {
			t.Errorf("payload %q reflected unescaped", p)
		}
		if strings.Contains(rec.Body.String(), "<script") || strings.Contains(rec.Body.String(), "onerror=") {
			t.Errorf("payload %q produced markup", p)
		}
	}
	// A hostile Host header is escaped too.
	r := pageReq(http.MethodGet, "")
	r.Host = `evil"><script>alert(1)</script>`
	rec := e.do(r)
	if strings.Contains(rec.Body.String(), "<script>") {
		t.Error("Host reflected unescaped")
	}
}

// Mail scanners fetch links, sometimes many times, and must never burn them.
func TestVerifyScannerSafety(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok, _ := e.issue("a@example.com", "/inbox")
	for i := range 10 {
		method := http.MethodGet
		if i%2 == 1 {
			method = http.MethodHead
		}
		wantStatus(t, e.do(pageReq(method, "?token_hash="+tok+"&type=magiclink&next=/inbox")), http.StatusOK)
		opt := e.do(pageReq(http.MethodOptions, "?token_hash="+tok+"&type=magiclink"))
		wantStatus(t, opt, http.StatusNoContent)
	}
	// The post carries what a browser sends from the no-referrer page.
	first := e.do(formReq("https://app.example.com"+verifyPath, url.Values{"token_hash": {tok}, "type": {"magiclink"}},
		"Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "navigate", "Origin", "null"))
	wantStatus(t, first, http.StatusSeeOther)
	if first.Header().Get("Location") != "https://app.example.com/inbox" {
		t.Fatalf("Location = %q", first.Header().Get("Location"))
	}
	second := e.do(formReq("https://app.example.com"+verifyPath, url.Values{"token_hash": {tok}, "type": {"magiclink"}}))
	wantStatus(t, second, http.StatusBadRequest)
	if !strings.Contains(second.Body.String(), "This link has expired or was already used. Enter the code from the e-mail, or get a new link.") {
		t.Fatal("the used link does not show the expired message")
	}
	if !strings.Contains(second.Body.String(), `autocomplete="one-time-code"`) {
		t.Fatal("the code form is missing")
	}
}

func sessionCookie(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == httpadapter.SecureSessionCookie || c.Name == httpadapter.InsecureSessionCookie {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", rec.Header()["Set-Cookie"])
	return nil
}

func TestVerifyFormSetsSessionCookie(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok, _ := e.issue("a@example.com", "/welcome?x=1")
	rec := e.do(formReq("https://app.example.com"+verifyPath, url.Values{"token_hash": {tok}, "type": {"magiclink"}},
		"Sec-Fetch-Site", "same-origin", "Origin", "https://app.example.com"))
	wantStatus(t, rec, http.StatusSeeOther)
	if got := rec.Header().Get("Location"); got != "https://app.example.com/welcome?x=1" {
		t.Fatalf("Location = %q", got)
	}
	c := sessionCookie(t, rec)
	if c.Name != httpadapter.SecureSessionCookie || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
		t.Fatalf("cookie attributes: %+v", c)
	}
	if want := t0.Add(magiclink.DefaultSessionMaxTTL); !c.Expires.Equal(want) {
		t.Fatalf("cookie expires %v, want %v", c.Expires, want)
	}
	id, err := e.svc.CheckSessionToken(context.Background(), c.Value)
	if err != nil || id.Email != "a@example.com" || id.Method != "link" {
		t.Fatalf("session = %+v, %v", id, err)
	}
}

func TestVerifyCookieNotSecureOnLoopbackHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := `{"email":"a@example.com","callback_origin":"http://localhost:8080"}`
	wantStatus(t, e.do(jsonReq(sendPath, body)), http.StatusOK)
	tok, _ := e.lastMail("a@example.com")
	req := formReq("http://localhost:8080"+verifyPath, url.Values{"token_hash": {tok}})
	req.RemoteAddr = "127.0.0.1:50000"
	rec := e.do(req)
	wantStatus(t, rec, http.StatusSeeOther)
	if c := sessionCookie(t, rec); c.Secure || c.Name != httpadapter.InsecureSessionCookie {
		t.Fatalf("cookie %+v on plain-http loopback: want %s without Secure, which browsers would drop", c, httpadapter.InsecureSessionCookie)
	}
	if rec.Header().Get("Location") != "http://localhost:8080/" {
		t.Fatalf("Location = %q", rec.Header().Get("Location"))
	}
}

func TestVerifyFormCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, code := e.issue("a@example.com", "/dash")
	// A wrong code keeps the page, with the address filled in.
	rec := e.do(formReq("https://app.example.com"+verifyPath, url.Values{"email": {"a@example.com"}, "code": {"000000"}}))
	if code == "000000" {
		t.Skip("drew the one code this test uses as wrong")
	}
	wantStatus(t, rec, http.StatusBadRequest)
	if !strings.Contains(rec.Body.String(), `value="a@example.com"`) {
		t.Fatal("address not kept in the code form")
	}
	// The right code, typed with a space as mails show it, signs in.
	rec = e.do(formReq("https://app.example.com"+verifyPath, url.Values{"email": {"a@example.com"}, "code": {code[:3] + " " + code[3:]}}))
	wantStatus(t, rec, http.StatusSeeOther)
	if rec.Header().Get("Location") != "https://app.example.com/dash" {
		t.Fatalf("Location = %q", rec.Header().Get("Location"))
	}
	if id, err := e.svc.CheckSessionToken(context.Background(), sessionCookie(t, rec).Value); err != nil || id.Method != "code" {
		t.Fatalf("session = %+v, %v", id, err)
	}
}

func TestVerifyFormFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		form   url.Values
		hdr    []string
		status int
		text   string
	}{
		{"unknown token", url.Values{"token_hash": {strings.Repeat("A", 43)}}, nil, 400, "expired or was already used"},
		{"garbage token", url.Values{"token_hash": {`"><script>x</script>`}}, nil, 400, "expired or was already used"},
		{"wrong type", url.Values{"token_hash": {strings.Repeat("A", 43)}, "type": {"recovery"}}, nil, 400, "expired or was already used"},
		{"nothing", url.Values{}, nil, 400, "expired or was already used"},
		{"code without email", url.Values{"code": {"123456"}}, nil, 400, "not valid"},
		{"email with CRLF", url.Values{"email": {"a@example.com\r\nBcc: x@example.net"}, "code": {"123456"}}, nil, 400, "not valid"},
		{"cross-site fetch", url.Values{"token_hash": {strings.Repeat("A", 43)}}, []string{"Sec-Fetch-Site", "cross-site"}, 403, "blocked"},
		{"same-site fetch", url.Values{"token_hash": {strings.Repeat("A", 43)}}, []string{"Sec-Fetch-Site", "same-site"}, 403, "blocked"},
		{"foreign Origin", url.Values{"token_hash": {strings.Repeat("A", 43)}}, []string{"Origin", "https://evil.example.net"}, 403, "blocked"},
		{"null Origin without fetch metadata", url.Values{"token_hash": {strings.Repeat("A", 43)}}, []string{"Origin", "null"}, 403, "blocked"},
		{"null Origin from a cross-site sandbox", url.Values{"token_hash": {strings.Repeat("A", 43)}}, []string{"Origin", "null", "Sec-Fetch-Site", "cross-site"}, 403, "blocked"},
		// What browsers send from our own no-referrer page passes the check.
		{"null Origin from our page", url.Values{"token_hash": {strings.Repeat("A", 43)}}, []string{"Origin", "null", "Sec-Fetch-Site", "same-origin"}, 400, "expired or was already used"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			rec := e.do(formReq("https://app.example.com"+verifyPath, tt.form, tt.hdr...))
			wantStatus(t, rec, tt.status)
			wantPageHeaders(t, rec)
			if !strings.Contains(rec.Body.String(), tt.text) {
				t.Fatalf("page lacks %q", tt.text)
			}
			if strings.Contains(rec.Body.String(), "<script>x") || strings.Contains(rec.Body.String(), "x@example.net") {
				t.Fatal("hostile input reflected")
			}
			if len(rec.Result().Cookies()) != 0 {
				t.Fatal("a cookie was set on failure")
			}
		})
	}
}

// A cross-site post must be refused before the token is consumed, or an
// attacker could burn a victim's link.
func TestVerifyCSRFDoesNotConsume(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok, _ := e.issue("a@example.com", "/")
	rec := e.do(formReq("https://app.example.com"+verifyPath, url.Values{"token_hash": {tok}}, "Origin", "https://evil.example.net"))
	wantStatus(t, rec, http.StatusForbidden)
	rec = e.do(formReq("https://app.example.com"+verifyPath, url.Values{"token_hash": {tok}}, "Origin", "https://portal.example.com"))
	wantStatus(t, rec, http.StatusSeeOther)
}

func TestVerifyFormLimitsAndOutages(t *testing.T) {
	t.Parallel()
	t.Run("429", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, withLimits(magiclink.Limits{VerifyPerIP: ratelimit.Rate{Limit: 1, Period: time.Minute, Burst: 1}}))
		form := url.Values{"token_hash": {strings.Repeat("A", 43)}}
		wantStatus(t, e.do(formReq("https://app.example.com"+verifyPath, form)), http.StatusBadRequest)
		rec := e.do(formReq("https://app.example.com"+verifyPath, form))
		wantStatus(t, rec, http.StatusTooManyRequests)
		if rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "Too many") {
			t.Fatalf("429 page without Retry-After or message")
		}
	})
	t.Run("503", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.store.down.Store(true)
		rec := e.do(formReq("https://app.example.com"+verifyPath, url.Values{"token_hash": {strings.Repeat("A", 43)}}))
		wantStatus(t, rec, http.StatusServiceUnavailable)
		if rec.Header().Get("Retry-After") == "" {
			t.Fatal("503 without Retry-After")
		}
	})
	t.Run("413", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		rec := e.do(formReq("https://app.example.com"+verifyPath, url.Values{"token_hash": {strings.Repeat("A", 70000)}}))
		wantStatus(t, rec, http.StatusRequestEntityTooLarge)
	})
	t.Run("415", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		for _, ct := range []string{"", "text/plain", "multipart/form-data; boundary=x"} {
			rec := e.do(newReq(http.MethodPost, verifyPath, ct, "token_hash=x"))
			wantPortalError(t, rec, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
		}
	})
}

func TestVerifyOnLogin(t *testing.T) {
	t.Parallel()
	t.Run("redirects after the hook", func(t *testing.T) {
		t.Parallel()
		var mu sync.Mutex
		var got magiclink.Identity
		e := newEnv(t, withHTTP(func(c *httpadapter.Config) {
			c.OnLogin = func(w http.ResponseWriter, r *http.Request, id magiclink.Identity) error {
				mu.Lock()
				got = id
				mu.Unlock()
				http.SetCookie(w, &http.Cookie{Name: "host_session", Value: "s1"})
				return nil
			}
		}))
		tok, _ := e.issue("a@example.com", "/home")
		rec := e.do(formReq("https://app.example.com"+verifyPath, url.Values{"token_hash": {tok}}))
		wantStatus(t, rec, http.StatusSeeOther)
		if rec.Header().Get("Location") != "https://app.example.com/home" {
			t.Fatalf("Location = %q", rec.Header().Get("Location"))
		}
		mu.Lock()
		defer mu.Unlock()
		if got.Email != "a@example.com" || got.UserID == "" {
			t.Fatalf("hook got %+v", got)
		}
		for _, c := range rec.Result().Cookies() {
			if c.Name == httpadapter.SecureSessionCookie || c.Name == httpadapter.InsecureSessionCookie {
				t.Fatal("default session cookie set although OnLogin replaces it")
			}
		}
	})
	t.Run("hook answers itself", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, withHTTP(func(c *httpadapter.Config) {
			c.OnLogin = func(w http.ResponseWriter, r *http.Request, id magiclink.Identity) error {
				w.Header().Set("Location", "https://app.example.com/custom")
				w.WriteHeader(http.StatusSeeOther)
				return nil
			}
		}))
		tok, _ := e.issue("a@example.com", "/home")
		rec := e.do(formReq("https://app.example.com"+verifyPath, url.Values{"token_hash": {tok}}))
		wantStatus(t, rec, http.StatusSeeOther)
		if rec.Header().Get("Location") != "https://app.example.com/custom" {
			t.Fatalf("Location = %q", rec.Header().Get("Location"))
		}
	})
	t.Run("hook error", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, withHTTP(func(c *httpadapter.Config) {
			c.OnLogin = func(http.ResponseWriter, *http.Request, magiclink.Identity) error { return errors.New("db down") }
		}))
		tok, _ := e.issue("a@example.com", "/home")
		rec := e.do(formReq("https://app.example.com"+verifyPath, url.Values{"token_hash": {tok}}))
		wantStatus(t, rec, http.StatusInternalServerError)
		if strings.Contains(rec.Body.String(), "db down") {
			t.Fatal("internal error leaked")
		}
	})
	t.Run("hook panic", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, withHTTP(func(c *httpadapter.Config) {
			c.OnLogin = func(http.ResponseWriter, *http.Request, magiclink.Identity) error { panic("boom") }
		}))
		tok, _ := e.issue("a@example.com", "/home")
		rec := e.do(formReq("https://app.example.com"+verifyPath, url.Values{"token_hash": {tok}}))
		wantStatus(t, rec, http.StatusInternalServerError)
		wantPageHeaders(t, rec)
	})
}

func TestVerifyJSON(t *testing.T) {
	t.Parallel()
	t.Run("token", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		tok, _ := e.issue("a@example.com", "/after")
		rec := e.do(jsonReq(verifyPath, `{"token_hash":"`+tok+`","type":"magiclink"}`))
		wantStatus(t, rec, http.StatusOK)
		m := decode(t, rec)
		if m["token_type"] != "bearer" || m["expires_in"] != float64(900) || m["next"] != "https://app.example.com/after" {
			t.Fatalf("body = %s", rec.Body)
		}
		if rt, _ := m["refresh_token"].(string); len(rt) != 66 {
			t.Fatalf("refresh_token %q, want the 66-character <session>.<secret>", rt)
		}
		user := m["user"].(map[string]any)
		id, err := e.svc.CheckAccessToken(context.Background(), m["access_token"].(string))
		if err != nil || id.UserID != user["id"] || user["email"] != "a@example.com" {
			t.Fatalf("session %+v %v vs user %v", id, err, user)
		}
		if len(rec.Result().Cookies()) != 0 {
			t.Fatal("JSON verify set a cookie")
		}
		// Single use.
		wantPortalError(t, e.do(jsonReq(verifyPath, `{"token_hash":"`+tok+`","type":"magiclink"}`)), http.StatusBadRequest, "TOKEN_INVALID")
	})
	t.Run("code", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, code := e.issue("a@example.com", "/")
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		wantPortalError(t, e.do(jsonReq(verifyPath, `{"email":"a@example.com","code":"`+wrong+`"}`)), http.StatusBadRequest, "CODE_INVALID")
		rec := e.do(jsonReq(verifyPath, `{"email":"a@example.com","code":"`+code+`"}`))
		wantStatus(t, rec, http.StatusOK)
	})
	tests := []struct {
		name, body, code string
		status           int
	}{
		{"unknown token", `{"token_hash":"` + strings.Repeat("A", 43) + `","type":"magiclink"}`, "TOKEN_INVALID", 400},
		{"malformed token", `{"token_hash":"<script>","type":"magiclink"}`, "TOKEN_INVALID", 400},
		{"wrong type", `{"token_hash":"` + strings.Repeat("A", 43) + `","type":"signup"}`, "VALIDATION_FAILED", 400},
		{"token number", `{"token_hash":5}`, "VALIDATION_FAILED", 400},
		{"empty", `{}`, "VALIDATION_FAILED", 400},
		{"email only", `{"email":"a@example.com"}`, "VALIDATION_FAILED", 400},
		{"code not digits", `{"email":"a@example.com","code":"abcdef"}`, "CODE_INVALID", 400},
		{"email CRLF", `{"email":"a@example.com\r\nBcc: x@example.net","code":"123456"}`, "VALIDATION_FAILED", 400},
		{"malformed", `{"token_hash":`, "VALIDATION_FAILED", 400},
		{"deeply nested", strings.Repeat("[", 10000), "VALIDATION_FAILED", 400},
		{"too large", `{"token_hash":"` + strings.Repeat("A", 65*1024) + `"}`, "PAYLOAD_TOO_LARGE", 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			rec := e.do(jsonReq(verifyPath, tt.body))
			wantPortalError(t, rec, tt.status, tt.code)
			if strings.Contains(rec.Body.String(), "x@example.net") {
				t.Fatal("input echoed")
			}
		})
	}
	t.Run("429", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, withLimits(magiclink.Limits{VerifyPerIP: ratelimit.Rate{Limit: 1, Period: time.Minute, Burst: 1}}))
		body := `{"token_hash":"` + strings.Repeat("A", 43) + `"}`
		wantPortalError(t, e.do(jsonReq(verifyPath, body)), http.StatusBadRequest, "TOKEN_INVALID")
		wantPortalError(t, e.do(jsonReq(verifyPath, body)), http.StatusTooManyRequests, "RATE_LIMITED")
	})
	t.Run("503", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.store.down.Store(true)
		wantPortalError(t, e.do(jsonReq(verifyPath, `{"token_hash":"`+strings.Repeat("A", 43)+`"}`)), http.StatusServiceUnavailable, "STORE_UNAVAILABLE")
	})
}

// Of many concurrent posts of one link exactly one signs in.
func TestVerifyConcurrentSingleUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok, _ := e.issue("a@example.com", "/")
	const n = 16
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			e.mux.ServeHTTP(rec, formReq("https://app.example.com"+verifyPath, url.Values{"token_hash": {tok}}))
			codes <- rec.Code
		}()
	}
	wg.Wait()
	close(codes)
	ok := 0
	for c := range codes {
		if c == http.StatusSeeOther {
			ok++
		}
	}
	if ok != 1 {
		t.Fatalf("%d posts signed in, want exactly 1", ok)
	}
}

// Behind a trusted TLS-terminating proxy the page shows the https origin
// and the cookie is Secure; from an untrusted peer X-Forwarded-Proto is
// ignored.
func TestVerifyBehindProxy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withHTTP(func(c *httpadapter.Config) { c.TrustedProxies = mustPrefixes(t, "10.0.0.0/8") }))
	page := func(remote string) string {
		r := httptest.NewRequest(http.MethodGet, "http://app.example.com"+verifyPath, nil)
		r.Header.Set("X-Forwarded-Proto", "https")
		r.RemoteAddr = remote
		return e.do(r).Body.String()
	}
	if body := page("10.0.0.1:1"); !strings.Contains(body, "https://app.example.com") {
		t.Fatal("trusted proxy: https origin not shown")
	}
	if body := page("203.0.113.9:1"); strings.Contains(body, "https://app.example.com") || !strings.Contains(body, "http://app.example.com") {
		t.Fatal("untrusted peer: X-Forwarded-Proto was believed")
	}
	body := `{"email":"a@example.com","callback_origin":"http://localhost:8080"}`
	wantStatus(t, e.do(jsonReq(sendPath, body)), http.StatusOK)
	tok, _ := e.lastMail("a@example.com")
	r := formReq("http://localhost:8080"+verifyPath, url.Values{"token_hash": {tok}}, "X-Forwarded-Proto", "https")
	r.RemoteAddr = "10.0.0.1:1"
	rec := e.do(r)
	wantStatus(t, rec, http.StatusSeeOther)
	if !sessionCookie(t, rec).Secure {
		t.Fatal("cookie not Secure behind a TLS-terminating proxy")
	}
}
