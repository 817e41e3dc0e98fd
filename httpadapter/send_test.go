package httpadapter_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/ratelimit"
)

const sendPath = "/auth/send-magic-link"

// The request of seed 001's own curl example, verbatim. Its callback_next
// "example" has no leading slash and is read as "/example".
func TestSendSeedExample(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := e.do(jsonReq(sendPath, `{ "email": "hello@example.com", "callback_origin": "https://example.com", "callback_next": "example" }`))
	wantStatus(t, rec, http.StatusOK)
	if got := strings.TrimSpace(rec.Body.String()); got != `{"ok":true}` {
		t.Fatalf("body = %s, want {\"ok\":true}", got)
	}
	m, ok := e.inbox.Last("hello@example.com")
	if !ok {
		t.Fatal("no mail sent")
	}
	if !strings.HasPrefix(m.Link, "https://example.com/auth/verify?token_hash=") || !strings.HasSuffix(m.Link, "&type=magiclink&next=/example") {
		t.Fatalf("link = %q, want one to https://example.com with next=/example", m.Link)
	}
	if len(m.Code) != 6 {
		t.Fatalf("code = %q, want 6 digits", m.Code)
	}
}

func TestSendCallbackOrigin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       string
		hdr        []string
		wantStatus int
		wantCode   string
		wantOrigin string
	}{
		{"body wins over headers", `{"email":"a@example.com","callback_origin":"https://app.example.com"}`,
			[]string{"X-AppHandoff-Callback-Origin", "https://example.com", "Origin", "https://portal.example.com"}, 200, "", appOrigin},
		{"handoff header", `{"email":"a@example.com"}`,
			[]string{"X-AppHandoff-Callback-Origin", "https://portal.example.com", "Origin", "https://example.com"}, 200, "", portalOrigin},
		{"Origin header", `{"email":"a@example.com"}`, []string{"Origin", "https://example.com"}, 200, "", "https://example.com"},
		{"Referer origin", `{"email":"a@example.com"}`, []string{"Referer", "https://app.example.com/sign-in?x=1"}, 200, "", appOrigin},
		{"canonicalised", `{"email":"a@example.com","callback_origin":"https://APP.example.com:443"}`, nil, 200, "", appOrigin},
		{"empty body value falls through", `{"email":"a@example.com","callback_origin":""}`, []string{"Origin", "https://example.com"}, 200, "", "https://example.com"},
		{"none present", `{"email":"a@example.com"}`, nil, 400, "ORIGIN_NOT_ALLOWED", ""},
		{"body not allowed, no fallthrough", `{"email":"a@example.com","callback_origin":"https://evil.example.net"}`,
			[]string{"Origin", "https://app.example.com"}, 400, "ORIGIN_NOT_ALLOWED", ""},
		{"handoff not allowed, no fallthrough", `{"email":"a@example.com"}`,
			[]string{"X-AppHandoff-Callback-Origin", "https://evil.example.net", "Origin", "https://app.example.com"}, 400, "ORIGIN_NOT_ALLOWED", ""},
		{"Origin null", `{"email":"a@example.com"}`, []string{"Origin", "null", "Referer", "https://app.example.com/"}, 400, "ORIGIN_NOT_ALLOWED", ""},
		{"lookalike suffix", `{"email":"a@example.com","callback_origin":"https://app.example.com.evil.net"}`, nil, 400, "ORIGIN_NOT_ALLOWED", ""},
		{"userinfo", `{"email":"a@example.com","callback_origin":"https://app.example.com@evil.net"}`, nil, 400, "ORIGIN_NOT_ALLOWED", ""},
		{"with path", `{"email":"a@example.com","callback_origin":"https://app.example.com/x"}`, nil, 400, "ORIGIN_NOT_ALLOWED", ""},
		{"plain http", `{"email":"a@example.com","callback_origin":"http://app.example.com"}`, nil, 400, "ORIGIN_NOT_ALLOWED", ""},
		{"bad Referer", `{"email":"a@example.com"}`, []string{"Referer", "javascript:alert(1)"}, 400, "ORIGIN_NOT_ALLOWED", ""},
		{"Referer of another site", `{"email":"a@example.com"}`, []string{"Referer", "https://evil.example.net/app.example.com"}, 400, "ORIGIN_NOT_ALLOWED", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			rec := e.do(jsonReq(sendPath, tt.body, tt.hdr...))
			if tt.wantCode != "" {
				wantPortalError(t, rec, tt.wantStatus, tt.wantCode)
				if e.inbox.Len() != 0 {
					t.Fatal("a mail was sent for a refused origin")
				}
				return
			}
			wantStatus(t, rec, tt.wantStatus)
			m, ok := e.inbox.Last("a@example.com")
			if !ok || !strings.HasPrefix(m.Link, tt.wantOrigin+"/auth/verify?") {
				t.Fatalf("link = %v, want origin %s", m, tt.wantOrigin)
			}
		})
	}
}

