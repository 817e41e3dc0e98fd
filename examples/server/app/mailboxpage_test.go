package app

import (
	"html"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// sameAsEnglish are the mailbox texts whose translation is rightly the
// English word; any other text equal to the English one is a copy left
// untranslated.
var sameAsEnglish = map[string][]string{
	"de": {"mailbox.link", "mailbox.code"},
	"fr": {"mailbox.code"},
}

// mailboxKeys are the text keys the dev mailbox shows, read from its
// source so that a new one cannot be missed.
func mailboxKeys(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("mailboxpage.go")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, m := range regexp.MustCompile(`d\.text\("([a-z_.]+)"\)`).FindAllStringSubmatch(string(src), -1) {
		keys = append(keys, m[1])
	}
	if len(keys) < 16 {
		t.Fatalf("found only %d mailbox keys in mailboxpage.go: the pattern is off", len(keys))
	}
	return keys
}

// visibleText is a page's text as a reader sees it: without its style
// sheet and markup (a mail's HTML is in an attribute), entities decoded.
func visibleText(page string) string {
	page = regexp.MustCompile(`(?s)<style>.*</style>`).ReplaceAllString(page, "")
	title := regexp.MustCompile(`<title>(.*)</title>`).FindStringSubmatch(page)
	page = regexp.MustCompile(`(?s)<[^>]*>`).ReplaceAllString(page, "\n")
	if title != nil {
		page += "\n" + title[1]
	}
	return html.UnescapeString(page)
}

// englishLeft returns the English texts of keys that the page in lang
// shows: a format's fixed parts, every other text whole.
func englishLeft(t *testing.T, page, lang string, keys []string) []string {
	t.Helper()
	// The links shown are random (a token_hash may hold "0tO8", which
	// reads as "To"): they are no text of the page's language.
	visible := regexp.MustCompile(`https?://\S+`).ReplaceAllString(visibleText(page), " ")
	var left []string
	for _, k := range keys {
		if slices.Contains(sameAsEnglish[lang], k) {
			continue
		}
		for _, part := range regexp.MustCompile(`%\[\d\]d`).Split(pageText(t, "en", k), -1) {
			part = strings.TrimSpace(part)
			if len([]rune(part)) < 2 {
				continue
			}
			if regexp.MustCompile(`(?i)(^|[^\pL\pN])` + regexp.QuoteMeta(part) + `($|[^\pL\pN])`).MatchString(visible) {
				left = append(left, part)
			}
		}
	}
	return left
}

// wantAdapterPageNamed checks that an adapter page names the example
// exactly name, in its <title> (after the page's own title) and its
// header, and nowhere in another language's name.
func wantAdapterPageNamed(t *testing.T, page, name string) {
	t.Helper()
	page = html.UnescapeString(page)
	title := regexp.MustCompile(`<title>[^<]+ · ([^<]*)</title>`).FindStringSubmatch(page)
	if title == nil || title[1] != name || !strings.Contains(page, `<header class="brand"><span>`+name+`</span></header>`) {
		t.Errorf("the adapter's page does not name the example %q in its title and header:\n%s", name, page)
	}
	for _, lang := range exampleLocales {
		if other := appName(lang); other != name && strings.Contains(page, other) {
			t.Errorf("the adapter's page named %q also says %q", name, other)
		}
	}
}

// The dev mailbox speaks each language the pages speak: every text it
// shows is translated, none of its English is left, its lang attribute
// and Content-Language say the language, and the mail in it and the
// confirm page its link opens name the example in that language.
func TestMailboxInEveryLanguage(t *testing.T) {
	t.Parallel()
	keys := mailboxKeys(t)
	for _, lang := range exampleLocales {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			missing := texts.Missing(lang)
			for _, k := range keys {
				if slices.Contains(missing, k) {
					t.Errorf("%s has no text %q of its own", lang, k)
				}
				if lang != "en" && pageText(t, lang, k) == pageText(t, "en", k) && !slices.Contains(sameAsEnglish[lang], k) {
					t.Errorf("%s's %q is the English text %q", lang, k, pageText(t, lang, k))
				}
			}
			ts := start(t, nil)
			b := newBrowser(t, ts.base)
			b.lang = lang + "-XX," + lang + ";q=0.9,en;q=0.1"
			used := b.mailIn(lang, "ana-"+lang+"@example.com")
			_, confirm := b.do(http.MethodGet, used.Link, nil)
			wantAdapterPageNamed(t, confirm, appName(lang))
			resp, body := b.confirmIn(used.Link, lang)
			b.expect(resp, body, http.StatusSeeOther)
			b.mailIn(lang, "bo-"+lang+"@example.com")

			resp, body = b.do(http.MethodGet, "/dev/mailbox", nil)
			b.expect(resp, body, http.StatusOK, `<html lang="`+lang+`">`, `<nav><a href="/">`,
				`<span class="state state-live">`+pageText(t, lang, "mailbox.live")+`</span>`,
				`<span class="state state-used">`+pageText(t, lang, "mailbox.used")+`</span>`)
			if got := resp.Header.Get("Content-Language"); got != lang {
				t.Errorf("Content-Language %q, want %s", got, lang)
			}
			page := html.UnescapeString(body)
			for _, k := range []string{"layout.mailbox", "mailbox.back", "mailbox.to", "mailbox.text_part", "mailbox.json", "mailbox.dev_only"} {
				if !strings.Contains(page, pageText(t, lang, k)) {
					t.Errorf("the mailbox lacks its %s text %q", k, pageText(t, lang, k))
				}
			}
			if lang == "en" {
				return
			}
			if left := englishLeft(t, body, lang, keys); len(left) > 0 {
				t.Errorf("English left in the %s mailbox: %q\n%s", lang, left, visibleText(body))
			}
			if strings.Contains(page, appName("en")) || !strings.Contains(page, appName(lang)) {
				t.Errorf("the mails in the %s mailbox do not name the example %q:\n%s", lang, appName(lang), page)
			}
			_, limited := b.do(http.MethodGet, "/dev/mailbox?limit=1", nil)
			if left := englishLeft(t, limited, lang, keys); len(left) > 0 {
				t.Errorf("English left in the %s mailbox with a limit: %q", lang, left)
			}
		})
	}
}

