package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// resolveToLoopback makes Chromium resolve each name to 127.0.0.1, as a
// DNS-rebinding attacker's name would after the rebind.
func resolveToLoopback(names ...string) chromedp.ExecAllocatorOption {
	rules := make([]string, len(names))
	for i, n := range names {
		rules[i] = "MAP " + n + " 127.0.0.1"
	}
	return chromedp.Flag("host-resolver-rules", strings.Join(rules, ", "))
}

// TestBrowserForeignFormPostRefused: a page on another site whose form
// posts to the example's /signin (a CSRF attempt to mail the victim
// address) gets the 403 page, and no mail is sent.
func TestBrowserForeignFormPostRefused(t *testing.T) {
	t.Parallel()
	base := startServer(t)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>win a prize</title>
<form method="post" action="%s/signin"><input type="hidden" name="email" value="victim@example.com">
<button id="go" type="submit">Claim</button></form>`, base)
	}))
	t.Cleanup(evil.Close)
	_, evilPort, _ := net.SplitHostPort(strings.TrimPrefix(evil.URL, "http://"))
	s := newSession(t, base, resolveToLoopback("evil.test"))

	s.do("opening the foreign page and posting its form",
		chromedp.Navigate("http://evil.test:"+evilPort+"/"),
		chromedp.Click(chromedp.ID("go")),
		chromedp.WaitVisible(chromedp.ID("title")),
	)
	s.screenshot("csrf-refused")
	if title := s.text("#title"); title != "Request refused" {
		t.Fatalf("the foreign post landed on %q, want the refusal page", title)
	}
	if raw := s.mailboxJSON(); strings.Contains(raw, "victim@example.com") {
		t.Fatalf("the foreign post sent a mail: %s", raw)
	}
}

// TestBrowserRebindingRefused: a page at attacker.test whose name now
// resolves to 127.0.0.1 reaches the example on its port, but is answered
// 421 on the mailbox, so it reads no live link or code.
func TestBrowserRebindingRefused(t *testing.T) {
	t.Parallel()
	base := startServer(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	s := newSession(t, base, resolveToLoopback("attacker.test"))
	s.requestLink("victim@example.com") // a live code in the mailbox
	code := s.lastMail("victim@example.com").Code

	for _, path := range []string{"/dev/mailbox.json", "/dev/mailbox", "/"} {
		s.do("opening "+path+" under the rebound name",
			chromedp.Navigate("http://attacker.test:"+port+path),
			chromedp.WaitReady(chromedp.CSS("body")),
		)
		body := s.bodyText()
		if !strings.Contains(body, "does not serve the host") || strings.Contains(body, code) {
			t.Fatalf("%s under the rebound name shows %q, want the 421 refusal and no code", path, body)
		}
	}
}

// mailboxJSON reads /dev/mailbox.json in a second tab, as it is served to
// the server's own origin.
func (s *session) mailboxJSON() string {
	s.t.Helper()
	tab, cancel := chromedp.NewContext(s.ctx)
	defer cancel()
	if err := chromedp.Do(tab, chromedp.Navigate(s.base+"/dev/mailbox.json")); err != nil {
		s.t.Fatalf("opening the mailbox: %v", err)
	}
	raw, err := chromedp.Run(tab, chromedp.TextContent(chromedp.CSS("body > pre")))
	if err != nil {
		s.t.Fatalf("reading the mailbox: %v", err)
	}
	return raw
}