func TestSendNext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		next     string
		wantNext string // "" means 400 NEXT_NOT_ALLOWED
	}{
		{"", "next=/"},
		{"/overview?tab=1", "next=/overview%3Ftab%3D1"},
		{"example", "next=/example"},
		{"a/b", "next=/a/b"},
		{"https://app.example.com/deep/page", "next=/deep/page"},
		{"//evil.example.net", ""},
		{"/\\evil.example.net", ""},
		{"\\\\evil.example.net", ""},
		{"https://evil.example.net/", ""},
		{"javascript:alert(1)", ""},
		{"/%2F%2Fevil.example.net", ""},
		{"/a\r\nSet-Cookie: x=y", ""},
		{"/" + strings.Repeat("a", 3000), ""},
	}
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			body := `{"email":"a@example.com","callback_origin":"https://app.example.com","callback_next":` + jsonString(tt.next) + `}`
			rec := e.do(jsonReq(sendPath, body))
			if tt.wantNext == "" {
				m := wantPortalError(t, rec, http.StatusBadRequest, "NEXT_NOT_ALLOWED")
				if fe, _ := m["fieldErrors"].(map[string]any); fe["callback_next"] == nil {
					t.Fatalf("fieldErrors.callback_next missing: %v", m)
				}
				return
			}
			wantStatus(t, rec, http.StatusOK)
			m, _ := e.inbox.Last("a@example.com")
			if !strings.HasSuffix(m.Link, "&"+tt.wantNext) {
				t.Fatalf("link = %q, want it to end with %s", m.Link, tt.wantNext)
			}
		})
	}
}

