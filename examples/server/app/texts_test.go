package app

import (
	"encoding/json"
	"html"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// exampleLocales are the languages the example's pages come in.
var exampleLocales = []string{"en", "de", "fr", "es", "tr"}

// pageText is the example's text key in lang, as its file says.
func pageText(t *testing.T, lang, key string) string {
	t.Helper()
	s, ok := texts.Text(lang, key)
	if !ok {
		t.Fatalf("no text %q", key)
	}
	return s
}

// Every locale has every English text (Load checked keys and verbs), and
// every key the code and templates name exists.
func TestTextsComplete(t *testing.T) {
	t.Parallel()
	for _, l := range exampleLocales {
		if !texts.Has(l) {
			t.Errorf("no %s texts", l)
		}
		if missing := texts.Missing(l); len(missing) > 0 {
			t.Errorf("%s lacks %q", l, missing)
		}
	}
	files, _ := filepath.Glob("*.go")
	tmpl, _ := filepath.Glob("templates/*.html")
	key := regexp.MustCompile(`"((?:app|layout|index|check|me|error|mailbox)\.[a-z_]+)"`)
	used := map[string]bool{}
	for _, f := range append(files, tmpl...) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range key.FindAllStringSubmatch(string(src), -1) {
			used[m[1]] = true
		}
	}
	if len(used) < 40 {
		t.Fatalf("found only %d keys in the sources: the pattern is off", len(used))
	}
	for _, k := range slices.Sorted(maps.Keys(used)) {
		if _, ok := texts.Text("en", k); !ok {
			t.Errorf("the sources name the text %q, which en.json lacks", k)
		}
	}
}

// The check page names the adapter's approval button in the adapter's own
// words, in every language.
func TestCheckPageNamesTheAdaptersButton(t *testing.T) {
	t.Parallel()
	for _, l := range exampleLocales {
		raw, err := os.ReadFile(filepath.Join("..", "..", "..", "httpadapter", "pages", "locales", l+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var adapter map[string]string
		if err := json.Unmarshal(raw, &adapter); err != nil {
			t.Fatal(err)
		}
		if button := adapter["approve.button"]; button == "" || !strings.Contains(pageText(t, l, "check.other_device"), button) {
			t.Errorf("%s: check.other_device does not name the button %q", l, button)
		}
	}
}

// wantLang checks that the page is in lang with the title text titleKey.
func wantLang(t *testing.T, resp *http.Response, body, lang, titleKey string) {
	t.Helper()
	body = html.UnescapeString(body)
	title := pageText(t, lang, titleKey)
	if got := resp.Header.Get("Content-Language"); got != lang || !strings.Contains(body, `<html lang="`+lang+`">`) || !strings.Contains(body, `<h1 id="title">`+title+`</h1>`) {
		t.Fatalf("%s %s: page in %q, want %s with the title %q:\n%s", resp.Request.Method, resp.Request.URL, got, lang, title, body)
	}
	if strings.Contains(body, "%!") {
		t.Fatalf("%s %s: a text lost its verbs:\n%s", resp.Request.Method, resp.Request.URL, body)
	}
}

// mailLocale is the locale a mail's link names ("" for none).
func mailLocale(t *testing.T, m mail) (lang, next string) {
	t.Helper()
	u, err := url.Parse(m.Link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("locale"), u.Query().Get("next")
}

// confirmIn opens link, expects the adapter's confirm page in lang
// whatever the browser's language, and presses its button.
func (b *browser) confirmIn(link, lang string) (*http.Response, string) {
	b.t.Helper()
	resp, body := b.do(http.MethodGet, link, nil)
	adapter := filepath.Join("..", "..", "..", "httpadapter", "pages", "locales", lang+".json")
	raw, err := os.ReadFile(adapter)
	if err != nil {
		b.t.Fatal(err)
	}
	var texts map[string]string
	if err := json.Unmarshal(raw, &texts); err != nil {
		b.t.Fatal(err)
	}
	b.expect(resp, html.UnescapeString(body), http.StatusOK, `<html lang="`+lang+`">`, "<h1>"+texts["confirm.title"]+"</h1>",
		`<input type="hidden" name="locale" value="`+lang+`">`)
	m := hiddenToken.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("confirm page has no token field:\n%s", body)
	}
	return b.do(http.MethodPost, "/auth/verify", url.Values{"token_hash": {m[1]}, "type": {"magiclink"}, "locale": {lang}})
}

// With the browser's language, every page the example renders speaks it,
// and so do the mail and its link.
func TestPagesInTheBrowsersLanguage(t *testing.T) {
	t.Parallel()
	ts := start(t, nil)
	for _, lang := range exampleLocales {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			b := newBrowser(t, ts.base)
			b.lang = lang + "-XX," + lang + ";q=0.9"
			resp, body := b.do(http.MethodGet, "/", nil)
			wantLang(t, resp, body, lang, "index.title")
			if strings.Contains(body, `name="locale"`) {
				t.Fatal("the browser's language became a form field: it would stick to /me")
			}
			resp, body = b.do(http.MethodPost, "/signin", url.Values{"email": {"not an address"}})
			wantLang(t, resp, body, lang, "index.title")
			if !strings.Contains(html.UnescapeString(body), pageText(t, lang, "index.invalid_email")) {
				t.Fatal("the bad-address message is not in the page's language")
			}
			email := "browser-" + lang + "@example.com"
			resp, body = b.do(http.MethodPost, "/signin", url.Values{"email": {email}})
			wantLang(t, resp, body, lang, "check.title")
			for _, key := range []string{"check.approved", "check.expired", "check.ended", "check.other_device"} {
				if !strings.Contains(html.UnescapeString(body), pageText(t, lang, key)) {
					t.Errorf("the check page lacks its %s text", key)
				}
			}
			if !strings.Contains(body, `<strong id="sent-to">`+email+`</strong>`) {
				t.Error("the check page does not name the address")
			}
			m := b.lastMail(email)
			if got, next := mailLocale(t, m); got != lang || next != "/me" {
				t.Fatalf("mail link %q: locale %q next %q, want %s and /me", m.Link, got, next, lang)
			}
			resp, body = b.confirmIn(m.Link, lang)
			b.expect(resp, body, http.StatusSeeOther)
			resp, body = b.do(http.MethodGet, "/me", nil)
			wantLang(t, resp, body, lang, "me.title")
			if !strings.Contains(html.UnescapeString(body), pageText(t, lang, "me.method_link")) {
				t.Error("the signed-in page does not say how, in its language")
			}
		})
	}
}

