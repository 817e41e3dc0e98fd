package app

import (
	"embed"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer"
)

//go:embed templates/*.html
var templateFS embed.FS

// pages holds one template set per page, each the layout plus its content.
var pages = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, name := range []string{"index", "check", "me", "error"} {
		out[name] = template.Must(template.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return out
}()

// pageData is what every page template sees.
type pageData struct {
	// Lang is the page's locale; LangQuery is "?locale=…" when the request
	// chose it (a link or form named it), for the links and forms that
	// keep it, and "" when the browser's Accept-Language decided.
	Lang      string
	LangQuery string
	Languages []struct{ Tag, Name string }

	Title       string
	DevMailbox  bool
	Signed      bool
	Identity    magiclink.Identity
	Email       string
	Error       string
	Minutes     int
	VerifyPath  string
	SignOutPath string
	// The check page's cross-device part: the number this browser shows
	// and what its script polls.
	Match       string
	ExpiresIn   int
	PendingPath string
}

// routes registers the example's pages next to the library's endpoints.
func (s *Server) routes() {
	s.auth.Register(s.mux)
	s.mux.Handle("GET /static/{file...}", staticFiles())
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("GET /{$}", s.index)
	s.mux.HandleFunc("POST /signin", s.signIn)
	s.mux.HandleFunc("GET /me", s.me)
	if s.cfg.DevMailbox {
		// StripPrefix leaves "" for /dev/mailbox and "/" for
		// /dev/mailbox/; the mailbox serves both.
		inbox := s.inbox.Handler(mailer.InboxLocalized(mailboxLocale), mailer.InboxLinkState(s.linkState))
		s.mux.Handle("GET /dev/mailbox", http.StripPrefix("/dev/mailbox", inbox))
		s.mux.Handle("GET /dev/mailbox/", http.StripPrefix("/dev/mailbox", inbox))
		s.mux.Handle("GET /dev/mailbox.json", s.inbox.JSONHandler())
	}
}

// index is the sign-in page.
func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	d := s.data(r, "", "index.title")
	s.render(w, http.StatusOK, "index", d)
}

// signIn handles the sign-in form: it asks the Service for a mail in the
// page's language whose link points back to this server and lands on /me,
// then shows the page where the code can be typed. It works without
// JavaScript.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	if ok, reason := s.sameOriginPost(r); !ok {
		s.renderError(w, r, http.StatusForbidden, "error.refused", reason, "error.sign_in_here")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "error.bad_request", "error.form_unreadable")
		return
	}
	d := s.data(r, r.PostForm.Get("locale"), "index.title")
	email := r.PostForm.Get("email")
	ip, err := s.ips.ClientIP(r)
	if err != nil {
		s.renderError(w, r, http.StatusBadRequest, "error.bad_request", "error.no_address")
		return
	}
	// SendLinkPending, not SendLink: this browser may wait here while the
	// link is opened on another device (the check page shows the number).
	// The mail, its link and the pages the link opens speak the page's
	// language; a language the visitor chose also stays on /me.
	ticket, err := s.svc.SendLinkPending(r.Context(), magiclink.SendRequest{
		Email:          email,
		CallbackOrigin: s.callbackOrigin(r),
		Next:           "/me" + d.LangQuery,
		Locale:         d.Lang,
		ClientIP:       ip,
	}, r.UserAgent())
	if err != nil {
		s.sendFailed(w, r, d, email, err)
		return
	}
	norm, _ := magiclink.NormalizeEmail(email)
	d.Title = d.text("check.title")
	d.Email, d.Minutes = norm, int(linkTTL/time.Minute)
	if ticket != nil {
		s.auth.SetPendingCookie(w, r, ticket)
		d.Match, d.ExpiresIn, d.PendingPath = ticket.Match, int(time.Until(ticket.ExpiresAt)/time.Second), "/auth/pending"
	}
	s.render(w, http.StatusOK, "check", d)
}