func TestSendValidation(t *testing.T) {
	t.Parallel()
	nested := strings.Repeat("[", 10000)
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		code        string
		field       string
	}{
		{"malformed JSON", "application/json", `{"email":`, 400, "VALIDATION_FAILED", ""},
		{"not JSON", "application/json", `email=a@example.com`, 400, "VALIDATION_FAILED", ""},
		{"trailing data", "application/json", `{"email":"a@example.com","callback_origin":"https://app.example.com"} {}`, 400, "VALIDATION_FAILED", ""},
		{"trailing garbage", "application/json", `{"email":"a@example.com"}x`, 400, "VALIDATION_FAILED", ""},
		{"array body", "application/json", `[{"email":"a@example.com"}]`, 400, "VALIDATION_FAILED", ""},
		{"null body", "application/json", `null`, 400, "VALIDATION_FAILED", ""},
		{"empty body", "application/json", ``, 400, "VALIDATION_FAILED", ""},
		{"deeply nested", "application/json", nested, 400, "VALIDATION_FAILED", ""},
		{"deeply nested member", "application/json", `{"email":"a@example.com","x":` + nested + strings.Repeat("]", 10000) + `}`, 400, "VALIDATION_FAILED", ""},
		{"missing email", "application/json", `{"callback_origin":"https://app.example.com"}`, 400, "VALIDATION_FAILED", "email"},
		{"email number", "application/json", `{"email":5,"callback_origin":"https://app.example.com"}`, 400, "VALIDATION_FAILED", "email"},
		{"email null", "application/json", `{"email":null,"callback_origin":"https://app.example.com"}`, 400, "VALIDATION_FAILED", "email"},
		{"email object", "application/json", `{"email":{"a":1},"callback_origin":"https://app.example.com"}`, 400, "VALIDATION_FAILED", "email"},
		{"email invalid", "application/json", `{"email":"not-an-address","callback_origin":"https://app.example.com"}`, 400, "VALIDATION_FAILED", "email"},
		{"email CRLF", "application/json", `{"email":"a@example.com\r\nBcc: victim@example.net","callback_origin":"https://app.example.com"}`, 400, "VALIDATION_FAILED", "email"},
		{"email LF", "application/json", `{"email":"a@example.com\nX: y","callback_origin":"https://app.example.com"}`, 400, "VALIDATION_FAILED", "email"},
		{"email NUL", "application/json", `{"email":"a\u0000@example.com","callback_origin":"https://app.example.com"}`, 400, "VALIDATION_FAILED", "email"},
		{"email display name", "application/json", `{"email":"Eve <eve@example.com>","callback_origin":"https://app.example.com"}`, 400, "VALIDATION_FAILED", "email"},
		{"email huge", "application/json", `{"email":"` + strings.Repeat("a", 60000) + `@example.com","callback_origin":"https://app.example.com"}`, 400, "VALIDATION_FAILED", "email"},
		{"origin wrong type", "application/json", `{"email":"a@example.com","callback_origin":["https://app.example.com"]}`, 400, "VALIDATION_FAILED", "callback_origin"},
		{"next wrong type", "application/json", `{"email":"a@example.com","callback_origin":"https://app.example.com","callback_next":1}`, 400, "VALIDATION_FAILED", "callback_next"},
		{"locale wrong type", "application/json", `{"email":"a@example.com","callback_origin":"https://app.example.com","locale":true}`, 400, "VALIDATION_FAILED", "locale"},
		{"locale invalid", "application/json", `{"email":"a@example.com","callback_origin":"https://app.example.com","locale":"en_US<script>"}`, 400, "VALIDATION_FAILED", "locale"},
		{"invalid UTF-8", "application/json", "{\"email\":\"a\xff@example.com\"}", 400, "VALIDATION_FAILED", ""},
		{"too large", "application/json", `{"email":"a@example.com","pad":"` + strings.Repeat("x", 65*1024) + `"}`, 413, "PAYLOAD_TOO_LARGE", ""},
		{"text content type", "text/plain", `{"email":"a@example.com"}`, 415, "UNSUPPORTED_MEDIA_TYPE", ""},
		{"no content type", "", `{"email":"a@example.com"}`, 415, "UNSUPPORTED_MEDIA_TYPE", ""},
		{"json lookalike", "application/jsonx", `{"email":"a@example.com"}`, 415, "UNSUPPORTED_MEDIA_TYPE", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			rec := e.do(newReq(http.MethodPost, sendPath, tt.contentType, tt.body))
			m := wantPortalError(t, rec, tt.status, tt.code)
			if tt.field != "" {
				fe, _ := m["fieldErrors"].(map[string]any)
				if s, _ := fe[tt.field].(string); s == "" {
					t.Fatalf("fieldErrors.%s missing: %s", tt.field, rec.Body.String())
				}
				issues, _ := m["issues"].([]any)
				if len(issues) == 0 {
					t.Fatalf("issues missing: %s", rec.Body.String())
				}
			}
			if strings.Contains(rec.Body.String(), "victim@example.net") || strings.Contains(rec.Body.String(), "<script>") {
				t.Fatalf("error echoes the hostile input: %s", rec.Body.String())
			}
			if e.inbox.Len() != 0 {
				t.Fatal("a mail was sent for an invalid request")
			}
		})
	}
}

func TestSendAcceptsJSONWithParametersAndIgnoresUnknownMembers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := e.do(newReq(http.MethodPost, sendPath, "application/json; charset=utf-8",
		`{"email":"A@Example.com","callback_origin":"https://app.example.com","emial":"typo","extra":{"nested":[1,2]}}`))
	wantStatus(t, rec, http.StatusOK)
	if _, ok := e.inbox.Last("a@example.com"); !ok {
		t.Fatal("no mail to the normalized address")
	}
}

