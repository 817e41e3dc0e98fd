package app

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink/httpadapter"
)

// hostRequest sends method path to base with the Host header set to host
// and returns the status and body.
func hostRequest(t *testing.T, base, method, path, host string) (int, string) {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader("email=rebind%40example.com")
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if method == http.MethodPost {
		// A same-origin post as the rebinding page would send it: its
		// origin is its own name, now pointing at 127.0.0.1.
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://"+host)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s (Host %s): %v", method, path, host, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// everyRoute lists each route of the example, the adapter's included, plus
// a path no route serves.
var everyRoute = []struct{ method, path string }{
	{http.MethodGet, "/"},
	{http.MethodPost, "/signin"},
	{http.MethodGet, "/me"},
	{http.MethodGet, "/dev/mailbox"},
	{http.MethodGet, "/dev/mailbox/"},
	{http.MethodGet, "/dev/mailbox/?format=json"},
	{http.MethodGet, "/dev/mailbox.json"},
	{http.MethodGet, "/static/style.css"},
	{http.MethodPost, httpadapter.PathSendMagicLink},
	{http.MethodGet, httpadapter.PathVerify},
	{http.MethodPost, httpadapter.PathVerify},
	{http.MethodPost, httpadapter.PathSignOut},
	{http.MethodPost, httpadapter.PathCreateMagicLink},
	{http.MethodPost, httpadapter.PathAdminMagicLink},
	{http.MethodGet, "/no/such/page"},
}

// TestRebindingHostRefused: a page that rebinds its DNS name to 127.0.0.1
// reaches the server with its own name in Host. Every route must then
// answer 421 and show nothing — above all not the dev mailbox's live code.
func TestRebindingHostRefused(t *testing.T) {
	t.Parallel()
	ts := start(t, map[string]string{"MAGICLINK_API_KEY": "dev-key-0123456789"})
	b := newBrowser(t, ts.base)
	resp, body := b.do(http.MethodPost, "/signin", url.Values{"email": {"victim@example.com"}})
	b.expect(resp, body, http.StatusOK)
	code := b.lastMail("victim@example.com").Code
	if code == "" {
		t.Fatal("no code in the victim's mail")
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(ts.base, "http://"))

	for _, host := range []string{
		"attacker.example:" + port,
		"127.0.0.1.nip.io:" + port,
		"localhost.:" + port, // a trailing dot is another name
		"localhost:1" + port, // another port
		"attacker.example",
	} {
		for _, rt := range everyRoute {
			status, body := hostRequest(t, ts.base, rt.method, rt.path, host)
			if status != http.StatusMisdirectedRequest || !strings.Contains(body, "does not serve the host") ||
				!strings.Contains(body, "MAGICLINK_ALLOWED_ORIGINS") {
				t.Errorf("%s %s with Host %s = %d %q, want 421 naming the host", rt.method, rt.path, host, status, body)
			}
			if strings.Contains(body, code) || strings.Contains(body, "victim@") {
				t.Errorf("%s %s with Host %s leaked the mailbox: %q", rt.method, rt.path, host, body)
			}
		}
	}
	if got := len(b.mails()); got != 1 {
		t.Errorf("the refused posts sent mail: %d mails, want 1", got)
	}

	// The names the server is reached by are served.
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "LOCALHOST:" + port, "[::1]:" + port} {
		if status, body := hostRequest(t, ts.base, http.MethodGet, "/dev/mailbox.json", host); status != http.StatusOK {
			t.Errorf("GET /dev/mailbox.json with Host %s = %d %q, want 200", host, status, body)
		}
	}
	// Health probes come by IP or service name: they answer any Host.
	for _, path := range []string{"/healthz", "/readyz"} {
		if status, _ := hostRequest(t, ts.base, http.MethodGet, path, "10.1.2.3:"+port); status != http.StatusOK {
			t.Errorf("GET %s with a foreign Host = %d, want 200", path, status)
		}
	}
}

// TestNoHostIs400: an HTTP/1.0 request may omit Host; it is refused too.
func TestNoHostIs400(t *testing.T) {
	t.Parallel()
	ts := start(t, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /dev/mailbox.json HTTP/1.0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "no Host header") {
		t.Fatalf("no Host = %d %q, want 400", resp.StatusCode, body)
	}
}

// TestAllowedOriginHostsServed: behind a proxy the Host is the public name,
// which MAGICLINK_ALLOWED_ORIGINS (patterns included) and the portal origin
// list; other names are still refused.
func TestAllowedOriginHostsServed(t *testing.T) {
	t.Parallel()
	ts := start(t, map[string]string{
		"MAGICLINK_ALLOWED_ORIGINS": "https://app.example.com, https://*.example.org, https://portal.example.net",
		"MAGICLINK_PORTAL_ORIGIN":   "https://portal.example.net",
	})
	for host, want := range map[string]int{
		"app.example.com":     http.StatusOK,
		"APP.example.com":     http.StatusOK,
		"app.example.com:443": http.StatusOK,
		"a.example.org":       http.StatusOK,
		"portal.example.net":  http.StatusOK,
		"example.org":         http.StatusMisdirectedRequest,
		"evil.example.com":    http.StatusMisdirectedRequest,
		"app.example.com:444": http.StatusMisdirectedRequest,
		"app.example.com.":    http.StatusMisdirectedRequest,
	} {
		if status, body := hostRequest(t, ts.base, http.MethodGet, "/", host); status != want {
			t.Errorf("GET / with Host %s = %d %q, want %d", host, status, body, want)
		}
	}
}

// TestMailboxNotFramable: the mailbox pages carry anti-framing headers, so
// another site cannot frame live links and codes either.
func TestMailboxNotFramable(t *testing.T) {
	t.Parallel()
	ts := start(t, nil)
	for _, path := range []string{"/dev/mailbox", "/dev/mailbox/", "/dev/mailbox.json"} {
		resp, err := http.Get(ts.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Frame-Options") != "DENY" ||
			!strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("GET %s = %d, X-Frame-Options %q, CSP %q; want 200 with DENY and frame-ancestors 'none'",
				path, resp.StatusCode, resp.Header.Get("X-Frame-Options"), resp.Header.Get("Content-Security-Policy"))
		}
	}
}
