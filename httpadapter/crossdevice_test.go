package httpadapter_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

// The flaky store passes the pending capability through, failing like
// every other method while down.
func (s *flakyStore) pendingStore() store.PendingRequests { return s.Store.(store.PendingRequests) }

func (s *flakyStore) PutTokenPending(ctx context.Context, t *store.Token, p *store.Pending) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.pendingStore().PutTokenPending(ctx, t, p)
}

func (s *flakyStore) PendingByCookie(ctx context.Context, c store.Digest) (*store.Pending, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.pendingStore().PendingByCookie(ctx, c)
}

func (s *flakyStore) PendingByLink(ctx context.Context, l store.Digest) (*store.Pending, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.pendingStore().PendingByLink(ctx, l)
}

func (s *flakyStore) DecidePending(ctx context.Context, l store.Digest, m uint8) (*store.Pending, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.pendingStore().DecidePending(ctx, l, m)
}

func (s *flakyStore) TakeApproved(ctx context.Context, c store.Digest) (*store.Pending, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.pendingStore().TakeApproved(ctx, c)
}

func (s *flakyStore) ConsumeTokenFrom(ctx context.Context, l, c store.Digest) (*store.Token, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.pendingStore().ConsumeTokenFrom(ctx, l, c)
}

const (
	pendingPath = "/auth/pending"
	approvePath = "/auth/approve"
	laptopUA    = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)

// ask sends a link for addr as a browser would and returns the pending
// cookie it set and the mailed token and code.
func (e *env) ask(addr string) (pending *http.Cookie, token, code string) {
	e.t.Helper()
	body := `{"email":"` + addr + `","callback_origin":"https://app.example.com","callback_next":"/after"}`
	rec := e.do(jsonReq(sendPath, body, "User-Agent", laptopUA))
	wantStatus(e.t, rec, http.StatusOK)
	if rec.Body.String() != "{\"ok\":true}\n" {
		e.t.Fatalf("send body %q, want {\"ok\":true}", rec.Body.String())
	}
	pending = cookieNamed(rec, httpadapter.PendingCookie)
	if pending == nil {
		e.t.Fatalf("a send set no %s cookie: %v", httpadapter.PendingCookie, rec.Header()["Set-Cookie"])
	}
	token, code = e.lastMail(addr)
	return pending, token, code
}

func cookieNamed(rec *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// poll is the asking tab's GET /auth/pending with its cookie.
func (e *env) poll(c *http.Cookie) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(http.MethodGet, "https://app.example.com"+pendingPath, nil)
	if c != nil {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	return e.do(r)
}

func (e *env) waitingMatch(c *http.Cookie) string {
	e.t.Helper()
	rec := e.poll(c)
	wantStatus(e.t, rec, http.StatusOK)
	m := decode(e.t, rec)
	match, _ := m["match"].(string)
	if m["status"] != "waiting" || !regexp.MustCompile(`^[0-9]{2}$`).MatchString(match) {
		e.t.Fatalf("poll: %s; want waiting with a two-digit match", rec.Body.String())
	}
	return match
}

func approveJSON(token, match string) *http.Request {
	return jsonReq("https://app.example.com"+approvePath,
		`{"token_hash":`+jsonString(token)+`,"type":"magiclink","match":`+jsonString(match)+`}`)
}

func wrongNumber(match string) string {
	n, _ := strconv.Atoi(match)
	return strconv.Itoa((n + 37) % 100)
}

func TestSendSetsPendingCookie(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, _, _ := e.ask("cookie@example.com")
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/auth" || c.MaxAge != 900 || !c.Secure || len(c.Value) != 43 {
		t.Fatalf("pending cookie %+v; want HttpOnly, SameSite=Lax, Path=/auth, Max-Age=900, Secure, 43 characters", c)
	}
	known, _, _ := e.ask("cookie@example.com")
	if known.MaxAge != c.MaxAge || len(known.Value) != len(c.Value) || known.Value == c.Value {
		t.Fatalf("a second send's cookie %+v differs in shape or repeats the first", known)
	}
}

func TestPendingPollAndApproveJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wantPortalError(t, e.poll(nil), http.StatusNotFound, "PENDING_INVALID")
	wantPortalError(t, e.poll(&http.Cookie{Name: httpadapter.PendingCookie, Value: strings.Repeat("Q", 43)}), http.StatusNotFound, "PENDING_INVALID")
	wantPortalError(t, e.poll(&http.Cookie{Name: httpadapter.PendingCookie, Value: "garbage"}), http.StatusNotFound, "PENDING_INVALID")

	c, token, _ := e.ask("laptop@example.com")
	rec := e.poll(c)
	wantStatus(t, rec, http.StatusOK)
	if m := decode(t, rec); m["expires_in"] != float64(900) {
		t.Fatalf("waiting poll %s; want expires_in 900", rec.Body.String())
	}
	match := e.waitingMatch(c)

	rec = e.do(approveJSON(token, match))
	wantStatus(t, rec, http.StatusOK)
	if rec.Body.String() != "{\"status\":\"approved\"}\n" {
		t.Fatalf("approve body %q", rec.Body.String())
	}
	if cookieNamed(rec, httpadapter.SecureSessionCookie) != nil {
		t.Fatal("the approving device got a session")
	}

	rec = e.poll(c)
	wantStatus(t, rec, http.StatusOK)
	m := decode(t, rec)
	user, _ := m["user"].(map[string]any)
	if m["status"] != "approved" || m["access_token"] == "" || m["refresh_token"] == nil || m["token_type"] != "bearer" || m["next"] != "https://app.example.com/after" ||
		user["email"] != "laptop@example.com" {
		t.Fatalf("approved poll %s", rec.Body.String())
	}
	if s := cookieNamed(rec, httpadapter.SecureSessionCookie); s == nil || s.Value == "" {
		t.Fatal("the asking browser got no session cookie with the approval")
	}
	if p := cookieNamed(rec, httpadapter.PendingCookie); p == nil || p.MaxAge >= 0 {
		t.Fatal("the pending cookie was not ended with the approval")
	}
	wantPortalError(t, e.poll(c), http.StatusNotFound, "PENDING_INVALID")
}

func TestApproveJSONWrongNumberKills(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, token, code := e.ask("victim@example.com")
	match := e.waitingMatch(c)
	m := wantPortalError(t, e.do(approveJSON(token, wrongNumber(match))), http.StatusBadRequest, "MATCH_INVALID")
	if fe, _ := m["fieldErrors"].(map[string]any); fe["match"] == nil {
		t.Fatalf("MATCH_INVALID without a match field error: %v", m)
	}
	wantPortalError(t, e.do(approveJSON(token, match)), http.StatusBadRequest, "TOKEN_INVALID")
	rec := e.poll(c)
	wantStatus(t, rec, http.StatusOK)
	if rec.Body.String() != "{\"status\":\"expired\"}\n" {
		t.Fatalf("poll after a denial %q, want expired alone", rec.Body.String())
	}
	// The code still signs in where it is typed.
	rec = e.do(jsonReq(verifyPath, `{"email":"victim@example.com","code":"`+code+`"}`))
	wantStatus(t, rec, http.StatusOK)
}

func TestApproveJSONRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, token, _ := e.ask("careful@example.com")
	match := e.waitingMatch(c)
	link, err := e.svc.CreateLink(context.Background(), magiclink.LinkRequest{Email: "partner@example.com", Origin: appOrigin})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, contentType, body string
		status                  int
		code                    string
	}{
		{"no match", "application/json", `{"token_hash":"` + token + `","type":"magiclink"}`, 400, "VALIDATION_FAILED"},
		{"no token", "application/json", `{"type":"magiclink","match":"` + match + `"}`, 400, "VALIDATION_FAILED"},
		{"match a number", "application/json", `{"token_hash":"` + token + `","match":` + match + `}`, 400, "VALIDATION_FAILED"},
		{"match not digits", "application/json", `{"token_hash":"` + token + `","match":"ab"}`, 400, "VALIDATION_FAILED"},
		{"match too long", "application/json", `{"token_hash":"` + token + `","match":"1` + match + `"}`, 400, "VALIDATION_FAILED"},
		{"wrong type", "application/json", `{"token_hash":"` + token + `","type":"signup","match":"` + match + `"}`, 400, "VALIDATION_FAILED"},
		{"malformed JSON", "application/json", `{"token_hash":`, 400, "VALIDATION_FAILED"},
		{"not an object", "application/json", `[]`, 400, "VALIDATION_FAILED"},
		{"unknown token", "application/json", `{"token_hash":"` + strings.Repeat("A", 43) + `","match":"` + match + `"}`, 400, "TOKEN_INVALID"},
		{"malformed token", "application/json", `{"token_hash":"../x","match":"` + match + `"}`, 400, "TOKEN_INVALID"},
		{"link no browser waits for", "application/json", `{"token_hash":"` + link.Token + `","match":"12"}`, 400, "PENDING_INVALID"},
		{"text body", "text/plain", `token_hash=x`, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"oversized", "application/json", `{"token_hash":"` + strings.Repeat("A", 70<<10) + `"}`, 413, "PAYLOAD_TOO_LARGE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantPortalError(t, e.do(newReq(http.MethodPost, "https://app.example.com"+approvePath, tt.contentType, tt.body)), tt.status, tt.code)
		})
	}
	if got := e.waitingMatch(c); got != match {
		t.Fatalf("refused approvals changed the request (number %s → %s)", match, got)
	}
	if _, err := e.svc.Verify(context.Background(), link.Token); err != nil {
		t.Fatalf("a refused approval must leave a link no browser waits for usable: %v", err)
	}
	wantStatus(t, e.do(approveJSON(token, match)), http.StatusOK)
}