func TestSendLocale(t *testing.T) {
	t.Parallel()
	tests := []struct{ body, acceptLanguage, want string }{
		{`"locale":"de"`, "fr-FR,fr;q=0.9", "de"},
		{``, "fr-FR,fr;q=0.9,en;q=0.8", "fr"},
		{``, "*", "en"},
		{``, "", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.body+"|"+tt.acceptLanguage, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			body := `{"email":"a@example.com","callback_origin":"https://app.example.com"`
			if tt.body != "" {
				body += "," + tt.body
			}
			var hdr []string
			if tt.acceptLanguage != "" {
				hdr = []string{"Accept-Language", tt.acceptLanguage}
			}
			wantStatus(t, e.do(jsonReq(sendPath, body+"}", hdr...)), http.StatusOK)
			m, _ := e.inbox.Last("a@example.com")
			if !strings.HasPrefix(m.Locale, tt.want) {
				t.Fatalf("mail locale = %q, want %s", m.Locale, tt.want)
			}
		})
	}
}

// Known and unknown addresses get the same answer.
func TestSendDoesNotRevealAccounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := func(addr string) string {
		return `{"email":"` + addr + `","callback_origin":"https://app.example.com"}`
	}
	wantStatus(t, e.do(jsonReq(sendPath, body("known@example.com"))), http.StatusOK)
	tok, _ := e.lastMail("known@example.com")
	if _, err := e.svc.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	known := e.do(jsonReq(sendPath, body("known@example.com")))
	unknown := e.do(jsonReq(sendPath, body("nobody@example.com")))
	if known.Code != unknown.Code || known.Body.String() != unknown.Body.String() {
		t.Fatalf("known %d %s vs unknown %d %s", known.Code, known.Body, unknown.Code, unknown.Body)
	}
}

func TestSendRateLimits(t *testing.T) {
	t.Parallel()
	t.Run("per IP", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, withLimits(magiclink.Limits{SendPerIP: ratelimit.Rate{Limit: 2, Period: time.Minute, Burst: 2}}))
		for i := range 2 {
			wantStatus(t, e.do(jsonReq(sendPath, `{"email":"u`+string(rune('a'+i))+`@example.com","callback_origin":"https://app.example.com"}`)), 200)
		}
		rec := e.do(jsonReq(sendPath, `{"email":"uz@example.com","callback_origin":"https://app.example.com"}`))
		wantPortalError(t, rec, http.StatusTooManyRequests, "RATE_LIMITED")
		// Another client is not affected.
		r := jsonReq(sendPath, `{"email":"other@example.com","callback_origin":"https://app.example.com"}`)
		r.RemoteAddr = "198.51.100.9:1000"
		wantStatus(t, e.do(r), http.StatusOK)
		// After the period the first client may send again.
		e.clock.Advance(time.Minute)
		wantStatus(t, e.do(jsonReq(sendPath, `{"email":"uz@example.com","callback_origin":"https://app.example.com"}`)), http.StatusOK)
	})
	t.Run("per address", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, withLimits(magiclink.Limits{SendPerEmail: ratelimit.Rate{Limit: 1, Period: time.Hour, Burst: 1}}))
		body := `{"email":"a@example.com","callback_origin":"https://app.example.com"}`
		wantStatus(t, e.do(jsonReq(sendPath, body)), http.StatusOK)
		rec := e.do(jsonReq(sendPath, body))
		m := wantPortalError(t, rec, http.StatusTooManyRequests, "RATE_LIMITED")
		if ra := rec.Header().Get("Retry-After"); ra == "" || ra == "0" {
			t.Fatalf("Retry-After = %q", ra)
		}
		if m["retryAfter"].(float64) < 3000 {
			t.Fatalf("retryAfter = %v, want about an hour", m["retryAfter"])
		}
	})
}

func TestSendStoreDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store.down.Store(true)
	rec := e.do(jsonReq(sendPath, `{"email":"a@example.com","callback_origin":"https://app.example.com"}`))
	wantPortalError(t, rec, http.StatusServiceUnavailable, "STORE_UNAVAILABLE")
}

// failingMailer refuses every mail as a full queue would.
type failingMailer struct{}

func (failingMailer) Send(context.Context, *mailer.Message) error {
	return errors.New("queue full")
}

