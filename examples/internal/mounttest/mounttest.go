// Package mounttest is the shared in-process test of the examples that
// mount magiclink on an existing application (stdmux, chi): the same
// behaviour must hold whichever router serves it.
package mounttest

import (
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink/mailer"
)

// NewApp builds an example application for origin, sending mail with m; it
// returns the handler and a function that releases the app.
type NewApp func(origin string, m mailer.Mailer) (http.Handler, func() error, error)

// Run drives the application in-process: its own routes still work (its
// home page contains homeMarker), the protected route refuses strangers,
// and a sign-in through magiclink's endpoints opens it.
func Run(t *testing.T, newApp NewApp, homeMarker string) {
	t.Helper()
	// The origin must be known before the app is built, so listen first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://" + ln.Addr().String()
	inbox := mailer.NewMemory()
	handler, closeApp, err := newApp(origin, inbox)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeApp() })
	srv := httptest.NewUnstartedServer(handler)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: srv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// do sends a request; a non-empty pageOrigin is the Origin header a
	// browser sends with a post from the page the request comes from.
	do := func(method, path, contentType, pageOrigin, body string) (int, http.Header, string) {
		t.Helper()
		if strings.HasPrefix(path, "/") {
			path = origin + path
		}
		req, err := http.NewRequest(method, path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if pageOrigin != "" {
			req.Header.Set("Origin", pageOrigin)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(data)
	}

	if status, _, body := do("GET", "/", "", "", ""); status != http.StatusOK || !strings.Contains(body, homeMarker) {
		t.Fatalf("GET / = %d %q: the app's own page is gone", status, body)
	}
	if status, _, _ := do("GET", "/healthz", "", "", ""); status != http.StatusOK {
		t.Fatalf("GET /healthz = %d", status)
	}
	if status, _, _ := do("GET", "/account", "", "", ""); status != http.StatusUnauthorized {
		t.Fatalf("GET /account signed out = %d, want 401", status)
	}

	status, _, body := do("POST", "/auth/send-magic-link", "application/json", origin, `{"email":"ada@example.com","callback_next":"/account"}`)
	if status != http.StatusOK || body != `{"ok":true}`+"\n" {
		t.Fatalf("send-magic-link = %d %q", status, body)
	}
	m, ok := inbox.Last("ada@example.com")
	if !ok {
		t.Fatal("no mail captured")
	}
	status, _, page := do("GET", m.Link, "", "", "")
	token := regexp.MustCompile(`name="token_hash" value="([^"]+)"`).FindStringSubmatch(page)
	if status != http.StatusOK || token == nil {
		t.Fatalf("GET the link = %d, no confirm form:\n%s", status, page)
	}
	// The confirm page is served with Referrer-Policy: no-referrer, so a
	// browser posts its form with "Origin: null".
	form := url.Values{"token_hash": {token[1]}, "type": {"magiclink"}}.Encode()
	status, hdr, _ := do("POST", "/auth/verify", "application/x-www-form-urlencoded", "null", form)
	if status != http.StatusSeeOther || hdr.Get("Location") != origin+"/account" {
		t.Fatalf("confirm = %d to %q, want 303 to %s/account", status, hdr.Get("Location"), origin)
	}
	if status, _, body := do("GET", "/account", "", "", ""); status != http.StatusOK || !strings.HasPrefix(body, "Signed in as ada@example.com") {
		t.Fatalf("GET /account signed in = %d %q", status, body)
	}

	if status, _, _ := do("POST", "/auth/sign-out", "application/x-www-form-urlencoded", origin, ""); status != http.StatusSeeOther {
		t.Fatalf("sign-out = %d, want 303", status)
	}
	if status, _, _ := do("GET", "/account", "", "", ""); status != http.StatusUnauthorized {
		t.Fatalf("GET /account after sign-out = %d, want 401", status)
	}
}