// visibleText is a page without its stylesheet, tags, the link token and
// the asker's IP: what remains must not contain the number.
func visibleText(body, token string) string {
	body = regexp.MustCompile(`(?s)<style>.*?</style>`).ReplaceAllString(body, "")
	body = regexp.MustCompile(`<[^>]*>`).ReplaceAllString(body, " ")
	body = strings.ReplaceAll(body, token, "")
	return strings.ReplaceAll(body, "203.0.113.7", "")
}

func TestConfirmPageOnAnotherDevice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, token, _ := e.ask("phone@example.com")
	match := e.waitingMatch(c)
	e.clock.Advance(3 * time.Minute)
	rec := e.do(pageReq(http.MethodGet, "?token_hash="+token+"&type=magiclink&next=/after"))
	wantStatus(t, rec, http.StatusOK)
	wantPageHeaders(t, rec)
	body := rec.Body.String()
	for _, want := range []string{
		"Sign in on this device", "Approve the sign-in on the other device", "3 minutes ago", "Chrome on Linux",
		"203.0.113.7", `action="/auth/approve"`, `name="match"`, `inputmode="numeric"`, `maxlength="2"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the other device's page lacks %q", want)
		}
	}
	if regexp.MustCompile(`(^|[^0-9])` + match + `([^0-9]|$)`).MatchString(visibleText(body, token)) {
		t.Fatalf("the page shows the number %s", match)
	}
	if strings.Count(body, `name="match"`) != 1 || strings.Contains(body, `type="radio"`) {
		t.Fatal("the page must offer one number field and no candidates")
	}

	same := pageReq(http.MethodGet, "?token_hash="+token+"&type=magiclink")
	same.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	rec = e.do(same)
	if b := rec.Body.String(); !strings.Contains(b, `<button type="submit" autofocus>Sign in</button>`) || strings.Contains(b, "Approve the sign-in") {
		t.Fatal("the asking browser's own page must be the plain sign-in page")
	}
	if e.waitingMatch(c) != match {
		t.Fatal("showing the pages changed the request")
	}
}

func approveForm(token, match string) *http.Request {
	return formReq("https://app.example.com"+approvePath, url.Values{"token_hash": {token}, "type": {"magiclink"}, "match": {match}},
		"Sec-Fetch-Site", "same-origin", "Origin", "null")
}

func TestApproveForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, token, _ := e.ask("form@example.com")
	match := e.waitingMatch(c)

	rec := e.do(approveForm(token, ""))
	wantStatus(t, rec, http.StatusBadRequest)
	if !strings.Contains(rec.Body.String(), `name="match"`) || !strings.Contains(rec.Body.String(), "Type the two-digit number") {
		t.Fatal("an empty number must bring the approval form back")
	}
	cross := formReq("https://app.example.com"+approvePath, url.Values{"token_hash": {token}, "match": {match}},
		"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	wantStatus(t, e.do(cross), http.StatusForbidden)
	if e.waitingMatch(c) != match {
		t.Fatal("refused form posts changed the request")
	}

	rec = e.do(approveForm(token, match))
	wantStatus(t, rec, http.StatusOK)
	wantPageHeaders(t, rec)
	if !strings.Contains(rec.Body.String(), "You can close this tab") || cookieNamed(rec, httpadapter.SecureSessionCookie) != nil {
		t.Fatal("the form approval must say the tab can close, and sign nobody in here")
	}
	rec = e.poll(c)
	if decode(t, rec)["status"] != "approved" {
		t.Fatalf("poll after the form approval: %s", rec.Body.String())
	}

	c2, token2, _ := e.ask("form2@example.com")
	rec = e.do(approveForm(token2, wrongNumber(e.waitingMatch(c2))))
	wantStatus(t, rec, http.StatusBadRequest)
	if !strings.Contains(rec.Body.String(), "did not match") || !strings.Contains(rec.Body.String(), `autocomplete="one-time-code"`) {
		t.Fatal("a wrong number must say so and offer the code form")
	}
}

func TestRequireSameDeviceHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *magiclink.Config, _ *httpadapter.Config) { c.RequireSameDevice = true })
	c, token, _ := e.ask("strict@example.com")
	wantPortalError(t, e.do(jsonReq(verifyPath, `{"token_hash":"`+token+`","type":"magiclink"}`)), http.StatusForbidden, "DEVICE_MISMATCH")

	form := formReq("https://app.example.com"+verifyPath, url.Values{"token_hash": {token}, "type": {"magiclink"}}, "Sec-Fetch-Site", "same-origin")
	rec := e.do(form)
	wantStatus(t, rec, http.StatusForbidden)
	b := rec.Body.String()
	if !strings.Contains(b, "only in the browser that asked") || !strings.Contains(b, `name="match"`) || strings.Contains(b, "Sign in on this device") {
		t.Fatal("the page after DEVICE_MISMATCH must offer approval and no sign-in here")
	}
	page := e.do(pageReq(http.MethodGet, "?token_hash="+token+"&type=magiclink"))
	if strings.Contains(page.Body.String(), "Sign in on this device") || !strings.Contains(page.Body.String(), "Approve the sign-in") {
		t.Fatal("under RequireSameDevice another device's page must offer approval only")
	}

	mine := formReq("https://app.example.com"+verifyPath, url.Values{"token_hash": {token}, "type": {"magiclink"}}, "Sec-Fetch-Site", "same-origin")
	mine.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	wantStatus(t, e.do(mine), http.StatusSeeOther)
}

func TestApproveLimitsAndOutages(t *testing.T) {
	t.Parallel()
	lim := magiclink.DefaultLimits()
	lim.VerifyPerIP = ratelimit.Rate{Limit: 2, Period: time.Minute, Burst: 2}
	e := newEnv(t, withLimits(lim))
	c, token, _ := e.ask("limited@example.com")
	for range 2 {
		wantPortalError(t, e.do(approveJSON(strings.Repeat("A", 43), "12")), http.StatusBadRequest, "TOKEN_INVALID")
	}
	wantPortalError(t, e.do(approveJSON(token, "12")), http.StatusTooManyRequests, "RATE_LIMITED")

	e.store.down.Store(true)
	wantPortalError(t, e.poll(c), http.StatusServiceUnavailable, "STORE_UNAVAILABLE")
	e.store.down.Store(false)
	e.waitingMatch(c)

	e2 := newEnv(t)
	c2, token2, _ := e2.ask("outage@example.com")
	match2 := e2.waitingMatch(c2)
	e2.store.down.Store(true)
	wantPortalError(t, e2.do(approveJSON(token2, match2)), http.StatusServiceUnavailable, "STORE_UNAVAILABLE")
	rec := e2.do(approveForm(token2, match2))
	wantStatus(t, rec, http.StatusServiceUnavailable)
	if rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "temporarily unavailable") {
		t.Fatal("the approval form during an outage must say so, with Retry-After")
	}
	e2.store.down.Store(false)
	if e2.waitingMatch(c2) != match2 {
		t.Fatal("an approval during an outage changed the request")
	}
}

func TestPendingAndApproveMethods(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wantPortalError(t, e.do(newReq(http.MethodPost, "https://app.example.com"+pendingPath, "application/json", "{}")), http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
	wantPortalError(t, e.do(newReq(http.MethodGet, "https://app.example.com"+approvePath, "", "")), http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
}
