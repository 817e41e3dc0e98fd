package httpadapter_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/ratelimit"
)

// texts reads a built-in catalog, so that the tests check the page shows
// the file's texts rather than copies of them.
func texts(t *testing.T, locale string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile("pages/locales/" + locale + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// sameSite are the headers a browser sends with a form post from one of
// the pages (Referrer-Policy: no-referrer makes the Origin "null").
var sameSite = []string{"Sec-Fetch-Site", "same-origin", "Origin", "null"}

// pageCase produces one page: the request that leads to it, on a fresh env.
type pageCase struct {
	name   string
	status int
	title  string // catalog key of the page's title
	button string // catalog key of a button or text the page must show; "" for none
	setup  func(e *env)
	req    func(e *env, lang string) *http.Request
}

func withLang(r *http.Request, lang string) *http.Request {
	r.Header.Set("Accept-Language", lang)
	return r
}

func pageCases() []pageCase {
	wrongCode := func(e *env, lang string) *http.Request {
		_, code := e.issue("ada@example.com", "/")
		bad := "000000"
		if code == bad {
			bad = "111111"
		}
		return withLang(formReq(appOrigin+verifyPath, url.Values{"email": {"ada@example.com"}, "code": {bad}}, sameSite...), lang)
	}
	return []pageCase{
		{"confirm", 200, "confirm.title", "confirm.button", nil, func(e *env, lang string) *http.Request {
			c, tok, _ := e.ask("ada@example.com")
			r := withLang(pageReq(http.MethodGet, "?token_hash="+tok+"&type=magiclink"), lang)
			r.AddCookie(c)
			return r
		}},
		{"confirm-other-device", 200, "confirm.title", "approve.button", nil, func(e *env, lang string) *http.Request {
			_, tok, _ := e.ask("ada@example.com")
			return withLang(pageReq(http.MethodGet, "?token_hash="+tok+"&type=magiclink"), lang)
		}},
		{"approved", 200, "approved.title", "approved.message", nil, func(e *env, lang string) *http.Request {
			c, tok, _ := e.ask("ada@example.com")
			return withLang(approveForm(tok, e.waitingMatch(c)), lang)
		}},
		{"match-invalid", 400, "match_invalid.title", "code.button", nil, func(e *env, lang string) *http.Request {
			c, tok, _ := e.ask("ada@example.com")
			wrong := "00"
			if e.waitingMatch(c) == wrong {
				wrong = "01"
			}
			return withLang(approveForm(tok, wrong), lang)
		}},
		{"pending-invalid", 400, "pending_invalid.title", "confirm.button", nil, func(e *env, lang string) *http.Request {
			// A link made for a partner: no browser waits for it.
			l, err := e.svc.CreateLink(context.Background(), magiclink.LinkRequest{Email: "ada@example.com", Origin: appOrigin, Next: "/"})
			if err != nil {
				panic(err)
			}
			return withLang(approveForm(l.Token, "12"), lang)
		}},
		{"link-invalid", 200, "link_invalid.title", "resend.button", nil, func(e *env, lang string) *http.Request {
			return withLang(pageReq(http.MethodGet, "?token_hash="+strings.Repeat("A", 43)+"&type=magiclink&next=/inbox"), lang)
		}},
		{"code-invalid", 400, "code_invalid.title", "code.button", nil, wrongCode},
		{"rate-limited", 429, "rate_limited.title", "code.button", nil, func(e *env, lang string) *http.Request {
			e.do(wrongCode(e, lang)) // spends the one try the limit allows
			return wrongCode(e, lang)
		}},
		{"unavailable", 503, "unavailable.title", "retry.button", nil, func(e *env, lang string) *http.Request {
			tok, _ := e.issue("ada@example.com", "/")
			e.store.down.Store(true)
			return withLang(pageReq(http.MethodGet, "?token_hash="+tok+"&type=magiclink"), lang)
		}},
		{"internal", 500, "internal.title", "resend.button", nil, func(e *env, lang string) *http.Request {
			tok, _ := e.issue("ada@example.com", "/")
			return withLang(formReq(appOrigin+verifyPath, url.Values{"token_hash": {tok}, "type": {"magiclink"}}, sameSite...), lang)
		}},
		{"blocked", 403, "blocked.title", "code.button", nil, func(e *env, lang string) *http.Request {
			return withLang(formReq(appOrigin+verifyPath, url.Values{"token_hash": {"x"}}, "Sec-Fetch-Site", "cross-site"), lang)
		}},
		{"request-invalid", 413, "request_invalid.title", "code.button", nil, func(e *env, lang string) *http.Request {
			return withLang(formReq(appOrigin+verifyPath, url.Values{"pad": {strings.Repeat("x", 65<<10)}}, sameSite...), lang)
		}},
		{"sent", 200, "sent.title", "code.button", nil, func(e *env, lang string) *http.Request {
			return withLang(formReq(appOrigin+sendPath, url.Values{"email": {"ada@example.com"}, "callback_origin": {appOrigin}}, sameSite...), lang)
		}},
	}
}

// envFor is the env a page case runs in: the rate-limited case has a
// verify limit of one try, the internal one a failing OnLogin hook.
func envFor(t *testing.T, c pageCase) *env {
	switch c.name {
	case "rate-limited":
		return newEnv(t, withLimits(magiclink.Limits{VerifyPerIP: ratelimit.Rate{Limit: 1, Period: time.Hour, Burst: 1}}))
	case "internal":
		return newEnv(t, withHTTP(func(c *httpadapter.Config) {
			c.OnLogin = func(http.ResponseWriter, *http.Request, magiclink.Identity) error {
				return errors.New("host database down")
			}
		}))
	}
	return newEnv(t)
}

// Every page speaks the browser's language: German Accept-Language gives
// German titles and buttons on the confirm page and every error page, and
// so for each built-in locale.
func TestPagesSpeakTheBrowsersLanguage(t *testing.T) {
	t.Parallel()
	for _, lang := range []string{"en", "de", "fr", "es", "tr"} {
		msgs := texts(t, lang)
		for _, c := range pageCases() {
			t.Run(lang+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				e := envFor(t, c)
				rec := e.do(c.req(e, lang+"-XX;q=0.9, en;q=0.1"))
				wantStatus(t, rec, c.status)
				wantPageHeaders(t, rec)
				body := html.UnescapeString(rec.Body.String())
				if !strings.Contains(body, `<html lang="`+lang+`">`) || rec.Header().Get("Content-Language") != lang {
					t.Errorf("page is not marked %s: Content-Language %q", lang, rec.Header().Get("Content-Language"))
				}
				for _, key := range []string{c.title, c.button} {
					if !strings.Contains(body, msgs[key]) {
						t.Errorf("page lacks %s text %q (%s):\n%s", lang, msgs[key], key, truncate(body))
					}
				}
				if lang != "en" && strings.Contains(body, texts(t, "en")[c.title]) {
					t.Errorf("%s page still shows the English title", lang)
				}
			})
		}
	}
}

func TestConfirmPageInGerman(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, tok, _ := e.ask("ada@example.com")
	r := withLang(pageReq(http.MethodGet, "?token_hash="+tok+"&type=magiclink"), "de-DE,de;q=0.9,en;q=0.8")
	r.AddCookie(c)
	rec := e.do(r)
	body := rec.Body.String()
	for _, want := range []string{`<html lang="de">`, "<h1>Anmeldung bestätigen</h1>", `<button type="submit" autofocus>Anmelden</button>`,
		`<input type="hidden" name="locale" value="de">`} {
		if !strings.Contains(body, want) {
			t.Errorf("German confirm page lacks %q", want)
		}
	}
}

// The page's language: the form's or link's locale first, then
// Accept-Language by q-value (not by position), with the tr-TR → tr → en
// fallback.
func TestPageLocaleNegotiation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tt := range []struct {
		query, accept, want string
	}{
		{"", "en;q=0.1, de;q=0.9", "de"},
		{"", "tr-TR", "tr"},
		{"", "it, es;q=0.5", "es"},
		{"", "it", "en"},
		{"", "", "en"},
		{"", "de;q=0, fr", "fr"},
		{"&locale=fr", "de", "fr"},
		{"&locale=tr-TR", "de", "tr"},
		{"&locale=xx", "es", "es"},
		{"&locale=%3Cscript%3E", "", "en"},
	} {
		rec := e.do(withLang(pageReq(http.MethodGet, "?token_hash=bad&type=magiclink"+tt.query), tt.accept))
		if got := rec.Header().Get("Content-Language"); got != tt.want || !strings.Contains(rec.Body.String(), `<html lang="`+tt.want+`">`) {
			t.Errorf("query %q, Accept-Language %q: page in %q, want %q", tt.query, tt.accept, got, tt.want)
		}
	}
	// A form carries the page's locale to the page that answers it.
	rec := e.do(withLang(formReq(appOrigin+verifyPath, url.Values{"email": {"a@example.com"}, "code": {"123456"}, "locale": {"es"}}, sameSite...), "de"))
	if got := rec.Header().Get("Content-Language"); got != "es" {
		t.Errorf("code form with locale=es answered in %q", got)
	}
}

