package httpadapter

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/catalog"
	"github.com/magiclink-go/magiclink/internal/locale"
)

// pageView is what every page template sees. Templates read its fields and
// call T for texts in the page's language; html/template escapes each value
// for where it lands.
type pageView struct {
	// Lang is the page's locale, such as "de": the <html lang> and the
	// locale every form on the page carries on.
	Lang string
	// AppName and LogoURL brand the page; Style is its one stylesheet.
	AppName string
	LogoURL string
	Style   template.CSS

	// Origin is the site being signed in to.
	Origin string
	// VerifyAction and SendAction are the form targets; SendAction is
	// empty when no new link can be sent from the page.
	VerifyAction string
	SendAction   string
	// ResendOrigin is the callback origin of a new link; Next the path it
	// lands on. SignInURL, when set, is the host's sign-in page.
	ResendOrigin string
	Next         string
	SignInURL    string

	// TokenHash is the link on the confirm page, and on a retry after an
	// outage. Account is the address the link signs in to.
	TokenHash string
	Account   string
	// Email prefills the code and resend forms.
	Email string
	// CodeForm and Resend ask pages that offer them optionally to show the
	// code form and the resend form.
	CodeForm bool
	Resend   bool
	// RetryURL is the page to reload after an outage; RetryAfter the wait
	// in seconds a limit or outage asks for.
	RetryURL   string
	RetryAfter int
	// Notice is the catalog key of a warning above the confirm page's body.
	Notice string
	// SignInHere offers the confirm page's sign-in button; Approve its
	// approval of another device, with ApproveAction as the form target
	// and what asked: browser and operating system (from its User-Agent),
	// IP and how long ago.
	SignInHere    bool
	Approve       bool
	ApproveAction string
	AskedBrowser  string
	AskedOS       string
	AskedIP       string
	AskedAge      time.Duration

	// Reason tells apart the variants of one page ("signout" on blocked,
	// "too_large" on request-invalid…).
	Reason string

	catalog *catalog.Catalog
}

// T returns the text key in the page's language, formatted with args
// (fmt verbs such as "%[1]s"). An unknown key is an error, which New
// reports for a host's template. The key "app.name" gives AppName, the
// name the page shows whether or not the texts set one.
func (v *pageView) T(key string, args ...any) (string, error) {
	if key == appNameKey {
		return v.AppName, nil
	}
	s, ok := v.catalog.Text(v.Lang, key)
	if !ok {
		return "", fmt.Errorf("no page text %q", key)
	}
	if len(args) == 0 {
		return s, nil
	}
	return fmt.Sprintf(s, args...), nil
}

// WaitText words RetryAfter for the page: seconds up to two minutes, then
// minutes, rounded up.
func (v *pageView) WaitText() (string, error) {
	s := v.RetryAfter
	switch {
	case s <= 1:
		return v.T("wait.second")
	case s < 120:
		return v.T("wait.seconds", s)
	default:
		return v.T("wait.minutes", (s+59)/60)
	}
}

// AskedText words what asked for the link, for a person deciding whether
// it was them: "Sign-in was requested 2 minutes ago from Firefox on Windows
// at 198.51.100.7."
func (v *pageView) AskedText() (string, error) {
	var ago string
	var err error
	switch a := v.AskedAge; {
	case a < time.Minute:
		ago, err = v.T("ago.now")
	case a < 2*time.Minute:
		ago, err = v.T("ago.minute")
	case a < time.Hour:
		ago, err = v.T("ago.minutes", int(a/time.Minute))
	default:
		ago, err = v.T("ago.long")
	}
	if err != nil {
		return "", err
	}
	var agent string
	switch {
	case v.AskedBrowser != "" && v.AskedOS != "":
		agent, err = v.T("agent.both", v.AskedBrowser, v.AskedOS)
	case v.AskedBrowser != "":
		agent = v.AskedBrowser
	case v.AskedOS != "":
		agent, err = v.T("agent.os", v.AskedOS)
	default:
		agent, err = v.T("agent.unknown")
	}
	if err != nil {
		return "", err
	}
	if v.AskedIP != "" {
		return v.T("approve.asked_ip", ago, agent, v.AskedIP)
	}
	return v.T("approve.asked", ago, agent)
}

