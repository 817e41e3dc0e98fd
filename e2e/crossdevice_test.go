package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// device is another browser on the same Chromium: a fresh browser context
// with its own cookie jar and storage, as a second device would have. Its
// screenshots go to a folder of its name.
func (s *session) device(name string) *session {
	s.t.Helper()
	ctx, cancel := chromedp.NewContext(s.ctx, chromedp.WithNewBrowserContext())
	s.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		s.t.Fatalf("opening a new browser context: %v", err)
	}
	shots := ""
	if s.shots != "" {
		// Without MAGICLINK_SCREENSHOTS none are taken (a relative
		// folder here once left PNGs in the source tree).
		shots = filepath.Join(s.shots, name)
		if err := os.MkdirAll(shots, 0o755); err != nil {
			s.t.Fatal(err)
		}
	}
	return &session{t: s.t, base: s.base, ctx: ctx, shots: shots}
}

// openApproval opens link and waits for the confirm page's approval form,
// which only a browser other than the asking one gets.
func (s *session) openApproval(link string) {
	s.t.Helper()
	s.do("opening the link on the other device",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.ID("match")),
	)
	s.screenshot("approve-page")
}

// typeNumber types n into the approval form and submits it.
func (s *session) typeNumber(n string) {
	s.t.Helper()
	s.do("typing "+n, chromedp.SendKeys(chromedp.ID("match"), n))
	s.submit("approving with "+n, chromedp.Click(chromedp.CSS(`form[action$="/auth/approve"] button`)))
	s.screenshot("approve-answer")
}