// The error pages offer the next step with what they know.
func TestErrorPagesOfferTheNextStep(t *testing.T) {
	t.Parallel()
	t.Run("dead link: code form and a new link to the same place", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		rec := e.do(pageReq(http.MethodGet, "?token_hash="+strings.Repeat("A", 43)+"&type=magiclink&next=/inbox%3Ftab%3D2"))
		wantContains(t, rec.Body.String(), `<form method="post" action="/auth/send-magic-link" class="step">`,
			`<input type="hidden" name="callback_origin" value="https://app.example.com">`,
			`<input type="hidden" name="callback_next" value="/inbox?tab=2">`,
			`<input id="resend-email" name="email" type="email"`, `autocomplete="one-time-code"`)
	})
	t.Run("wrong code: both forms prefilled with the address", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.issue("ada@example.com", "/")
		rec := e.do(formReq(appOrigin+verifyPath, url.Values{"email": {"Ada@Example.com"}, "code": {"999999"}}, sameSite...))
		wantStatus(t, rec, http.StatusBadRequest)
		wantContains(t, rec.Body.String(), `<input id="email" name="email" type="email" autocomplete="email" required maxlength="254" value="ada@example.com">`,
			`autocomplete="one-time-code" pattern="[0-9 ]{6,7}" maxlength="7" required autofocus>`,
			`<input type="hidden" name="email" value="ada@example.com">`)
	})
	t.Run("outage on the link page: try the same link again", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		tok, _ := e.issue("ada@example.com", "/")
		e.store.down.Store(true)
		rec := e.do(pageReq(http.MethodGet, "?token_hash="+tok+"&type=magiclink"))
		wantStatus(t, rec, http.StatusServiceUnavailable)
		body := html.UnescapeString(rec.Body.String())
		wantContains(t, body, `<a class="button-link" href="/auth/verify?locale=en&token_hash=`+tok+`&type=magiclink">Try again</a>`,
			"You can try again in 1 second.")
		if rec.Header().Get("Retry-After") != "1" {
			t.Errorf("Retry-After = %q", rec.Header().Get("Retry-After"))
		}
	})
	t.Run("outage on the button: the same button again, and the link still works", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		tok, _ := e.issue("ada@example.com", "/")
		e.store.down.Store(true)
		rec := e.do(formReq(appOrigin+verifyPath, url.Values{"token_hash": {tok}, "type": {"magiclink"}}, sameSite...))
		wantStatus(t, rec, http.StatusServiceUnavailable)
		wantContains(t, rec.Body.String(), `<input type="hidden" name="token_hash" value="`+tok+`">`, `<button type="submit" autofocus>Try again</button>`)
		e.store.down.Store(false)
		rec = e.do(formReq(appOrigin+verifyPath, url.Values{"token_hash": {tok}, "type": {"magiclink"}}, sameSite...))
		wantStatus(t, rec, http.StatusSeeOther)
	})
	t.Run("rate limited: the wait, in words", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, withLimits(magiclink.Limits{VerifyPerIP: ratelimit.Rate{Limit: 1, Period: 10 * time.Minute, Burst: 1}}))
		try := func() *httptest.ResponseRecorder {
			return e.do(withLang(formReq(appOrigin+verifyPath, url.Values{"email": {"a@example.com"}, "code": {"123456"}}, sameSite...), "de"))
		}
		try()
		rec := try()
		wantStatus(t, rec, http.StatusTooManyRequests)
		wantContains(t, rec.Body.String(), "Warten Sie 10 Minuten und versuchen Sie es dann erneut.")
		if rec.Header().Get("Retry-After") != "600" {
			t.Errorf("Retry-After = %q", rec.Header().Get("Retry-After"))
		}
	})
}

