package httpadapter_test

import (
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// otherLang is a browser language that is not lang, so a page in lang
// can only come from the link.
func otherLang(lang string) string {
	if lang == "en" {
		return "de-DE,de;q=0.9"
	}
	return "en-US,en;q=0.9"
}

// wantPageIn checks that rec is the page titled titleKey in lang.
func wantPageIn(t *testing.T, rec *httptest.ResponseRecorder, lang, titleKey string, status int) string {
	t.Helper()
	wantStatus(t, rec, status)
	body := html.UnescapeString(rec.Body.String())
	title := texts(t, lang)[titleKey]
	if got := rec.Header().Get("Content-Language"); got != lang || !strings.Contains(body, `<html lang="`+lang+`">`) || !strings.Contains(body, "<h1>"+title+"</h1>") {
		t.Fatalf("page in %q, want the %s page in %s (%q):\n%s", got, titleKey, lang, title, truncate(body))
	}
	return body
}

// A mail's link names the mail's language, and every page from it speaks
// it whatever the browser's language: the confirm page, the other
// device's approval page and its answers, a used link's page.
func TestMailedLinkKeepsTheMailsLanguage(t *testing.T) {
	t.Parallel()
	for _, lang := range []string{"en", "de", "fr", "es", "tr"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			// The laptop asks in lang (its browser's language).
			body := `{"email":"ada@example.com","callback_origin":"https://app.example.com","callback_next":"/after"}`
			rec := e.do(jsonReq(sendPath, body, "Accept-Language", strings.ToUpper(lang)+"-XX", "User-Agent", laptopUA))
			wantStatus(t, rec, http.StatusOK)
			m, _ := e.inbox.Last("ada@example.com")
			u, err := url.Parse(m.Link)
			if err != nil || u.Query().Get("locale") != lang || m.Locale == "" {
				t.Fatalf("mail in %q with link %q (%v), want locale=%s", m.Locale, m.Link, err, lang)
			}
			// The phone, in another language, opens it.
			open := func() *http.Request {
				return withLang(httptest.NewRequest(http.MethodGet, m.Link, nil), otherLang(lang))
			}
			page := wantPageIn(t, e.do(open()), lang, "confirm.title", http.StatusOK)
			for _, want := range []string{texts(t, lang)["approve.button"], `<input type="hidden" name="locale" value="` + lang + `">`} {
				if !strings.Contains(page, want) {
					t.Fatalf("the approval page lacks %q", want)
				}
			}
			// Its forms carry the language on, as a browser posts them.
			approve := func(match string) *http.Request {
				return withLang(formReq("https://app.example.com"+approvePath, url.Values{"token_hash": {u.Query().Get("token_hash")},
					"type": {"magiclink"}, "match": {match}, "locale": {lang}}, sameSite...), otherLang(lang))
			}
			pending := cookieNamed(rec, "magiclink_pending")
			wantPageIn(t, e.do(approve(wrongNumber(e.waitingMatch(pending)))), lang, "match_invalid.title", http.StatusBadRequest)
			// The wrong number used the link up: opening it again.
			wantPageIn(t, e.do(open()), lang, "link_invalid.title", http.StatusOK)
		})
	}
}

// The approved page, after the right number, in the link's language.
func TestApprovedPageInTheLinksLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := `{"email":"ada@example.com","callback_origin":"https://app.example.com","locale":"de-AT"}`
	rec := e.do(jsonReq(sendPath, body, "Accept-Language", "en"))
	wantStatus(t, rec, http.StatusOK)
	m, _ := e.inbox.Last("ada@example.com")
	u, _ := url.Parse(m.Link)
	if u.Query().Get("locale") != "de" {
		t.Fatalf("link %q, want locale=de for a body locale de-AT", m.Link)
	}
	wantPageIn(t, e.do(withLang(httptest.NewRequest(http.MethodGet, m.Link, nil), "en")), "de", "confirm.title", http.StatusOK)
	match := e.waitingMatch(cookieNamed(rec, "magiclink_pending"))
	form := url.Values{"token_hash": {u.Query().Get("token_hash")}, "type": {"magiclink"}, "match": {match}, "locale": {"de"}}
	wantPageIn(t, e.do(withLang(formReq("https://app.example.com"+approvePath, form, sameSite...), "en")), "de", "approved.title", http.StatusOK)
}

// What the link's language is read from never reaches the URL as sent:
// a language the templates lack, or none, gives a link without one.
func TestMailedLinkLocaleOnlyKnown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i, tt := range []struct{ bodyLocale, accept, want string }{
		{"", "", ""},
		{"", "it-IT,it;q=0.9", ""},
		{"xx-YY", "de", ""},
		{"", "<script>, de", "de"},
		{"", strings.Repeat("a", 600), ""},
		{"", "*", ""},
		{"pt-BR", "", ""},
		{"TR-tr", "de", "tr"},
	} {
		addr := "lang" + string(rune('a'+i)) + "@example.com"
		body := `{"email":"` + addr + `","callback_origin":"https://app.example.com"`
		if tt.bodyLocale != "" {
			body += `,"locale":` + jsonString(tt.bodyLocale)
		}
		wantStatus(t, e.do(jsonReq(sendPath, body+"}", "Accept-Language", tt.accept)), http.StatusOK)
		m, _ := e.inbox.Last(addr)
		u, err := url.Parse(m.Link)
		if err != nil || u.Query().Get("locale") != tt.want || u.Query().Has("locale") != (tt.want != "") {
			t.Errorf("locale %q, Accept-Language %.20q: link %q, want locale %q", tt.bodyLocale, tt.accept, m.Link, tt.want)
		}
	}
}
