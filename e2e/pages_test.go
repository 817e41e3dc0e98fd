package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store"
)

// pageLocales are the two locales every page is shown in.
var pageLocales = []string{"en", "de"}

// catalogTexts reads the built-in page texts of a locale, so that the test
// expects what the page files say.
func catalogTexts(t *testing.T, lang string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "httpadapter", "pages", "locales", lang+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// pagesSession is a browser whose Accept-Language is lang. appName is
// the name the adapter's pages in lang must show in title and header.
type pagesSession struct {
	*session
	lang    string
	texts   map[string]string
	appName string
}

func newPagesSession(t *testing.T, base, lang string, extra ...chromedp.ExecAllocatorOption) *pagesSession {
	t.Helper()
	opts := append([]chromedp.ExecAllocatorOption{chromedp.Flag("accept-lang", lang)}, extra...)
	s := newSession(t, base, opts...)
	s.lang = lang
	return &pagesSession{session: s, lang: lang, texts: catalogTexts(t, lang)}
}

// expectPage waits for the page whose title has the catalog key, in the
// session's language and with the session's app name, and saves it as
// {name}-{lang}.png.
func (s *pagesSession) expectPage(name, titleKey string) {
	s.t.Helper()
	s.do("waiting for the "+name+" page", chromedp.WaitVisible(chromedp.CSS("main h1")))
	if got, want := s.text("main h1"), s.texts[titleKey]; got != want {
		s.screenshot("failed")
		s.t.Fatalf("page heading %q, want the %s page's %q (%s)", got, name, want, s.lang)
	}
	lang, err := chromedp.Run(s.ctx, chromedp.Evaluate[string]("document.documentElement.lang"))
	if err != nil || lang != s.lang {
		s.t.Fatalf("the %s page's lang is %q (%v), want %q", name, lang, err, s.lang)
	}
	title, err := chromedp.Run(s.ctx, chromedp.Title())
	if want := s.texts[titleKey] + " · " + s.appName; err != nil || title != want {
		s.t.Fatalf("the %s page's title is %q (%v), want %q", name, title, err, want)
	}
	if got := s.text("header.brand span"); got != s.appName {
		s.t.Fatalf("the %s page's header names %q, want %q (%s)", name, got, s.appName, s.lang)
	}
	s.pageShot(name)
}

// expectExamplePage checks that the example server's own page titled by
// its text titleKey is showing in the session's language, and saves it as
// example-{name}-{lang}.png.
func (s *pagesSession) expectExamplePage(name, titleKey string) {
	s.t.Helper()
	if got, want := s.text("main h1"), s.exampleText(titleKey); got != want {
		s.screenshot("failed")
		s.t.Fatalf("the example's %s page heading %q, want %q (%s)", name, got, want, s.lang)
	}
	lang, err := chromedp.Run(s.ctx, chromedp.Evaluate[string]("document.documentElement.lang"))
	if err != nil || lang != s.lang {
		s.t.Fatalf("the example's %s page's lang is %q (%v), want %q", name, lang, err, s.lang)
	}
	s.pageShot("example-" + name)
}

// expectMailbox opens the dev mailbox, whose newest mail's link was just
// used, checks that it speaks the session's language, badge included, and
// saves it as example-mailbox-{lang}.png.
func (s *pagesSession) expectMailbox() {
	s.t.Helper()
	s.do("opening the dev mailbox", chromedp.Navigate(s.base+"/dev/mailbox"), chromedp.WaitVisible(chromedp.CSS(".state-used")))
	for sel, key := range map[string]string{"h1": "layout.mailbox", ".state-used": "mailbox.used", "nav a": "mailbox.back", "summary": "mailbox.text_part"} {
		want := s.exampleText(key)
		if sel == "nav a" {
			want = "← " + want
		}
		if got := s.text(chromedp.CSS(sel)); got != want {
			s.screenshot("failed")
			s.t.Fatalf("the dev mailbox's %s is %q, want %q (%s)", sel, got, want, s.lang)
		}
	}
	lang, err := chromedp.Run(s.ctx, chromedp.Evaluate[string]("document.documentElement.lang"))
	if err != nil || lang != s.lang {
		s.t.Fatalf("the dev mailbox's lang is %q (%v), want %q", lang, err, s.lang)
	}
	s.pageShot("example-mailbox")
}

// pageShot saves the page as pages/{name}-{lang}.png under
// MAGICLINK_SCREENSHOTS.
func (s *pagesSession) pageShot(name string) {
	s.t.Helper()
	root := os.Getenv(screenshotsEnv)
	if root == "" {
		return
	}
	dir := filepath.Join(root, "pages")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.t.Fatal(err)
	}
	png, err := chromedp.Run(s.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+"-"+s.lang+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("screenshot: %s", path)
}

// value reads an input's current value.
func (s *pagesSession) value(sel string) string {
	s.t.Helper()
	v, err := chromedp.Run(s.ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		s.t.Fatalf("reading %s: %v", sel, err)
	}
	return v
}

// submitCode types code into the page's code form and sends it.
func (s *pagesSession) submitCode(code string) {
	s.t.Helper()
	// Every page's code box is empty: codes are never echoed back.
	s.do("typing the code", chromedp.SendKeys(chromedp.CSS("#code"), code))
	s.leave("sending the code form", chromedp.Click(chromedp.CSS(`#code ~ button[type="submit"]`)))
}

// leave runs act, which leaves the page (a form post or a link), and waits
// until the next page has loaded: waiting for an element instead could
// find it on the page being left.
func (s *session) leave(what string, act chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	s.do(what, chromedp.Evaluate[chromedp.Void](`window.__leaving = true`), act)
	ctx, cancel := context.WithTimeout(s.ctx, stepTimeout)
	defer cancel()
	for {
		// A poll that runs into the navigation fails; the next one runs on
		// the new page.
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](`!window.__leaving && document.readyState === "complete"`))
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			s.screenshot("failed")
			s.t.Fatalf("%s: the next page did not load: %v (%s)", what, err, s.bodyText())
		}
	}
}