func wantContains(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q:\n%s", w, truncate(body[strings.Index(body, "<body>"):]))
		}
	}
}

// The "send a new link" button is a form post to send-magic-link: a new
// mail in the page's language and the "sent" page with the code form; the
// same for an unknown address, so it tells nobody who has an account.
func TestSendForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	send := func(form url.Values, hdr ...string) *httptest.ResponseRecorder {
		return e.do(formReq(appOrigin+sendPath, form, hdr...))
	}
	rec := send(url.Values{"email": {"Ada@Example.com"}, "callback_origin": {appOrigin}, "callback_next": {"/inbox"}, "locale": {"de"}}, sameSite...)
	wantStatus(t, rec, http.StatusOK)
	wantPageHeaders(t, rec)
	wantContains(t, rec.Body.String(), "<h1>Prüfen Sie Ihre E-Mails</h1>", `<p class="account">ada@example.com</p>`,
		`<input id="email" name="email" type="email" autocomplete="email" required maxlength="254" value="ada@example.com">`)
	m, ok := e.inbox.Last("ada@example.com")
	if !ok || m.Locale != "de" || !strings.HasSuffix(m.Link, "&next=/inbox&locale=de") || !strings.HasPrefix(m.Link, appOrigin) {
		t.Fatalf("mail after the form: %v %+v", ok, m)
	}

	t.Run("cross-site", func(t *testing.T) {
		rec := send(url.Values{"email": {"eve@example.com"}, "callback_origin": {appOrigin}}, "Sec-Fetch-Site", "cross-site")
		wantStatus(t, rec, http.StatusForbidden)
		if _, ok := e.inbox.Last("eve@example.com"); ok {
			t.Fatal("a cross-site form sent mail")
		}
	})
	for name, tt := range map[string]struct {
		form   url.Values
		status int
		want   string
	}{
		"bad address":      {url.Values{"email": {"not an address"}, "callback_origin": {appOrigin}}, 400, "Enter a valid e-mail address"},
		"header injection": {url.Values{"email": {"a@example.com\r\nBcc: x@example.net"}, "callback_origin": {appOrigin}}, 400, "Enter a valid e-mail address"},
		"foreign origin":   {url.Values{"email": {"b@example.com"}, "callback_origin": {"https://evil.example"}}, 400, "A new link cannot be sent from this page"},
		"unsafe next":      {url.Values{"email": {"c@example.com"}, "callback_origin": {appOrigin}, "callback_next": {"//evil.example"}}, 200, "Check your e-mail"},
	} {
		t.Run(name, func(t *testing.T) {
			rec := send(tt.form, sameSite...)
			wantStatus(t, rec, tt.status)
			wantContains(t, html.UnescapeString(rec.Body.String()), tt.want)
		})
	}
	// The unsafe next was dropped, not followed.
	if m, ok := e.inbox.Last("c@example.com"); !ok || strings.Contains(m.Link, "evil") {
		t.Fatalf("mail for the unsafe next: %v %+v", ok, m)
	}
}