// mailIn asks for a mail to email from the sign-in page, expecting the
// page and the mail in lang, and returns it.
func (b *browser) mailIn(lang, email string) mail {
	b.t.Helper()
	resp, body := b.do(http.MethodPost, "/signin", url.Values{"email": {email}})
	wantLang(b.t, resp, body, lang, "check.title")
	m := b.lastMail(email)
	if got, _ := mailLocale(b.t, m); got != lang {
		b.t.Fatalf("the mail to %s is in %q, want %s", email, got, lang)
	}
	return m
}

// A language chosen with ?locale= beats the browser's in the mailbox too,
// and the pages' links to the mailbox and the mailbox's way back keep it.
func TestMailboxKeepsTheChosenLanguage(t *testing.T) {
	t.Parallel()
	ts := start(t, nil)
	b := newBrowser(t, ts.base)
	b.lang = "en-US,en;q=0.9"
	resp, body := b.do(http.MethodGet, "/?locale=tr", nil)
	b.expect(resp, body, http.StatusOK, `<a href="/dev/mailbox?locale=tr">`)
	resp, body = b.do(http.MethodGet, "/dev/mailbox?locale=tr", nil)
	b.expect(resp, body, http.StatusOK, `<html lang="tr">`, `<nav><a href="/?locale=tr">← `+pageText(t, "tr", "mailbox.back")+`</a></nav>`,
		"<h1>"+pageText(t, "tr", "layout.mailbox")+"</h1>", "<p>"+pageText(t, "tr", "mailbox.empty")+"</p>")
	resp, body = b.do(http.MethodGet, "/dev/mailbox?locale=%3Cscript%3E", nil)
	b.expect(resp, body, http.StatusOK, `<html lang="en">`, `<nav><a href="/">← Back to the app</a></nav>`)
	resp, body = b.do(http.MethodGet, "/", nil)
	b.expect(resp, body, http.StatusOK, `<a href="/dev/mailbox">`)
}