// wrongCode is a code that is not code.
func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

// TestBrowserPages shows every page the example server reaches in English
// and German, and walks each error page's next step: a used link's page
// sends a new link (and a new mail arrives); a wrong code's page keeps the
// address and signs in with the right code; enough wrong codes end on the
// rate-limit page.
func TestBrowserPages(t *testing.T) {
	t.Parallel()
	for _, lang := range pageLocales {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			s := newPagesSession(t, startServer(t), lang)
			s.appName = s.exampleText("app.name") // "magiclink-Beispiel" in German
			email := "pages-" + lang + "@example.com"
			s.do("opening the sign-in page", chromedp.Navigate(s.base+"/"), chromedp.WaitVisible(chromedp.ID("email")))
			s.expectExamplePage("sign-in", "index.title")
			s.requestLink(email)
			s.expectExamplePage("check", "check.title")
			first := s.lastMail(email)
			if !strings.HasSuffix(first.Link, "&locale="+lang) {
				t.Fatalf("the mail's link %q does not name the page's language %s", first.Link, lang)
			}

			s.do("opening the link", chromedp.Navigate(first.Link))
			s.expectPage("confirm", "confirm.title")
			if acct := s.text(".account"); acct != email {
				t.Fatalf("confirm page names %q, want %q", acct, email)
			}
			s.leave("pressing the confirm button", chromedp.Click(chromedp.CSS(`main form button[type="submit"]`)))
			s.expectSignedIn(email, "me.method_link")
			s.expectExamplePage("signed-in", "me.title")
			s.expectMailbox()

			// The used link: its page sends a new link.
			s.do("opening the used link", chromedp.Navigate(first.Link))
			s.expectPage("link-invalid", "link_invalid.title")
			s.do("typing the address for a new link", chromedp.SendKeys(chromedp.CSS("#resend-email"), email))
			s.leave("asking for a new link", chromedp.Click(chromedp.CSS("button.secondary-button")))
			s.expectPage("sent", "sent.title")
			second := s.lastMail(email)
			if second.Link == first.Link || second.Code == "" {
				t.Fatalf("no new mail after 'send a new link': %+v", second)
			}
			if got := s.value("#email"); got != email {
				t.Fatalf("the sent page's code form holds %q, want %q", got, email)
			}

			// A wrong code: the page keeps the address; the right code signs in.
			s.submitCode(wrongCode(second.Code))
			s.expectPage("code-invalid", "code_invalid.title")
			if got := s.value("#email"); got != email {
				t.Fatalf("the code-invalid page's form holds %q, want %q", got, email)
			}
			s.submitCode(second.Code)
			s.expectSignedIn(email, "me.method_code")

			// Wrong codes until the verify limit (10 at once per IP) stops them.
			s.do("opening the used link again", chromedp.Navigate(first.Link), chromedp.WaitVisible(chromedp.CSS("#email")))
			s.do("typing the address", chromedp.SendKeys(chromedp.CSS("#email"), email))
			for i := 0; ; i++ {
				if i == 30 {
					t.Fatal("30 wrong codes and no rate-limit page")
				}
				s.submitCode("123456")
				if s.text("main h1") == s.texts["rate_limited.title"] {
					break
				}
			}
			s.expectPage("rate-limited", "rate_limited.title")

			// The example's own error page: one mail too many for the
			// address (two went out above; the limit allows bursts of 2).
			s.do("typing the address once more", chromedp.Navigate(s.base+"/"), chromedp.SendKeys(chromedp.ID("email"), email))
			s.leave("asking for a third mail", chromedp.Click(chromedp.ID("send")))
			s.expectExamplePage("error", "error.rate_limited")
		})
	}
}

