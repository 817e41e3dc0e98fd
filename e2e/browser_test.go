package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/magiclink-go/magiclink/examples/server/app"
	"github.com/magiclink-go/magiclink/internal/syncbuf"
)

// requireBrowserEnv turns a missing Chromium from a skip into a failure.
const requireBrowserEnv = "MAGICLINK_REQUIRE_BROWSER"

// screenshotsEnv names the directory screenshots go to; unset, none are
// taken (the tests still render every page and assert on it).
const screenshotsEnv = "MAGICLINK_SCREENSHOTS"

// scenarioTimeout bounds each scenario, browser start included;
// stepTimeout bounds each step of it.
const (
	scenarioTimeout = 60 * time.Second
	stepTimeout     = 15 * time.Second
)

// findBrowser returns the Chromium to drive, or skips (fails under
// MAGICLINK_REQUIRE_BROWSER=1) when there is none.
func findBrowser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium found (looked for chromium, chromium-browser, google-chrome); install it with `apt-get install chromium` to run the browser tests"
	if os.Getenv(requireBrowserEnv) == "1" {
		t.Fatalf("%s, and %s=1 requires it", msg, requireBrowserEnv)
	}
	t.Skip(msg)
	return ""
}

// startServer runs the example server in-process on a free loopback port
// and stops it when the test ends.
func startServer(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var out syncbuf.Buffer
	getenv := func(k string) string {
		switch k {
		case "ADDR":
			return "127.0.0.1:0"
		case "MAGICLINK_SECRET":
			return "e2e-secret-e2e-secret-e2e-secret-e2e"
		}
		return ""
	}
	go func() { done <- app.Run(ctx, nil, getenv, &out, &out, ready) }()
	select {
	case base := <-ready:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server shutdown: %v", err)
			}
			if t.Failed() {
				t.Logf("server output:\n%s", out.String())
			}
		})
		return base
	case err := <-done:
		cancel()
		t.Fatalf("server did not start: %v\n%s", err, out.String())
		return ""
	}
}

// session is one browser run against the server.
type session struct {
	t     *testing.T
	base  string
	ctx   context.Context
	shots string
	n     int
	// lang is the language the example's pages are expected in ("" for
	// English); chosen says it was picked with ?locale= rather than by
	// the browser's Accept-Language.
	lang   string
	chosen bool
}

// langQuery is what the example's URLs carry for a chosen language.
func (s *session) langQuery() string {
	if !s.chosen {
		return ""
	}
	return "?locale=" + s.lang
}

// exampleText is the example server's text key in the session's language.
func (s *session) exampleText(key string) string {
	s.t.Helper()
	lang := cmp.Or(s.lang, "en")
	raw, err := os.ReadFile(filepath.Join("..", "examples", "server", "app", "locales", lang+".json"))
	if err != nil {
		s.t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		s.t.Fatal(err)
	}
	text, ok := m[key]
	if !ok {
		s.t.Fatalf("the example has no text %q", key)
	}
	return text
}

// newSession starts a fresh headless Chromium with its own profile, a tab,
// and a deadline for the scenario; extra adds browser flags.
func newSession(t *testing.T, base string, extra ...chromedp.ExecAllocatorOption) *session {
	t.Helper()
	browser := findBrowser(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 800),
	}
	opts = append(opts, extra...)
	ctx, cancelTimeout := context.WithTimeout(context.Background(), scenarioTimeout)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	var logs syncbuf.Buffer
	logf := func(format string, args ...any) { fmt.Fprintf(&logs, format+"\n", args...) }
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(logf))
	t.Cleanup(func() {
		cancelBrowser() // closes the browser and waits for it to exit
		cancelAlloc()
		cancelTimeout()
		if t.Failed() && logs.String() != "" {
			t.Logf("chromedp errors:\n%s", logs.String())
		}
	})
	// The first action starts the browser.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", browser, err)
	}
	dir := os.Getenv(screenshotsEnv)
	if dir != "" {
		dir = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &session{t: t, base: base, ctx: bctx, shots: dir}
}

// do runs actions in the session's tab, failing the test with what was
// being done.
func (s *session) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	// A step gets part of the scenario's time, so that a failure leaves
	// time for a screenshot and a look at the page.
	ctx, cancel := context.WithTimeout(s.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		s.screenshot("failed")
		s.t.Fatalf("%s: %v (the page at %s says: %s)", what, err, s.location(), s.bodyText())
	}
}

// location is the tab's URL, or "?" when it cannot be read.
func (s *session) location() string {
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	return u
}

// bodyText is the page's visible text, shortened, for failure messages.
func (s *session) bodyText() string {
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	v = strings.Join(strings.Fields(v), " ")
	if len(v) > 400 {
		v = v[:400] + "…"
	}
	return v
}

// text returns the visible text of the first element sel matches.
func (s *session) text(sel chromedp.CSS) string {
	s.t.Helper()
	v, err := chromedp.Run(s.ctx, chromedp.Text(sel))
	if err != nil {
		s.screenshot("failed")
		s.t.Fatalf("reading %s: %v", sel, err)
	}
	return strings.TrimSpace(v)
}