// sendFailed answers a sign-in form whose mail was not sent: the form
// again for a bad address, else the error page that says why.
func (s *Server) sendFailed(w http.ResponseWriter, r *http.Request, d pageData, email string, err error) {
	var merr *magiclink.Error
	switch {
	case errors.Is(err, magiclink.ErrValidation):
		d.Email, d.Error = email, d.text("index.invalid_email")
		s.render(w, http.StatusBadRequest, "index", d)
	case errors.Is(err, magiclink.ErrRateLimited) && errors.As(err, &merr):
		secs := retrySeconds(merr)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.renderErrorIn(w, d, http.StatusTooManyRequests, "error.rate_limited", d.text("error.rate_limited_message", secs))
	case errors.Is(err, magiclink.ErrOriginNotAllowed):
		s.renderErrorIn(w, d, http.StatusBadRequest, "error.origin", d.text("error.origin_message", requestOrigin(r)))
	case errors.Is(err, magiclink.ErrStoreUnavailable), errors.Is(err, magiclink.ErrMailUnavailable):
		// A durable outbox whose store is down says how long its
		// breaker refuses; the error carries that wait.
		errors.As(err, &merr)
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(merr)))
		s.renderErrorIn(w, d, http.StatusServiceUnavailable, "error.unavailable", d.text("error.unavailable_message"))
	default:
		s.log.ErrorContext(r.Context(), "example: sending a sign-in link failed", "error", err.Error())
		s.renderErrorIn(w, d, http.StatusInternalServerError, "error.internal", d.text("error.internal_message"))
	}
}

// me shows who is signed in, or sends a visitor without a session to the
// sign-in page.
func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	d := s.data(r, "", "me.page_title")
	if !d.Signed {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "me", d)
}

// data fills what every page shows: its language (requested names one,
// else the query's or the browser's), its title (a text key), the
// session, if any, and whether the dev mailbox exists.
func (s *Server) data(r *http.Request, requested, titleKey string) pageData {
	d := pageData{DevMailbox: s.cfg.DevMailbox, VerifyPath: "/auth/verify", SignOutPath: "/auth/sign-out", Languages: languages}
	var chosen bool
	if d.Lang, chosen = pageLocale(r, requested); chosen {
		d.LangQuery = "?locale=" + d.Lang
	}
	d.Title = d.text(titleKey)
	d.Identity, d.Signed = s.auth.Identity(r)
	return d
}

// renderError writes the error page titled by the text titleKey, its
// message the texts msgKeys, in the request's language.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, titleKey string, msgKeys ...string) {
	d := s.data(r, "", titleKey)
	msgs := make([]string, len(msgKeys))
	for i, k := range msgKeys {
		msgs[i] = d.text(k)
	}
	s.renderErrorIn(w, d, status, titleKey, strings.Join(msgs, " "))
}

// renderErrorIn writes the error page in d's language with the message msg.
func (s *Server) renderErrorIn(w http.ResponseWriter, d pageData, status int, titleKey, msg string) {
	d.Title, d.Error = d.text(titleKey), msg
	s.render(w, status, "error", d)
}

// render writes a page with headers that keep it out of caches and frames
// and allow no script at all. The referrer policy is same-origin, not
// no-referrer: under no-referrer browsers send "Origin: null" with form
// posts, and the verify and sign-out endpoints rightly refuse posts whose
// origin they cannot check. No page URL here holds a secret.
func (s *Server) render(w http.ResponseWriter, status int, name string, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", d.Lang)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	csp := "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	if name == "check" {
		// Only the check page runs a script: its own file, polling this
		// server for the cross-device approval.
		csp += "; script-src 'self'; connect-src 'self'"
	}
	h.Set("Content-Security-Policy", csp)
	w.WriteHeader(status)
	if err := pages[name].ExecuteTemplate(w, "layout", d); err != nil {
		s.log.Error("example: rendering a page failed", "page", name, "error", err.Error())
	}
}

// callbackOrigin is the origin the link in the mail points to: the one the
// browser used for this request when it is allowed (so the session cookie
// lands where the user is), else the portal origin (by default the first
// allowed one).
func (s *Server) callbackOrigin(r *http.Request) string {
	if o, ok := s.origins.Allow(requestOrigin(r)); ok {
		return o
	}
	return s.portal
}

// requestOrigin is the origin of the request as the browser sent it.
func requestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// retrySeconds is the whole seconds a refused request should wait, at
// least 1: e's RetryAfter rounded up, or 1 without one.
func retrySeconds(e *magiclink.Error) int {
	if e == nil || e.RetryAfter <= 0 {
		return 1
	}
	return int((e.RetryAfter + time.Second - 1) / time.Second)
}