// harness serves the adapter on its own, for the pages the example server
// cannot reach on purpose: a store outage, a failing OnLogin hook, an
// oversized form, a cross-site post.
type harness struct {
	base  string
	svc   *magiclink.Service
	store *outageStore
}

// outageStore is the memory store with a switch that makes link reads and
// consumes fail as an unreachable store does.
type outageStore struct {
	*store.Memory
	down atomic.Bool
}

func (s *outageStore) PeekToken(ctx context.Context, h store.Digest) (*store.Token, error) {
	if s.down.Load() {
		return nil, store.ErrUnavailable
	}
	return s.Memory.PeekToken(ctx, h)
}

func (s *outageStore) ConsumeToken(ctx context.Context, h store.Digest) (*store.Token, error) {
	if s.down.Load() {
		return nil, store.ErrUnavailable
	}
	return s.Memory.ConsumeToken(ctx, h)
}

// bigFormPage posts a form larger than the adapter's 64 KiB body limit.
const bigFormPage = `<!doctype html><title>big</title><form method="post" action="/auth/verify">
<input type="hidden" name="pad" value="%s"><button id="go" type="submit">go</button></form>`

func startHarness(t *testing.T) *harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	mem := store.NewMemory()
	st := &outageStore{Memory: mem}
	svc, err := magiclink.New(magiclink.Config{Origins: []string{base}, Store: st, Mailer: mailer.NewMemory(),
		AppName: "Acme", Secret: []byte("e2e-secret-e2e-secret-e2e-secret-e2e")})
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpadapter.New(svc, httpadapter.Config{
		OnLogin: func(http.ResponseWriter, *http.Request, magiclink.Identity) error {
			return errors.New("the host's user database is down")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	mux.HandleFunc("GET /launch/big", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, bigFormPage, strings.Repeat("x", 70<<10))
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		_ = svc.Close()
		_ = mem.Close()
	})
	return &harness{base: base, svc: svc, store: st}
}

// link makes a live sign-in link on the harness.
func (h *harness) link(t *testing.T, email string) string {
	t.Helper()
	l, err := h.svc.CreateLink(t.Context(), magiclink.LinkRequest{Email: email, Origin: h.base, Next: "/"})
	if err != nil {
		t.Fatal(err)
	}
	return l.URL
}