// A language the visitor picks (?locale=) beats the browser's, is carried
// by the form into the mail, the link, the pages the link opens and /me;
// one the pages lack, or garbage, is ignored.
func TestChosenLanguageSticks(t *testing.T) {
	t.Parallel()
	ts := start(t, nil)
	b := newBrowser(t, ts.base)
	b.lang = "en-US,en;q=0.9"
	resp, body := b.do(http.MethodGet, "/?locale=de-CH", nil)
	wantLang(t, resp, body, "de", "index.title")
	for _, want := range []string{`<input type="hidden" name="locale" value="de">`, `<a href="/?locale=de" lang="de" hreflang="de" aria-current="page">Deutsch</a>`,
		`<a href="/?locale=tr" lang="tr" hreflang="tr">Türkçe</a>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the sign-in page lacks %q", want)
		}
	}
	resp, body = b.do(http.MethodPost, "/signin", url.Values{"email": {"chosen@example.com"}, "locale": {"de"}})
	wantLang(t, resp, body, "de", "check.title")
	m := b.lastMail("chosen@example.com")
	if got, next := mailLocale(t, m); got != "de" || next != "/me?locale=de" || !strings.Contains(m.Subject, "Anmeldelink") {
		t.Fatalf("mail %q with link %q: locale %q next %q, want a German mail, locale de, next /me?locale=de", m.Subject, m.Link, got, next)
	}
	resp, body = b.confirmIn(m.Link, "de")
	b.expect(resp, body, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != ts.base+"/me?locale=de" {
		t.Fatalf("signed in to %q, want /me?locale=de", loc)
	}
	resp, body = b.do(http.MethodGet, "/me?locale=de", nil)
	wantLang(t, resp, body, "de", "me.title")

	for _, bad := range []string{"it", "%3Cscript%3E", "de%22%3E%3Cx", strings.Repeat("x", 300)} {
		resp, body = b.do(http.MethodGet, "/?locale="+bad, nil)
		wantLang(t, resp, body, "en", "index.title")
		if strings.Contains(body, `name="locale"`) {
			t.Errorf("?locale=%.20s became a form field", bad)
		}
	}
}

// The error pages speak the request's language too.
func TestErrorPageInTheBrowsersLanguage(t *testing.T) {
	t.Parallel()
	ts := start(t, nil)
	req, _ := http.NewRequest(http.MethodPost, ts.base+"/signin", strings.NewReader("email=x%40example.com"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Accept-Language", "fr-FR,fr;q=0.9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	wantLang(t, resp, string(raw), "fr", "error.refused")
	page := html.UnescapeString(string(raw))
	if want := pageText(t, "fr", "error.cross_site") + " " + pageText(t, "fr", "error.sign_in_here"); !strings.Contains(page, want) || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, page lacks %q:\n%s", resp.StatusCode, want, page)
	}
}
