package httpadapter_test

import (
	"html"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/magiclink-go/magiclink/httpadapter"
)

// itTitle is the link-invalid title of the Italian the tests' hosts add.
const itTitle = "Link di accesso non valido"

// wantAppName checks that a link-invalid page in lang (by Accept-Language)
// names the app exactly name in its <title> and its header.
func wantAppName(t *testing.T, e *env, lang, name string) {
	t.Helper()
	rec := e.do(withLang(pageReq(http.MethodGet, "?token_hash=bad&type=magiclink"), lang))
	wantStatus(t, rec, http.StatusOK)
	body := html.UnescapeString(rec.Body.String())
	title := itTitle // the host's added locale
	if lang != "it" {
		title = texts(t, lang)["link_invalid.title"]
	}
	for _, want := range []string{"<title>" + title + " · " + name + "</title>", "<span>" + name + "</span>", `<html lang="` + lang + `">`} {
		if !strings.Contains(body, want) {
			t.Errorf("the %s page lacks %q:\n%s", lang, want, truncate(body))
		}
	}
}

// Without the host's "app.name" every locale shows Config.AppName, or the
// Service's name without it: what hosts that set nothing always got.
func TestPagesAppNameWithoutHostTexts(t *testing.T) {
	t.Parallel()
	plain := newEnv(t)
	named := newEnv(t, withHTTP(func(c *httpadapter.Config) { c.AppName = "Acme Portal" }))
	otherTexts := newEnv(t, withHTTP(func(c *httpadapter.Config) {
		c.AppName = "Acme Portal"
		c.Pages = fstest.MapFS{"locales/de.json": {Data: []byte(`{"confirm.button": "Jetzt anmelden"}`)}}
	}))
	for _, lang := range []string{"en", "de", "fr", "es", "tr"} {
		wantAppName(t, plain, lang, "Acme")
		wantAppName(t, named, lang, "Acme Portal")
		wantAppName(t, otherTexts, lang, "Acme Portal")
	}
}

// A host's "app.name" names the app in its locale, trimmed; a locale
// without one falls back to the host's English name, as every text does,
// else to Config.AppName; an empty one means Config.AppName. A host's
// template reads the same name with T "app.name".
func TestPagesAppNamePerLocale(t *testing.T) {
	t.Parallel()
	translated := fstest.MapFS{
		"locales/de.json": {Data: []byte(`{"app.name": "Acme-Beispiel"}`)},
		"locales/fr.json": {Data: []byte(`{"app.name": "  exemple Acme  "}`)},
		"locales/tr.json": {Data: []byte(`{"app.name": "Acme örneği & <Co>"}`)},
		"locales/it.json": {Data: []byte(`{"link_invalid.title": "` + itTitle + `"}`)},
	}
	e := newEnv(t, withHTTP(func(c *httpadapter.Config) { c.AppName, c.Pages = "Acme", translated }))
	for lang, want := range map[string]string{"de": "Acme-Beispiel", "fr": "exemple Acme", "tr": "Acme örneği & <Co>", "en": "Acme", "es": "Acme"} {
		wantAppName(t, e, lang, want)
	}
	rec := e.do(withLang(pageReq(http.MethodGet, "?token_hash=bad&type=magiclink"), "tr"))
	if body := rec.Body.String(); strings.Contains(body, "<Co>") || !strings.Contains(body, "&lt;Co&gt;") {
		t.Errorf("the tr page does not escape the host's name:\n%s", truncate(body))
	}

	withEnglish := fstest.MapFS{
		"locales/en.json": {Data: []byte(`{"app.name": "Acme example"}`)},
		"locales/de.json": {Data: []byte(`{"app.name": "Acme-Beispiel"}`)},
		"locales/fr.json": {Data: []byte(`{"app.name": ""}`)},
		"locales/it.json": {Data: []byte(`{"link_invalid.title": "` + itTitle + `"}`)},
		"link-invalid.html": {Data: []byte(`{{define "title"}}{{.T "link_invalid.title"}}{{end}}` +
			`{{define "content"}}<p id="named">{{.T "app.name"}}</p>{{end}}`)},
	}
	e = newEnv(t, withHTTP(func(c *httpadapter.Config) { c.AppName, c.Pages = "Acme", withEnglish }))
	for lang, want := range map[string]string{"en": "Acme example", "de": "Acme-Beispiel", "es": "Acme example", "it": "Acme example", "fr": "Acme"} {
		wantAppName(t, e, lang, want)
		rec := e.do(withLang(pageReq(http.MethodGet, "?token_hash=bad&type=magiclink"), lang))
		if got := html.UnescapeString(rec.Body.String()); !strings.Contains(got, `<p id="named">`+want+`</p>`) {
			t.Errorf(`the %s page's T "app.name" is not %q:\n%s`, lang, want, truncate(got))
		}
	}
}

// A host's name that a page may not show fails New with a Pages config
// error naming the locale file and the key.
func TestPagesAppNameValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for name, tt := range map[string]struct{ file, text string }{
		"line break":    {"locales/de.json", `"Acme\r\nBcc: x"`},
		"control":       {"locales/fr.json", `"Acme\u0007"`},
		"bidi override": {"locales/tr.json", `"Acme\u202eemca"`},
		"too long":      {"locales/es.json", `"` + strings.Repeat("ä", 101) + `"`},
		"blank":         {"locales/en.json", `"   "`},
		"added locale":  {"locales/it.json", `"\t"`},
		"verbs":         {"locales/de.json", `"Acme %s"`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pages := fstest.MapFS{tt.file: {Data: []byte(`{"app.name": ` + tt.text + `}`)}}
			_, err := httpadapter.New(e.svc, httpadapter.Config{Pages: pages})
			if !isConfigError(err, "Pages") || !strings.Contains(err.Error(), tt.file+`: key "app.name"`) {
				t.Fatalf("New = %v, want a Pages config error naming %s and the key", err, tt.file)
			}
		})
	}
	// Exactly the longest name passes.
	pages := fstest.MapFS{"locales/de.json": {Data: []byte(`{"app.name": "` + strings.Repeat("ä", 100) + `"}`)}}
	if _, err := httpadapter.New(e.svc, httpadapter.Config{Pages: pages}); err != nil {
		t.Fatalf("New refuses a 100-character name: %v", err)
	}
}
