package httpadapter_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/ratelimit"
)

// The tests in this file each pin one promise of SECURITY.md's threat
// model that the attack and fault tests do not already cover.

// fakeClock is a clock the test moves forward.
type fakeClock struct{ off atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *fakeClock) advance(d time.Duration) { c.off.Add(int64(d)) }

func sendFor(t *testing.T, r *rig, email string) *mailer.Message {
	t.Helper()
	rec := r.do(jsonRequest(sendPath, map[string]string{"email": email, "callback_origin": appOrigin}))
	if rec.Code != http.StatusOK {
		t.Fatalf("send %s: %d %s", email, rec.Code, rec.Body)
	}
	m, ok := r.mail.Last(email)
	if !ok {
		t.Fatalf("no mail to %s", email)
	}
	return m
}

func verifyToken(r *rig, tok string) *httptest.ResponseRecorder {
	return r.do(jsonRequest(verifyPath, map[string]string{"token_hash": tok, "type": "magiclink"}))
}

// TestClaimScannerCannotBurnLink: GET, HEAD and OPTIONS of the link, as
// often as a scanner likes, leave it usable; the confirm page carries the
// promised headers and no script.
func TestClaimScannerCannotBurnLink(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	m := sendFor(t, r, "scanned@example.com")
	u, _ := url.Parse(m.Link)
	for i := range 5 {
		for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodOptions} {
			rec := r.do(httptest.NewRequest(method, u.Path+"?"+u.RawQuery, nil))
			if rec.Code >= 300 {
				t.Fatalf("%s #%d of the link: %d", method, i, rec.Code)
			}
			if method == http.MethodGet {
				h := rec.Header()
				csp := h.Get("Content-Security-Policy")
				if h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Frame-Options") != "DENY" ||
					h.Get("Cache-Control") != "no-store" || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
					t.Errorf("confirm page headers: %v", h)
				}
				if strings.Contains(strings.ToLower(rec.Body.String()), "<script") {
					t.Error("the confirm page contains a script")
				}
			}
		}
	}
	if rec := verifyToken(r, linkToken(m.Link)); rec.Code != http.StatusOK {
		t.Fatalf("after 15 scanner fetches the link no longer works: %d %s", rec.Code, rec.Body)
	}
}

// TestClaimCodeDiesAfterFiveWrongTries: five wrong codes kill the code —
// the right one fails afterwards — and the same mail's link still works
// (the link is only consumed with a correct code).
func TestClaimCodeDiesAfterFiveWrongTries(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	m := sendFor(t, r, "guess@example.com")
	for i := range 5 {
		wrong := fmt.Sprintf("%06d", (mustAtoi(m.Code)+1+i)%1_000_000)
		rec := r.do(jsonRequest(verifyPath, map[string]string{"email": "guess@example.com", "code": wrong}))
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "CODE_INVALID") {
			t.Fatalf("wrong code %d: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	rec := r.do(jsonRequest(verifyPath, map[string]string{"email": "guess@example.com", "code": m.Code}))
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("the right code after five wrong ones: %d %s, want 400", rec.Code, rec.Body)
	}
}

func mustAtoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestClaimOneAnswerForEveryBadLink: unknown, expired, used and malformed
// links all get the same TOKEN_INVALID answer.
func TestClaimOneAnswerForEveryBadLink(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{}
	r := newRig(t, rigOptions{svc: magiclink.Config{Clock: clock.now}})
	used := linkToken(sendFor(t, r, "used@example.com").Link)
	if rec := verifyToken(r, used); rec.Code != http.StatusOK {
		t.Fatalf("first use: %d", rec.Code)
	}
	expired := linkToken(sendFor(t, r, "expired@example.com").Link)
	clock.advance(16 * time.Minute)
	unknown := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	var bodies []string
	for name, tok := range map[string]string{"used": used, "expired": expired, "unknown": unknown,
		"malformed": "not-a-token", "truncated": unknown[:42], "padded": unknown + "="} {
		rec := verifyToken(r, tok)
		_, e, _ := decodePortal(rec.Body.Bytes())
		if rec.Code != http.StatusBadRequest || e.Code != "TOKEN_INVALID" {
			t.Errorf("%s link: %d %s, want 400 TOKEN_INVALID", name, rec.Code, rec.Body)
		}
		bodies = append(bodies, e.Error)
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Errorf("bad links are told apart: %q vs %q", bodies[0], b)
		}
	}
}