// screenshot saves the whole page as the next numbered PNG, when
// MAGICLINK_SCREENSHOTS names a directory.
func (s *session) screenshot(name string) {
	s.t.Helper()
	if s.shots == "" {
		return
	}
	png, err := chromedp.Run(s.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Logf("screenshot %s: %v", name, err)
		return
	}
	s.n++
	path := filepath.Join(s.shots, fmt.Sprintf("%02d-%s.png", s.n, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("screenshot: %s", path)
}

// mail is one entry of /dev/mailbox.json.
type mail struct {
	To   string `json:"to"`
	Link string `json:"link"`
	Code string `json:"code"`
}

// lastMail reads the dev mailbox in a second tab of the same browser, as a
// user would open their mail next to the tab that asked for it, and
// returns the newest mail to email.
func (s *session) lastMail(email string) mail {
	s.t.Helper()
	tab, cancel := chromedp.NewContext(s.ctx)
	defer cancel()
	if err := chromedp.Do(tab, chromedp.Navigate(s.base+"/dev/mailbox.json")); err != nil {
		s.t.Fatalf("opening the mailbox: %v", err)
	}
	// Chromium shows a JSON document as text in a <pre>.
	raw, err := chromedp.Run(tab, chromedp.TextContent(chromedp.CSS("body > pre")))
	if err != nil {
		s.t.Fatalf("reading the mailbox: %v", err)
	}
	var mails []mail
	if err := json.Unmarshal([]byte(raw), &mails); err != nil {
		s.t.Fatalf("mailbox JSON: %v\n%s", err, raw)
	}
	for i := len(mails) - 1; i >= 0; i-- {
		if mails[i].To == email {
			return mails[i]
		}
	}
	s.t.Fatalf("no mail to %s in the mailbox: %s", email, raw)
	return mail{}
}

// requestLink fills in the sign-in form on / (with the chosen language)
// and submits it, ending on the "Check your mail" page.
func (s *session) requestLink(email string) {
	s.t.Helper()
	s.do("opening the sign-in page",
		chromedp.Navigate(s.base+"/"+s.langQuery()),
		chromedp.WaitVisible(chromedp.ID("email")),
	)
	s.screenshot("sign-in")
	if got, want := s.text("h1"), s.exampleText("index.title"); got != want {
		s.t.Fatalf("sign-in page heading %q, want %q", got, want)
	}
	s.do("submitting the sign-in form",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.Click(chromedp.ID("send")),
		chromedp.WaitVisible(chromedp.ID("code")),
	)
	s.screenshot("check-your-mail")
	if got := s.text("#sent-to"); got != email {
		s.t.Fatalf("check page names %q, want %q", got, email)
	}
	if got, want := s.text("h1"), s.exampleText("check.title"); got != want {
		s.t.Fatalf("check page heading %q, want %q", got, want)
	}
}

// confirmLink opens link and presses the confirm page's button.
func (s *session) confirmLink(link string) {
	s.t.Helper()
	const button = chromedp.CSS(`form button[type="submit"]`)
	s.do("opening the link",
		chromedp.Navigate(link),
		chromedp.WaitVisible(button),
	)
	s.screenshot("confirm")
	if title := s.text("h1"); title != "Confirm sign-in" {
		s.t.Fatalf("link page heading = %q, want the confirm page", title)
	}
	s.do("pressing the confirm button", chromedp.Click(button))
}

// expectSignedIn waits for /me and checks whom and how (the text
// methodKey, "me.method_link" or "me.method_code") it shows.
func (s *session) expectSignedIn(email, methodKey string) {
	s.t.Helper()
	s.do("waiting for the signed-in page", chromedp.WaitVisible(chromedp.ID("me-email")))
	s.screenshot("signed-in")
	url, err := chromedp.Run(s.ctx, chromedp.Location())
	if err != nil {
		s.t.Fatal(err)
	}
	shown, how, method := s.text("#me-email"), s.text("#me-method"), s.exampleText(methodKey)
	if want := s.base + "/me" + s.langQuery(); shown != email || how != method || url != want {
		s.t.Fatalf("signed-in page at %s shows %q via %q, want %q via %q on %s", url, shown, how, email, method, want)
	}
}

func TestBrowserSignInWithLink(t *testing.T) {
	t.Parallel()
	s := newSession(t, startServer(t))
	s.requestLink("ada@example.com")
	s.confirmLink(s.lastMail("ada@example.com").Link)
	s.expectSignedIn("ada@example.com", "me.method_link")

	// Signing out leads back to the sign-in page.
	s.do("signing out",
		chromedp.Click(chromedp.ID("sign-out")),
		chromedp.WaitVisible(chromedp.ID("email")),
	)
	s.screenshot("signed-out")
}

func TestBrowserSignInWithCode(t *testing.T) {
	t.Parallel()
	s := newSession(t, startServer(t))
	s.requestLink("grace@example.com")
	code := s.lastMail("grace@example.com").Code
	// Back in the tab that asked, which still shows the code box.
	s.do("typing the code",
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Click(chromedp.ID("verify")),
	)
	s.expectSignedIn("grace@example.com", "me.method_code")
}

func TestBrowserReusedLinkShowsExpired(t *testing.T) {
	t.Parallel()
	s := newSession(t, startServer(t))
	s.requestLink("reuse@example.com")
	link := s.lastMail("reuse@example.com").Link
	// The confirm page names the account the button signs in to.
	s.do("opening the link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(".account")))
	if acct := s.text(".account"); acct != "reuse@example.com" {
		t.Fatalf("confirm page names the account %q, want reuse@example.com", acct)
	}
	s.confirmLink(link)
	s.expectSignedIn("reuse@example.com", "me.method_link")

	// Opening the used link again shows the expired state with the code
	// form, and no button that can only fail.
	s.do("opening the used link", chromedp.Navigate(link))
	s.do("waiting for the expired state",
		chromedp.WaitVisible(chromedp.CSS(`[role="alert"]`)),
		chromedp.WaitVisible(chromedp.ID("code")),
	)
	s.screenshot("expired")
	if notice := s.text(`[role="alert"]`); !strings.Contains(notice, "expired or was already used") {
		t.Fatalf("reused link shows %q, want the expired state", notice)
	}
}