// TestBrowserOutagePages shows the pages of an outage, a failure after the
// link was used, an oversized form and a cross-site post, and walks the
// outage page's "try again" once the store is back.
func TestBrowserOutagePages(t *testing.T) {
	t.Parallel()
	for _, lang := range pageLocales {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			h := startHarness(t)
			evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				fmt.Fprintf(w, `<!doctype html><title>prize</title><form method="post" action="%s/auth/verify">
<input type="hidden" name="token_hash" value="x"><button id="go" type="submit">Claim</button></form>`, h.base)
			}))
			t.Cleanup(evil.Close)
			s := newPagesSession(t, h.base, lang)
			s.appName = "Acme" // the Service's, in every language
			link := h.link(t, "outage@example.com")

			h.store.down.Store(true)
			s.do("opening the link during the outage", chromedp.Navigate(link))
			s.expectPage("unavailable", "unavailable.title")
			h.store.down.Store(false)
			s.leave("trying again", chromedp.Click(chromedp.CSS("a.button-link")))
			s.expectPage("confirm", "confirm.title")

			// The link is used, then the host's OnLogin fails.
			s.leave("signing in", chromedp.Click(chromedp.CSS(`main form button[type="submit"]`)))
			s.expectPage("internal", "internal.title")
			if s.text("button.secondary-button") != s.texts["resend.button"] {
				t.Fatal("the internal page after a used link offers no new link")
			}

			s.do("opening a page with an oversized form", chromedp.Navigate(h.base+"/launch/big"))
			s.leave("posting the oversized form", chromedp.Click(chromedp.ID("go")))
			s.expectPage("request-invalid", "request_invalid.title")

			s.do("opening another site", chromedp.Navigate(evil.URL))
			s.leave("posting from another site", chromedp.Click(chromedp.ID("go")))
			s.expectPage("blocked", "blocked.title")
		})
	}
}

// TestBrowserMailboxLinkOpensConfirmPage: the Sign in button of a mail in
// the dev mailbox opens the confirm page in a new tab; after signing in
// there, the mailbox marks the link used.
func TestBrowserMailboxLinkOpensConfirmPage(t *testing.T) {
	t.Parallel()
	s := newSession(t, startServer(t))
	s.requestLink("inbox@example.com")
	s.do("opening the mailbox",
		chromedp.Navigate(s.base+"/dev/mailbox"),
		chromedp.WaitVisible(chromedp.CSS(".state-live")),
	)
	s.screenshot("mailbox")
	frame, done := s.mailFrame()
	defer done()
	opened := chromedp.WaitNewTarget(s.ctx, func(info *target.Info) bool { return strings.Contains(info.URL, "/auth/verify") })
	if err := chromedp.Do(frame, chromedp.Click(chromedp.CSS("a"))); err != nil {
		t.Fatalf("clicking Sign in in the mail: %v", err)
	}
	var id target.ID
	select {
	case id = <-opened:
	case <-s.ctx.Done():
		t.Fatal("clicking the mail's button opened no tab")
	}
	tab, cancel := chromedp.NewContext(s.ctx, chromedp.WithTargetID(id))
	defer cancel()
	if err := chromedp.Do(tab, chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
		t.Fatalf("the new tab: %v", err)
	}
	title, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS("h1")))
	if err != nil || title != "Confirm sign-in" {
		t.Fatalf("the new tab shows %q (%v), want the confirm page", title, err)
	}
	if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(`main form button[type="submit"]`)), chromedp.WaitVisible(chromedp.ID("me-email"))); err != nil {
		t.Fatalf("signing in from the new tab: %v", err)
	}
	s.do("reloading the mailbox", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(".state-used")))
	s.screenshot("mailbox-used")
}

// mailFrame returns a context in the newest mail's iframe. Chromium runs a
// sandboxed frame in a process of its own, as a target of type "iframe".
func (s *session) mailFrame() (context.Context, context.CancelFunc) {
	s.t.Helper()
	infos, err := chromedp.Targets(s.ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, info := range infos {
		if info.Type == "iframe" {
			return chromedp.NewContext(s.ctx, chromedp.WithTargetID(info.TargetID))
		}
	}
	s.t.Fatalf("no iframe target among %d targets", len(infos))
	return nil, nil
}
