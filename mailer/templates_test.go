package mailer

import (
	"html"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func linkData(locale string) LinkData {
	return LinkData{
		To:      "jane@example.com",
		AppName: "Acme",
		Origin:  "https://app.example.com",
		Link:    "https://app.example.com/auth/verify?token_hash=abcDEF123_-x&type=magiclink&next=%2Foverview",
		Code:    "042917",
		TTL:     15 * time.Minute,
		Locale:  locale,
	}
}

func TestTemplatesEveryLocale(t *testing.T) {
	t.Parallel()
	tpl := DefaultTemplates()
	assert.Equal(t, []string{"de", "en", "es", "fr", "tr"}, tpl.Locales())
	// Words each translation must contain: the minutes and the "ignore" line.
	expect := map[string][]string{
		"en": {"15 minutes", "ignore this e-mail"},
		"de": {"15 Minuten", "ignorieren"},
		"fr": {"15 minutes", "ignorer cet e-mail"},
		"es": {"15 minutos", "ignorar este correo"},
		"tr": {"15 dakika", "yok sayabilirsiniz"},
	}
	button := map[string]string{"en": ">Sign in</a>", "de": ">Anmelden</a>", "fr": ">Se connecter</a>", "es": ">Iniciar sesión</a>", "tr": ">Giriş yap</a>"}
	for _, locale := range tpl.Locales() {
		t.Run(locale, func(t *testing.T) {
			t.Parallel()
			d := linkData(locale)
			m, err := tpl.Render(d)
			require.NoError(t, err)
			assert.Equal(t, locale, m.Locale)
			assert.Equal(t, d.To, m.To)
			assert.Equal(t, d.Link, m.Link)
			assert.Equal(t, d.Code, m.Code)
			assert.NotEmpty(t, m.Subject)
			assert.Contains(t, m.Subject, "Acme")
			assert.NotContains(t, m.Subject, "\n")
			htmlText := html.UnescapeString(m.HTML)
			for part, body := range map[string]string{"text": m.Text, "html": htmlText} {
				assert.Contains(t, body, d.Link, "%s part lacks the link", part)
				assert.Contains(t, body, "042 917", "%s part lacks the spaced code", part)
				assert.Contains(t, body, "Acme", "%s part lacks the app name", part)
				assert.Contains(t, body, "https://app.example.com", "%s part lacks the origin", part)
				assert.NotContains(t, body, "{{", "%s part has template residue", part)
				assert.NotContains(t, body, "ZgotmplZ", "%s part has an escaped-away value", part)
				for _, w := range expect[locale] {
					assert.Contains(t, body, w, "%s part", part)
				}
			}
			assert.Contains(t, m.HTML, "<strong>"+button[locale][1:len(button[locale])-4]+"</strong></a>")
			// Mail-client friendly HTML.
			lower := strings.ToLower(m.HTML)
			for _, banned := range []string{"<script", "<style", "<link", "src=\"http", "url(", "<iframe", "<form"} {
				assert.NotContains(t, lower, banned)
			}
			assert.Contains(t, lower, "<table")
			assert.Equal(t, 2, strings.Count(m.HTML, `href="https://app.example.com/auth/verify?token_hash=abcDEF123_-x&amp;type=magiclink&amp;next=%2Foverview"`),
				"button and fallback link")
		})
	}
}

func TestTemplatesSingularMinute(t *testing.T) {
	t.Parallel()
	d := linkData("en")
	d.TTL = 30 * time.Second
	m, err := DefaultTemplates().Render(d)
	require.NoError(t, err)
	assert.Contains(t, m.Text, "expire in 1 minute.")
	d.Locale, d.TTL = "de", 0
	d.ExpiresAt = time.Now().Add(3*time.Minute - time.Second)
	m, err = DefaultTemplates().Render(d)
	require.NoError(t, err)
	assert.Contains(t, m.Text, "3 Minuten")
}

func TestTemplatesFallback(t *testing.T) {
	t.Parallel()
	tpl := DefaultTemplates()
	for in, want := range map[string]string{
		"tr-TR":                    "tr",
		"tr_TR":                    "tr",
		"TR":                       "tr",
		"de-CH":                    "de",
		"de-Latn-CH":               "de",
		"de_DE.UTF-8":              "de",
		"fr-CA;q=0.9,en;q=0.8":     "fr",
		"es-419":                   "es",
		"pt-BR":                    "en",
		"":                         "en",
		"*":                        "en",
		"x":                        "en",
		"en-GB":                    "en",
		"../../etc/passwd":         "en",
		"de\r\nBcc: evil@evil.com": "en",
	} {
		assert.Equal(t, want, tpl.Resolve(in), "Resolve(%q)", in)
		m, err := tpl.Render(LinkData{To: "a@example.com", Locale: in, Link: "https://a.example/x", Code: "123456", TTL: time.Minute})
		require.NoError(t, err)
		assert.Equal(t, want, m.Locale)
	}
}

func TestTemplatesNoHeaderInjection(t *testing.T) {
	t.Parallel()
	d := linkData("en")
	d.AppName = "Acme\r\nBcc: victim@example.com\u2028X"
	m, err := DefaultTemplates().Render(d)
	require.NoError(t, err)
	assert.NotContains(t, m.Subject, "\r")
	assert.NotContains(t, m.Subject, "\n")
	assert.NotContains(t, m.Subject, "\u2028")
	assert.Equal(t, "Your sign-in link for Acme Bcc: victim@example.com X", m.Subject)

	d = linkData("en")
	d.To = "jane@example.com\r\nBcc: x@example.com"
	_, err = DefaultTemplates().Render(d)
	require.Error(t, err)
}

func TestTemplatesEscapeHTML(t *testing.T) {
	t.Parallel()
	d := linkData("en")
	d.AppName = `<img src=x onerror=alert(1)>`
	d.Link = "javascript:alert(1)"
	m, err := DefaultTemplates().Render(d)
	require.NoError(t, err)
	assert.NotContains(t, m.HTML, "<img")
	assert.NotContains(t, m.HTML, `href="javascript:`)
}

func TestNewTemplatesOverride(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"en.subject.txt": {Data: []byte("Log in to {{.AppName}}\n")},
		"it.subject.txt": {Data: []byte("Il tuo link per {{.AppName}}")},
		"it.txt":         {Data: []byte("Apri {{.Link}} oppure inserisci {{.CodeSpaced}} ({{.Minutes}} minuti).")},
		"it.html":        {Data: []byte(`<p><a href="{{.Link}}">Accedi</a> {{.CodeSpaced}}</p>`)},
		"README.md":      {Data: []byte("ignored")},
	}
	tpl, err := NewTemplates(fsys)
	require.NoError(t, err)
	assert.Equal(t, []string{"de", "en", "es", "fr", "it", "tr"}, tpl.Locales())

	m, err := tpl.Render(linkData("en-US"))
	require.NoError(t, err)
	assert.Equal(t, "Log in to Acme", m.Subject, "overridden subject")
	assert.Contains(t, m.Text, "15 minutes", "built-in text kept")

	m, err = tpl.Render(linkData("it-IT"))
	require.NoError(t, err)
	assert.Equal(t, "it", m.Locale)
	assert.Equal(t, "Il tuo link per Acme", m.Subject)
	assert.Contains(t, m.Text, "042 917 (15 minuti)")
	assert.Contains(t, html.UnescapeString(m.HTML), linkData("").Link)

	m, err = tpl.Render(linkData("de"))
	require.NoError(t, err)
	assert.Contains(t, m.Subject, "Anmeldelink")
}

func TestNewTemplatesErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]fstest.MapFS{
		"parse error":         {"en.txt": {Data: []byte("{{.Link")}},
		"html parse error":    {"de.html": {Data: []byte("<a href=\"{{.Link}\">")}},
		"unknown field":       {"fr.subject.txt": {Data: []byte("{{.Nope}}")}},
		"new locale, partial": {"it.subject.txt": {Data: []byte("x")}},
		"upper-case name":     {"DE.txt": {Data: []byte("x")}},
	}
	for name, fsys := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tpl, err := NewTemplates(fsys)
			if name == "unknown field" {
				// text/template only knows fields at execution time.
				require.NoError(t, err)
				_, err = tpl.Render(linkData("fr"))
			}
			require.Error(t, err)
		})
	}
}