// TestClaimAddressLimitHoldsAcrossIPs: with the default limits, an address
// gets its burst of 2 mails however many IPs ask (a botnet cannot
// mail-bomb it).
func TestClaimAddressLimitHoldsAcrossIPs(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{svc: magiclink.Config{Limits: magiclink.DefaultLimits()}})
	ok := 0
	for i := range 200 {
		req := jsonRequest(sendPath, map[string]string{"email": "target@example.com", "callback_origin": appOrigin})
		req.RemoteAddr = fmt.Sprintf("198.51.%d.%d:1234", i/250, 1+i%250)
		switch rec := r.do(req); rec.Code {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	if ok != 2 || r.mail.Len() != 2 {
		t.Errorf("200 IPs got %d answers 200 and %d mails for one address; want exactly 2 (the default burst)", ok, r.mail.Len())
	}
}

// TestClaimLeakedAPIKey: a partner key cannot get a link for an existing
// user without that user's secret key, cannot reach another organisation's
// user, and cannot choose the link's origin.
func TestClaimLeakedAPIKey(t *testing.T) {
	t.Parallel()
	const otherKey = "pk_other_0123456789abcdef0123"
	r := newRig(t, rigOptions{http: httpadapter.Config{APIKeys: []httpadapter.APIKey{
		{ID: "a", Key: partnerAPIKey, OrgID: "orgA", PortalOrigin: appOrigin},
		{ID: "b", Key: otherKey, OrgID: "orgB", PortalOrigin: "https://b.tenant.example.com"},
	}}})
	create := func(key, secret, extra string) (int, string) {
		req := jsonRequest(createPath, `{"firstName":"A","lastName":"B","email":"shared@example.com","phone":"+905555555555","languageCode":"en","mailPermission":true`+extra+`}`)
		req.Header.Set("X-Api-Key", key)
		if secret != "" {
			req.Header.Set("X-User-Secret-Key", secret)
		}
		rec := r.do(req)
		return rec.Code, rec.Body.String()
	}
	code, body := create(otherKey, "", "")
	if code != http.StatusOK {
		t.Fatalf("org B creates its user: %d %s", code, body)
	}
	secretB := body[strings.Index(body, `"SecretKey":"`)+13:]
	secretB = secretB[:strings.IndexByte(secretB, '"')]
	if code, body := create(otherKey, "", ""); code != http.StatusConflict {
		t.Errorf("existing user without the secret key: %d %s, want 409", code, body)
	}
	if code, body := create(otherKey, strings.Repeat("x", 44), ""); code != http.StatusUnauthorized {
		t.Errorf("existing user with a wrong secret key: %d %s, want 401", code, body)
	}
	// Key A and org B's user secret: another organisation is unreachable.
	if code, body := create(partnerAPIKey, secretB, ""); code != http.StatusUnauthorized {
		t.Errorf("org A's key with org B's user secret: %d %s, want 401", code, body)
	}
	// Key A may create its own user with the same address, and its link
	// goes to A's portal whatever the body asks for.
	code, body = create(partnerAPIKey, "", `,"callback_origin":"https://evil.com","origin":"https://evil.com","next":"//evil.com"`)
	if code != http.StatusOK || !strings.Contains(body, `"MagicLink":"https://app.example.com/auth/verify?`) || strings.Contains(body, "evil") {
		t.Errorf("org A's user with origin fields in the body: %d %s", code, body)
	}
	if code, body := create("pk_unknown_0123456789abcdef", "", ""); code != http.StatusUnauthorized {
		t.Errorf("unknown API key: %d %s", code, body)
	}
}

// TestClaimSessionCookieFlags: the session cookie is HttpOnly and
// SameSite=Lax, and Secure with the __Host- name unless the request is
// plain http to loopback from loopback; a Host header alone never turns
// Secure off.
func TestClaimSessionCookieFlags(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	for _, tc := range []struct {
		host, remote string
		secure       bool
	}{
		{"app.example.com", "192.0.2.1:1234", true},
		{"127.0.0.1:8080", "127.0.0.1:50000", false},
		{"127.0.0.1:8080", "192.0.2.1:1234", true},
	} {
		m := sendFor(t, r, "cookie@example.com")
		req := httptest.NewRequest(http.MethodPost, "http://"+tc.host+verifyPath,
			strings.NewReader(url.Values{"token_hash": {linkToken(m.Link)}, "type": {"magiclink"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = tc.remote
		rec := r.do(req)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("%s from %s: form verify: %d %s", tc.host, tc.remote, rec.Code, rec.Body)
		}
		resp := http.Response{Header: rec.Header()}
		want := map[bool]string{true: httpadapter.SecureSessionCookie, false: httpadapter.InsecureSessionCookie}[tc.secure]
		var c *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == want {
				c = ck
			}
		}
		if c == nil {
			t.Fatalf("%s from %s: no %s cookie in %v", tc.host, tc.remote, want, rec.Header()["Set-Cookie"])
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != tc.secure || c.Path != "/" {
			t.Errorf("%s from %s: cookie HttpOnly=%v SameSite=%v Secure=%v Path=%q; want true, Lax, %v, /", tc.host, tc.remote, c.HttpOnly, c.SameSite, c.Secure, c.Path, tc.secure)
		}
	}
}

// TestClaimSessionHeaderAmbiguity: a protected route refuses a request
// with two Authorization headers, even when one of them holds a valid
// session, and a forged session.
func TestClaimSessionHeaderAmbiguity(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	m := sendFor(t, r, "amb@example.com")
	rec := verifyToken(r, linkToken(m.Link))
	body := rec.Body.String()
	i := strings.Index(body, `"access_token":"`)
	if rec.Code != http.StatusOK || i < 0 {
		t.Fatalf("verify: %d %s", rec.Code, body)
	}
	tok := body[i+16:]
	tok = tok[:strings.IndexByte(tok, '"')]
	protected := r.h.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	call := func(auth ...string) int {
		req := httptest.NewRequest(http.MethodGet, "/me", nil)
		for _, a := range auth {
			req.Header.Add("Authorization", a)
		}
		rec := httptest.NewRecorder()
		protected.ServeHTTP(rec, req)
		return rec.Code
	}
	if c := call("Bearer " + tok); c != http.StatusNoContent {
		t.Fatalf("control: valid session got %d", c)
	}
	parts := strings.Split(tok, ".")
	for name, auth := range map[string][]string{
		"valid first, garbage second":   {"Bearer " + tok, "Bearer garbage"},
		"garbage first, valid second":   {"Bearer garbage", "Bearer " + tok},
		"alg none":                      {"Bearer " + rawJWT(map[string]any{"alg": "none"}, map[string]any{"sub": "usr_x", "iss": "magiclink", "exp": 9999999999}, nil)},
		"payload swapped":               {"Bearer " + parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"usr_admin","iss":"magiclink","exp":9999999999}`)) + "." + parts[2]},
		"signature stripped":            {"Bearer " + parts[0] + "." + parts[1] + "."},
		"HS256 with the session pubkey": {"Bearer " + hs256WithSessionKey(t, r)},
	} {
		if c := call(auth...); c != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, c)
		}
	}
}

// hs256WithSessionKey forges a session signed HS256 with the service's
// public access-token key (from its JWKS): algorithm confusion.
func hs256WithSessionKey(t *testing.T, r *rig) string {
	t.Helper()
	var set struct {
		Keys []struct{ Kid, X string } `json:"keys"`
	}
	if err := json.Unmarshal(r.svc.JWKS(), &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("no session key in the JWKS: %v", err)
	}
	pub, err := base64.RawURLEncoding.DecodeString(set.Keys[0].X)
	if err != nil {
		t.Fatal(err)
	}
	return signHS256(map[string]any{"alg": "HS256", "typ": "JWT", "kid": set.Keys[0].Kid},
		map[string]any{"sub": "usr_admin", "iss": "magiclink", "exp": time.Now().Add(time.Hour).Unix()}, pub)
}

// TestClaimConfigRefusesUnsafeOrigins: http origins other than loopback and
// wildcards over a public suffix fail at New, not at request time.
func TestClaimConfigRefusesUnsafeOrigins(t *testing.T) {
	t.Parallel()
	for _, o := range []string{"http://app.example.com", "https://*.com", "https://*.co.uk", "https://*.github.io",
		"null", "https://user@app.example.com", "https://app.example.com/path", "https://*", "https://app.*.example.com"} {
		if _, err := magiclink.New(magiclink.Config{Origins: []string{o}, Secret: testSecret, Logger: discardLogger()}); err == nil {
			t.Errorf("New accepted the origin %q", o)
		}
	}
	for _, o := range []string{"http://localhost:3000", "http://127.0.0.1:8080", "http://[::1]:8080"} {
		svc, err := magiclink.New(magiclink.Config{Origins: []string{o}, Secret: testSecret, Logger: discardLogger()})
		if err != nil {
			t.Errorf("New refused the loopback origin %q: %v", o, err)
			continue
		}
		_ = svc.Close()
	}
}

// TestClaimIPv6LimitedPerSlash64: addresses of one IPv6 /64 share the
// per-IP limit; another /64 has its own. Garbage in the walked part of a
// forwarded header is an error, never an empty or shared key.
func TestClaimIPv6LimitedPerSlash64(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{
		svc:  magiclink.Config{Limits: magiclink.Limits{SendPerIP: ratelimit.Rate{Limit: 2, Period: time.Hour, Burst: 2}}},
		http: httpadapter.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
	})
	send := func(remote, xff string, i int) int {
		req := jsonRequest(sendPath, map[string]string{"email": fmt.Sprintf("v6-%d@example.com", i), "callback_origin": appOrigin})
		req.RemoteAddr = remote
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		return r.do(req).Code
	}
	ok := 0
	for i := range 50 {
		if send(fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1), "", i) == http.StatusOK {
			ok++
		}
	}
	if ok != 2 {
		t.Errorf("50 addresses of one /64 got %d answers 200, want 2", ok)
	}
	if c := send("[2001:db8:1:3::1]:443", "", 99); c != http.StatusOK {
		t.Errorf("another /64 got %d, want 200", c)
	}
	for _, xff := range []string{"garbage", "198.51.100.1, garbage", "1.2.3.4:99999", "[::1", "unknown"} {
		c := send("10.0.0.1:1000", xff, 100)
		if c != http.StatusBadRequest && c != http.StatusTooManyRequests {
			t.Errorf("X-Forwarded-For %q from a trusted proxy: %d, want 400", xff, c)
		}
		if c == http.StatusOK {
			t.Errorf("X-Forwarded-For %q was accepted with some fallback key", xff)
		}
	}
}

// TestClaimCodeAfterScannerSubmitsForm: SECURITY.md says that if a scanner
// does submit the confirm form (burning the link), "the 6-digit code in the
// same mail still signs the user in on any device".
func TestClaimCodeAfterScannerSubmitsForm(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	m := sendFor(t, r, "burned@example.com")
	form := url.Values{"token_hash": {linkToken(m.Link)}, "type": {"magiclink"}}.Encode()
	req := httptest.NewRequest(http.MethodPost, verifyPath, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if rec := r.do(req); rec.Code != http.StatusSeeOther {
		t.Fatalf("the scanner's form post: %d", rec.Code)
	}
	rec := r.do(jsonRequest(verifyPath, map[string]string{"email": "burned@example.com", "code": m.Code}))
	if rec.Code != http.StatusOK {
		t.Errorf("the mail's code after a scanner burned its link: %d %s; SECURITY.md promises it still signs in", rec.Code, rec.Body)
	}
}