// panickingMailer stands in for any bug below the handler.
type panickingMailer struct{}

func (panickingMailer) Send(context.Context, *mailer.Message) error { panic("boom") }

func TestSendMailFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		m      mailer.Mailer
		status int
		code   string
	}{
		{"mail unavailable", failingMailer{}, http.StatusServiceUnavailable, "MAIL_UNAVAILABLE"},
		{"panic is a 500", panickingMailer{}, http.StatusInternalServerError, "INTERNAL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *magiclink.Config, _ *httpadapter.Config) { c.Mailer = tt.m })
			rec := e.do(jsonReq(sendPath, `{"email":"a@example.com","callback_origin":"https://app.example.com"}`))
			wantPortalError(t, rec, tt.status, tt.code)
		})
	}
}

func TestSendClientIP(t *testing.T) {
	t.Parallel()
	limits := withLimits(magiclink.Limits{SendPerIP: ratelimit.Rate{Limit: 1, Period: time.Hour, Burst: 1}})
	proxies := withHTTP(func(c *httpadapter.Config) {
		c.TrustedProxies = mustPrefixes(t, "10.0.0.0/8")
	})
	body := func(n string) string {
		return `{"email":"` + n + `@example.com","callback_origin":"https://app.example.com"}`
	}
	t.Run("unusable RemoteAddr is 400", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		r := jsonReq(sendPath, body("a"))
		r.RemoteAddr = "not-an-ip"
		wantPortalError(t, e.do(r), http.StatusBadRequest, "VALIDATION_FAILED")
	})
	t.Run("forwarded header ignored from untrusted peers", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, limits, proxies)
		for i, xff := range []string{"1.1.1.1", "2.2.2.2"} {
			r := jsonReq(sendPath, body(string(rune('a'+i))), "X-Forwarded-For", xff)
			r.RemoteAddr = "203.0.113.50:1"
			rec := e.do(r)
			if i == 1 {
				wantPortalError(t, rec, http.StatusTooManyRequests, "RATE_LIMITED")
			}
		}
	})
	t.Run("rightmost untrusted address behind a trusted proxy", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, limits, proxies)
		// A spoofed leftmost entry must not give a fresh budget.
		for i, xff := range []string{"6.6.6.6, 198.51.100.1, 10.0.0.2", "7.7.7.7, 198.51.100.1, 10.0.0.3"} {
			r := jsonReq(sendPath, body(string(rune('a'+i))), "X-Forwarded-For", xff)
			r.RemoteAddr = "10.0.0.1:1"
			rec := e.do(r)
			if i == 1 {
				wantPortalError(t, rec, http.StatusTooManyRequests, "RATE_LIMITED")
			} else {
				wantStatus(t, rec, http.StatusOK)
			}
		}
		r := jsonReq(sendPath, body("c"), "X-Forwarded-For", "198.51.100.2")
		r.RemoteAddr = "10.0.0.1:1"
		wantStatus(t, e.do(r), http.StatusOK)
	})
	t.Run("malformed forwarded header behind a trusted proxy is 400", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, proxies)
		r := jsonReq(sendPath, body("a"), "X-Forwarded-For", "garbage")
		r.RemoteAddr = "10.0.0.1:1"
		wantPortalError(t, e.do(r), http.StatusBadRequest, "VALIDATION_FAILED")
	})
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := `{"email":"a@example.com","callback_origin":"https://app.example.com"}`
	tests := []struct {
		in   string
		keep bool
	}{
		{"req-123_abc.DEF", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"has space", false},
		{"<script>", false},
		{"", false},
	}
	for _, tt := range tests {
		var hdr []string
		if tt.in != "" {
			hdr = []string{"X-Request-Id", tt.in}
		}
		rec := e.do(jsonReq(sendPath, body, hdr...))
		got := rec.Header().Get("X-Request-Id")
		if tt.keep && got != tt.in {
			t.Errorf("X-Request-Id %q was not kept: %q", tt.in, got)
		}
		if !tt.keep && (got == tt.in || len(got) != 36) {
			t.Errorf("X-Request-Id %q: got %q, want a fresh UUID", tt.in, got)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q", cc)
		}
	}
}