// fill sets what every page shows the same way.
func (ps *pageSet) fill(v *pageView, lang string) {
	v.Lang, v.catalog = lang, ps.catalog
	v.AppName, v.LogoURL, v.Style = ps.appName(lang), ps.brand.logoURL, ps.style
}

// pageLocale picks a page's language: the locale the request names (a
// form's "locale" field, or the "locale" query parameter of a link), else
// the browser's Accept-Language by q-value, falling back tr-TR → tr → en.
func (h *Handler) pageLocale(r *http.Request, requested string) string {
	if requested == "" {
		requested = r.URL.Query().Get("locale")
	}
	if l, ok := locale.Match(requested, h.pages.catalog.Has); ok {
		return l
	}
	return locale.Negotiate(r.Header.Get("Accept-Language"), h.pages.catalog.Has)
}

// page starts the view of a page for r, in the language r asks for.
func (h *Handler) page(r *http.Request, requestedLocale string) *pageView {
	v := &pageView{VerifyAction: h.verifyAt, Origin: h.selfOrigin(r)}
	h.pages.fill(v, h.pageLocale(r, requestedLocale))
	return v
}

// offerResend lets the page send a new link for email to the origin the
// page is on, when that origin may receive links; with Config.SignInURL
// the page links there instead (with the path to land on as "next").
func (h *Handler) offerResend(r *http.Request, v *pageView, email, next string) {
	v.Resend = true
	if len(email) <= magiclink.MaxEmailLength && !hasControl(email) {
		if norm, err := magiclink.NormalizeEmail(email); err == nil {
			v.Email = norm
		}
	}
	if next != "" {
		if safe, err := magiclink.SafeNext(next); err == nil {
			v.Next = safe
		}
	}
	if h.signInURL != "" {
		// The host's own sign-in page asks for the address again, in its
		// own words; the link lands where this one would have.
		v.SignInURL = h.signInURL
		if v.Next != "" && v.Next != "/" {
			sep := "?"
			if strings.Contains(h.signInURL, "?") {
				sep = "&"
			}
			v.SignInURL += sep + "next=" + url.QueryEscape(v.Next)
		}
		return
	}
	if origin, ok := h.core.Allow(h.selfOrigin(r)); ok {
		v.SendAction, v.ResendOrigin = h.prefix+PathSendMagicLink, origin
	}
}

// renderPage writes the page name with its security headers.
func (h *Handler) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, v *pageView, retryAfter time.Duration) {
	if retryAfter > 0 {
		v.RetryAfter = retrySeconds(retryAfter)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Content-Security-Policy", h.pages.csp)
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Language", v.Lang)
	if retryAfter > 0 {
		hdr.Set("Retry-After", strconv.Itoa(v.RetryAfter))
	}
	page, err := h.pages.render(name, v)
	if err != nil {
		// New rendered every page, so only a template reaching a path that
		// check did not take ends here.
		h.log.ErrorContext(r.Context(), "httpadapter: rendering a page failed", "page", name, "error", err.Error())
		status, page = http.StatusInternalServerError, []byte("internal error\n")
	}
	w.WriteHeader(status)
	_, _ = w.Write(page)
}

// selfOrigin is the origin of the host serving this request, as the user's
// browser sees it. Behind a trusted TLS-terminating proxy the scheme comes
// from X-Forwarded-Proto.
func (h *Handler) selfOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || (h.fromTrustedProxy(r) && r.Header.Get("X-Forwarded-Proto") == "https") {
		scheme = "https"
	}
	o := scheme + "://" + r.Host
	if canon, ok := h.core.Allow(o); ok {
		return canon
	}
	return o
}
