package httpadapter_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink/httpadapter"
)

// Every JSON post of the verify family, and the token endpoint, refuses a
// request whose client address cannot be told with 400 VALIDATION_FAILED,
// before the Service sees it; issues in the fields are answered first.
func TestJSONPostsNeedAClientAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct{ name, path, body, wantMsg string }{
		{"approve", approvePath, `{"token_hash":"x","type":"magiclink","match":"12"}`, "the client address could not be determined"},
		{"verify", verifyPath, `{"token_hash":"x","type":"magiclink"}`, "the client address could not be determined"},
		{"token", httpadapter.PathToken, `{"grant_type":"refresh_token","refresh_token":"x"}`, "the client address could not be determined"},
		{"approve, fields first", approvePath, `{"token_hash":"x","type":"other"}`, "match is required"},
		{"verify, fields first", verifyPath, `{"token_hash":7}`, "token_hash must be a string"},
		{"token, fields first", httpadapter.PathToken, `{"grant_type":"password","refresh_token":"x"}`, `grant_type must be "refresh_token"`},
	} {
		r := jsonReq("https://app.example.com"+c.path, c.body)
		r.RemoteAddr = "not-an-ip"
		m := wantPortalError(t, e.do(r), http.StatusBadRequest, "VALIDATION_FAILED")
		if m["error"] != c.wantMsg {
			t.Errorf("%s: error = %q, want %q", c.name, m["error"], c.wantMsg)
		}
	}
	if n := e.inbox.Len(); n != 0 {
		t.Errorf("%d mails sent; want none", n)
	}
}

// The pages' form posts answer the same with the request-invalid page that
// names the network address as the reason.
func TestFormPostsNeedAClientAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	want := texts(t, "en")["request_invalid.ip"]
	for _, c := range []struct {
		name, path string
		form       url.Values
	}{
		{"approve", approvePath, url.Values{"token_hash": {"x"}, "type": {"magiclink"}, "match": {"12"}}},
		{"verify", verifyPath, url.Values{"token_hash": {"x"}, "type": {"magiclink"}}},
		{"send", sendPath, url.Values{"email": {"ada@example.com"}, "callback_origin": {appOrigin}}},
	} {
		r := withLang(formReq(appOrigin+c.path, c.form, sameSite...), "en")
		r.RemoteAddr = "not-an-ip"
		body := wantPageIn(t, e.do(r), "en", "request_invalid.title", http.StatusBadRequest)
		if !strings.Contains(body, want) {
			t.Errorf("%s: the page does not say %q:\n%s", c.name, want, truncate(body))
		}
	}
	if n := e.inbox.Len(); n != 0 {
		t.Errorf("%d mails sent; want none", n)
	}
}

// A cross-site form post to any of them gets the blocked page, before its
// body is read; the approval's names what was blocked.
func TestFormPostsMustBeSameSite(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct{ path, title string }{
		{approvePath, "blocked.approve_title"},
		{verifyPath, "blocked.title"},
		{sendPath, "blocked.title"},
	} {
		r := withLang(formReq(appOrigin+c.path, url.Values{"pad": {strings.Repeat("x", 65<<10)}},
			"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"), "en")
		wantPageIn(t, e.do(r), "en", c.title, http.StatusForbidden)
	}
}