// A host replaces pages by file name; the others stay built in.
func TestPagesOverrideByName(t *testing.T) {
	t.Parallel()
	host := fstest.MapFS{
		"confirm.html":    {Data: []byte(`{{define "title"}}Welcome back{{end}}{{define "content"}}<p id="host">{{.Account}}</p><form method="post" action="{{.VerifyAction}}"><input type="hidden" name="token_hash" value="{{.TokenHash}}"><button>{{.T "confirm.button"}}</button></form>{{end}}`)},
		"locales/de.json": {Data: []byte(`{"confirm.button": "Jetzt anmelden"}`)},
		"locales/it.json": {Data: []byte(`{"link_invalid.title": "Link di accesso non valido"}`)},
		"README.txt":      {Data: []byte("not a page; ignored")},
	}
	e := newEnv(t, withHTTP(func(c *httpadapter.Config) { c.Pages = host }))
	tok, _ := e.issue("ada@example.com", "/")
	rec := e.do(withLang(pageReq(http.MethodGet, "?token_hash="+tok+"&type=magiclink"), "de"))
	wantContains(t, rec.Body.String(), "<h1>Welcome back</h1>", `<p id="host">ada@example.com</p>`, "<button>Jetzt anmelden</button>",
		`<html lang="de">`)
	// A page the host did not replace is the built-in one; a locale the
	// host added falls back to English for the texts it lacks.
	rec = e.do(withLang(pageReq(http.MethodGet, "?token_hash=bad&type=magiclink"), "it"))
	wantContains(t, rec.Body.String(), `<html lang="it">`, "<h1>Link di accesso non valido</h1>", texts(t, "en")["code.button"])
}

