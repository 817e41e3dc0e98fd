package app

import (
	"embed"
	"fmt"
	"html/template"
	"net/http"

	"github.com/magiclink-go/magiclink/internal/catalog"
	"github.com/magiclink-go/magiclink/internal/locale"
)

// localeFS holds the pages' texts, one locales/{locale}.json per language,
// read the way the adapter reads its own (internal/catalog).
//
//go:embed locales/*.json
var localeFS embed.FS

// texts are the example's page texts. The embedded files are checked by
// the package tests, so Load cannot fail here.
var texts = func() *catalog.Catalog {
	c, err := catalog.Load(localeFS, nil)
	if err != nil {
		panic(err)
	}
	return c
}()

// languages are the locales the pages offer in their language switcher,
// each named in itself.
var languages = []struct{ Tag, Name string }{
	{"en", "English"}, {"de", "Deutsch"}, {"fr", "Français"}, {"es", "Español"}, {"tr", "Türkçe"},
}

// pageLocale picks a page's language as the adapter's pages do: the
// locale the request names (a form's "locale" field, else the "locale"
// query parameter) when the texts have it, else the browser's
// Accept-Language by q-value, falling back tr-TR → tr → en. chosen reports
// whether the request named it, so that the pages after it keep it.
func pageLocale(r *http.Request, requested string) (lang string, chosen bool) {
	if requested == "" {
		requested = r.URL.Query().Get("locale")
	}
	if l, ok := locale.Match(requested, texts.Has); ok {
		return l, true
	}
	return locale.Negotiate(r.Header.Get("Accept-Language"), texts.Has), false
}

// T returns the text key in the page's language, formatted with args. An
// unknown key is an error, which fails the page's rendering (and the
// tests that render every page).
func (d pageData) T(key string, args ...any) (string, error) {
	s, ok := texts.Text(d.Lang, key)
	if !ok {
		return "", fmt.Errorf("no page text %q", key)
	}
	if len(args) == 0 {
		return s, nil
	}
	return fmt.Sprintf(s, args...), nil
}

// Strong is T for a text whose first verb is a value to stand out, such
// as the address a mail went to: the value in <strong id="id"> (no id for
// ""), the rest of the text and the other args escaped.
func (d pageData) Strong(key, id, value string, args ...any) (template.HTML, error) {
	s, ok := texts.Text(d.Lang, key)
	if !ok {
		return "", fmt.Errorf("no page text %q", key)
	}
	strong := "<strong>" + template.HTMLEscapeString(value) + "</strong>"
	if id != "" {
		strong = `<strong id="` + template.HTMLEscapeString(id) + `">` + template.HTMLEscapeString(value) + "</strong>"
	}
	all := []any{template.HTML(strong)}
	for _, a := range args {
		switch a.(type) {
		case int, int64:
			all = append(all, a) // for a %d, and nothing to escape
		default:
			all = append(all, template.HTMLEscapeString(fmt.Sprint(a)))
		}
	}
	return template.HTML(fmt.Sprintf(template.HTMLEscapeString(s), all...)), nil
}

// text is T for Go code: the text, or the key itself when there is none
// (a test checks that every key the code names exists).
func (d pageData) text(key string, args ...any) string {
	s, err := d.T(key, args...)
	if err != nil {
		return key
	}
	return s
}