// submit runs act, which leaves the page (a form post), and waits until
// the next page has loaded: waiting for an element instead could find it
// on the page being left.
func (s *session) submit(what string, act chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	s.do(what, chromedp.Evaluate[chromedp.Void](`window.__leaving = true`), act)
	ctx, cancel := context.WithTimeout(s.ctx, stepTimeout)
	defer cancel()
	for {
		// A poll that runs into the navigation fails ("target navigated");
		// the next one runs on the new page.
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

// pendingStatus is the last status the check page's script received.
func (s *session) pendingStatus() string {
	s.t.Helper()
	v, err := chromedp.Run(s.ctx, chromedp.Evaluate[string](`document.getElementById("pending").getAttribute("data-status") || ""`))
	if err != nil {
		s.t.Fatalf("reading the check page's status: %v", err)
	}
	return v
}

// expectSignedOut checks that the browser has no session: /me sends it to
// the sign-in page.
func (s *session) expectSignedOut() {
	s.t.Helper()
	s.do("opening /me", chromedp.Navigate(s.base+"/me"), chromedp.WaitVisible(chromedp.ID("email")))
	if u := s.location(); u != s.base+"/" {
		s.t.Fatalf("a browser that must not be signed in reached %s", u)
	}
}

// waitPendingStatus waits until the check page's script has seen want.
func (s *session) waitPendingStatus(want string) {
	s.t.Helper()
	s.do("waiting for the check page to see "+want,
		chromedp.WaitVisible(chromedp.CSS(`#pending[data-status="`+want+`"]`)))
}

func TestBrowserCrossDeviceApproval(t *testing.T) {
	t.Parallel()
	s := newSession(t, startServer(t))
	laptop, phone := s.device("laptop"), s.device("phone")
	const email = "two-devices@example.com"

	laptop.requestLink(email)
	match := laptop.text("#match")
	if !regexp.MustCompile(`^[0-9]{2}$`).MatchString(match) {
		t.Fatalf("the check page shows %q, want a two-digit number", match)
	}

	phone.openApproval(phone.lastMail(email).Link)
	page := phone.text("main")
	if !regexp.MustCompile(`Chrome on Linux`).MatchString(page) || !regexp.MustCompile(`127\.0\.0\.1`).MatchString(page) {
		t.Fatalf("the approval page does not say what asked: %q", page)
	}
	if regexp.MustCompile(`(^|[^0-9.])` + match + `([^0-9.]|$)`).MatchString(page) {
		t.Fatalf("the approval page shows the number %s: %q", match, page)
	}
	phone.typeNumber(match)
	if h := phone.text("h1"); h != "Sign-in approved" {
		t.Fatalf("the phone after approving shows %q", h)
	}

	// The laptop's page polls every 2 s; it must be signed in within 3.
	ctx, cancel := context.WithTimeout(laptop.ctx, 3*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("me-email"))); err != nil {
		laptop.screenshot("not-signed-in")
		t.Fatalf("the laptop was not signed in within 3 s of the approval: %v (%s)", err, laptop.bodyText())
	}
	laptop.expectSignedIn(email, "me.method_link")
	phone.expectSignedOut()
}

func TestBrowserCrossDeviceWrongNumber(t *testing.T) {
	t.Parallel()
	s := newSession(t, startServer(t))
	laptop, phone := s.device("laptop"), s.device("phone")
	const email = "wrong-number@example.com"

	laptop.requestLink(email)
	n, _ := strconv.Atoi(laptop.text("#match"))
	phone.openApproval(phone.lastMail(email).Link)
	phone.typeNumber(strconv.Itoa((n + 1) % 100))
	if notice := phone.text(`[role="alert"]`); !regexp.MustCompile(`did not match`).MatchString(notice) {
		t.Fatalf("a wrong number shows %q", notice)
	}
	laptop.waitPendingStatus("expired")
	laptop.screenshot("expired")
	laptop.expectSignedOut()
	phone.expectSignedOut()
}

// A scanner that runs the page's JavaScript and presses buttons. Forcing
// the approval form without a number changes nothing; pressing the first
// button signs in the scanner's own browser (the same-device path), and
// nobody else: the asking browser is never signed in by it.
func TestBrowserScannerPressingButtons(t *testing.T) {
	t.Parallel()
	s := newSession(t, startServer(t))
	laptop, scanner := s.device("laptop"), s.device("scanner")
	const email = "scanned@example.com"

	laptop.requestLink(email)
	link := scanner.lastMail(email).Link
	scanner.openApproval(link)
	// form.submit() skips the browser's own "required" check, as a
	// scanner's script would.
	scanner.submit("submitting the approval form empty",
		chromedp.Evaluate[chromedp.Void](`document.querySelector('form[action$="/auth/approve"]').submit()`))
	if notice := scanner.text(`[role="alert"]`); !regexp.MustCompile(`two-digit number`).MatchString(notice) {
		t.Fatalf("an empty approval shows %q, want the request for the number", notice)
	}
	if st := laptop.pendingStatus(); st != "" && st != "waiting" {
		t.Fatalf("an empty approval ended the request: the laptop sees %q", st)
	}

	scanner.openApproval(link)
	scanner.submit("pressing the first button", chromedp.Click(chromedp.CSS(`form button[type="submit"]`)))
	scanner.expectSignedIn(email, "me.method_link")

	laptop.waitPendingStatus("expired")
	laptop.expectSignedOut()
}

// The cross-device pages in German. The laptop picks German on the
// sign-in page; the phone's browser asks for English. The mail's link
// names the mail's language, so the phone's approval page, its answer to a
// wrong number or the right one, and the laptop's check and signed-in
// pages all speak German.
func TestBrowserCrossDeviceGerman(t *testing.T) {
	t.Parallel()
	s := newSession(t, startServer(t))
	laptop, phone := s.device("laptop"), s.device("phone")
	laptop.lang, laptop.chosen = "de", true
	de := catalogTexts(t, "de")
	wantHeading := func(d *session, want string) {
		t.Helper()
		if h := d.text("main h1"); h != want {
			t.Fatalf("the page shows %q, want %q", h, want)
		}
	}

	// A wrong number ends the request.
	const first = "zwei-geraete@example.com"
	laptop.requestLink(first)
	link := phone.lastMail(first).Link
	if !strings.HasSuffix(link, "&locale=de") {
		t.Fatalf("the German mail's link %q does not name German", link)
	}
	phone.openApproval(link)
	wantHeading(phone, de["confirm.title"])
	if b := phone.text(`form[action$="/auth/approve"] button`); b != de["approve.button"] {
		t.Fatalf("the approval button says %q, want %q", b, de["approve.button"])
	}
	n, _ := strconv.Atoi(laptop.text("#match"))
	phone.typeNumber(strconv.Itoa((n + 1) % 100))
	wantHeading(phone, de["match_invalid.title"])
	laptop.waitPendingStatus("expired")
	laptop.screenshot("expired")
	if st := laptop.text("#pending-status"); st != laptop.exampleText("check.ended") && st != laptop.exampleText("check.expired") {
		t.Fatalf("the laptop's check page says %q after the wrong number, want its German end notice", st)
	}

	// The right number signs the laptop in.
	const second = "zwei-geraete-2@example.com"
	laptop.requestLink(second)
	match := laptop.text("#match")
	phone.openApproval(phone.lastMail(second).Link)
	phone.typeNumber(match)
	wantHeading(phone, de["approved.title"])
	laptop.expectSignedIn(second, "me.method_link")
	phone.expectSignedOut()
}