// A broken override fails New with an error naming the file.
func TestPagesBrokenOverrideFailsNew(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for name, tt := range map[string]struct {
		fs   fstest.MapFS
		want string
	}{
		"syntax error":     {fstest.MapFS{"confirm.html": {Data: []byte(`{{define "title"}}x{{end}}{{define "content"}}{{if}}{{end}}`)}}, "confirm.html"},
		"unknown field":    {fstest.MapFS{"sent.html": {Data: []byte(`{{define "title"}}x{{end}}{{define "content"}}{{.Password}}{{end}}`)}}, "sent.html"},
		"unknown text":     {fstest.MapFS{"internal.html": {Data: []byte(`{{define "title"}}{{.T "no.such.key"}}{{end}}{{define "content"}}{{end}}`)}}, "internal.html"},
		"no content":       {fstest.MapFS{"blocked.html": {Data: []byte(`{{define "title"}}x{{end}}`)}}, "blocked.html"},
		"misspelt page":    {fstest.MapFS{"confim.html": {Data: []byte(`x`)}}, "confim.html"},
		"broken layout":    {fstest.MapFS{"layout.html": {Data: []byte(`<html>{{template "content" .}`)}}, "layout.html"},
		"unknown key":      {fstest.MapFS{"locales/de.json": {Data: []byte(`{"confirm.buton": "x"}`)}}, "locales/de.json"},
		"lost verb":        {fstest.MapFS{"locales/fr.json": {Data: []byte(`{"confirm.intro": "Connexion"}`)}}, "locales/fr.json"},
		"not JSON":         {fstest.MapFS{"locales/es.json": {Data: []byte(`{"confirm.title": 1}`)}}, "locales/es.json"},
		"bad locale name":  {fstest.MapFS{"locales/DE.json": {Data: []byte(`{}`)}}, "locales/DE.json"},
		"style breaks out": {fstest.MapFS{"style.css": {Data: []byte(`</style><script>alert(1)</script>`)}}, "style.css"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := httpadapter.New(e.svc, httpadapter.Config{Pages: tt.fs})
			if !isConfigError(err, "Pages") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want a Pages config error naming %s", err, tt.want)
			}
		})
	}
}

// Branding: the name, logo and accent colour reach the page, the logo's
// origin the CSP, and the button text reads on the accent.
func TestPagesBranding(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, logo, accent string
		wantImgSrc         string
		wantStyle          string
	}{
		{"defaults", "", "", "", ":root{--accent:#1a56db;--on-accent:#ffffff}"},
		{"https logo, light accent", "https://cdn.example.com/acme.svg", "#FFD700", "img-src https://cdn.example.com;", ":root{--accent:#ffd700;--on-accent:#111111}"},
		{"same-origin logo, short colour", "/static/logo.png", "#063", "img-src 'self';", ":root{--accent:#063;--on-accent:#ffffff}"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, withHTTP(func(c *httpadapter.Config) {
				c.AppName, c.LogoURL, c.AccentColor = "Acme Portal", tt.logo, tt.accent
			}))
			rec := e.do(pageReq(http.MethodGet, "?token_hash=bad&type=magiclink"))
			body, csp := rec.Body.String(), rec.Header().Get("Content-Security-Policy")
			wantContains(t, body, "<title>Sign-in link not valid · Acme Portal</title>", "<span>Acme Portal</span>")
			if !strings.Contains(body, tt.wantStyle) {
				t.Errorf("style lacks %q", tt.wantStyle)
			}
			if tt.logo != "" && !strings.Contains(body, `<img src="`+tt.logo+`" alt="" height="32">`) {
				t.Errorf("page lacks the logo %s", tt.logo)
			}
			if tt.wantImgSrc == "" && strings.Contains(csp, "img-src") || tt.wantImgSrc != "" && !strings.Contains(csp, tt.wantImgSrc) {
				t.Errorf("CSP %q, want img-src %q", csp, tt.wantImgSrc)
			}
		})
	}
}

func TestPagesBrandingValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tt := range []struct {
		field string
		cfg   httpadapter.Config
	}{
		{"LogoURL", httpadapter.Config{LogoURL: "http://cdn.example.com/logo.svg"}},
		{"LogoURL", httpadapter.Config{LogoURL: "javascript:alert(1)"}},
		{"LogoURL", httpadapter.Config{LogoURL: "//evil.example/logo.svg"}},
		{"LogoURL", httpadapter.Config{LogoURL: "https://user:pw@cdn.example.com/logo.svg"}},
		{"LogoURL", httpadapter.Config{LogoURL: "data:image/svg+xml,<svg/>"}},
		{"LogoURL", httpadapter.Config{LogoURL: "/logo.svg\" onerror=\"x"}},
		{"LogoURL", httpadapter.Config{LogoURL: "logo.svg"}},
		{"AccentColor", httpadapter.Config{AccentColor: "red"}},
		{"AccentColor", httpadapter.Config{AccentColor: "#12345"}},
		{"AccentColor", httpadapter.Config{AccentColor: "#ggg"}},
		{"AccentColor", httpadapter.Config{AccentColor: "#+12"}},
		{"AccentColor", httpadapter.Config{AccentColor: "#123;}body{x"}},
		{"AppName", httpadapter.Config{AppName: "Acme\r\nX"}},
		{"AppName", httpadapter.Config{AppName: strings.Repeat("a", 101)}},
		{"AppName", httpadapter.Config{AppName: "   "}},
	} {
		if _, err := httpadapter.New(e.svc, tt.cfg); !isConfigError(err, tt.field) {
			t.Errorf("%+v: New = %v, want a config error naming %s", tt.cfg, err, tt.field)
		}
	}
}

// The CSP allows exactly the page's stylesheet, by its hash, and no script.
func TestPagesCSP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withHTTP(func(c *httpadapter.Config) { c.AccentColor = "#7c3aed" }))
	rec := e.do(pageReq(http.MethodGet, "?token_hash=bad&type=magiclink"))
	m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatal("page has no stylesheet")
	}
	sum := sha256.Sum256([]byte(m[1]))
	want := "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	if got := rec.Header().Get("Content-Security-Policy"); got != want {
		t.Fatalf("CSP = %q\nwant  %q", got, want)
	}
	if strings.Contains(rec.Body.String(), "<script") || strings.Contains(rec.Body.String(), " style=") {
		t.Fatal("page has a script or an inline style attribute")
	}
}

// Accessibility that a test can see: every visible input has a label,
// at most one element takes the focus, and the page says its language.
func TestPagesAccessibility(t *testing.T) {
	t.Parallel()
	inputs := regexp.MustCompile(`<input ([^>]*)>`)
	for _, c := range pageCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := envFor(t, c)
			body := e.do(c.req(e, "en")).Body.String()
			for _, in := range inputs.FindAllStringSubmatch(body, -1) {
				if strings.Contains(in[1], `type="hidden"`) {
					continue
				}
				id := regexp.MustCompile(`id="([^"]+)"`).FindStringSubmatch(in[1])
				if id == nil || !strings.Contains(body, `<label for="`+id[1]+`">`) {
					t.Errorf("input without a label: <input %s>", in[1])
				}
			}
			if n := strings.Count(body, " autofocus"); n > 1 {
				t.Errorf("%d elements ask for the focus", n)
			}
			if !strings.Contains(body, `<html lang="en">`) {
				t.Error("no lang attribute")
			}
		})
	}
}

// With Config.SignInURL the pages send people to the host's sign-in page
// for a new link, keeping where the link was to land.
func TestErrorPagesLinkToTheHostsSignInPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withHTTP(func(c *httpadapter.Config) { c.SignInURL = "/sign-in?from=mail" }))
	rec := e.do(withLang(pageReq(http.MethodGet, "?token_hash=bad&type=magiclink&next=/inbox"), "de"))
	wantContains(t, rec.Body.String(), `<a class="button-link" href="/sign-in?from=mail&amp;next=%2Finbox">Zur Anmeldeseite</a>`)
	if strings.Contains(rec.Body.String(), `action="/auth/send-magic-link"`) {
		t.Error("the page offers the built-in form beside the host's sign-in page")
	}
}
