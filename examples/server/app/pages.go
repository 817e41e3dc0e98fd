package app

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
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
		inbox := s.inbox.Handler(mailer.InboxBackLink("/", "Back to the app"), mailer.InboxLinkState(s.linkState))
		s.mux.Handle("GET /dev/mailbox", http.StripPrefix("/dev/mailbox", inbox))
		s.mux.Handle("GET /dev/mailbox/", http.StripPrefix("/dev/mailbox", inbox))
		s.mux.Handle("GET /dev/mailbox.json", s.inbox.JSONHandler())
	}
}

// index is the sign-in page.
func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	d := s.data(r, "Sign in")
	s.render(w, http.StatusOK, "index", d)
}

// signIn handles the sign-in form: it asks the Service for a mail whose
// link points back to this server and lands on /me, then shows the page
// where the code can be typed. It works without JavaScript.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	if ok, reason := s.sameOriginPost(r); !ok {
		s.renderError(w, r, http.StatusForbidden, "Request refused",
			reason+" Please sign in from this site's own sign-in page.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read. Please try again.")
		return
	}
	email := r.PostForm.Get("email")
	ip, err := s.ips.ClientIP(r)
	if err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "Your network address could not be determined.")
		return
	}
	// SendLinkPending, not SendLink: this browser may wait here while the
	// link is opened on another device (the check page shows the number).
	ticket, err := s.svc.SendLinkPending(r.Context(), magiclink.SendRequest{
		Email:          email,
		CallbackOrigin: s.callbackOrigin(r),
		Next:           "/me",
		Locale:         r.Header.Get("Accept-Language"),
		ClientIP:       ip,
	}, r.UserAgent())
	var merr *magiclink.Error
	switch {
	case err == nil:
	case errors.Is(err, magiclink.ErrValidation):
		d := s.data(r, "Sign in")
		d.Email, d.Error = email, "Enter a valid e-mail address, such as name@example.com."
		s.render(w, http.StatusBadRequest, "index", d)
		return
	case errors.Is(err, magiclink.ErrRateLimited) && errors.As(err, &merr):
		secs := int(merr.RetryAfter.Seconds())
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.renderError(w, r, http.StatusTooManyRequests, "Too many requests",
			fmt.Sprintf("Too many sign-in requests. Please try again in %d seconds.", secs))
		return
	case errors.Is(err, magiclink.ErrOriginNotAllowed):
		s.renderError(w, r, http.StatusBadRequest, "Address not allowed",
			fmt.Sprintf("This server's address (%s) is not in MAGICLINK_ALLOWED_ORIGINS.", requestOrigin(r)))
		return
	case errors.Is(err, magiclink.ErrStoreUnavailable), errors.Is(err, magiclink.ErrMailUnavailable):
		w.Header().Set("Retry-After", "1")
		s.renderError(w, r, http.StatusServiceUnavailable, "Temporarily unavailable",
			"Sign-in is temporarily unavailable. Please try again in a moment.")
		return
	default:
		s.log.ErrorContext(r.Context(), "example: sending a sign-in link failed", "error", err.Error())
		s.renderError(w, r, http.StatusInternalServerError, "Something went wrong", "The sign-in mail could not be sent.")
		return
	}
	norm, _ := magiclink.NormalizeEmail(email)
	d := s.data(r, "Check your mail")
	d.Email, d.Minutes = norm, int(linkTTL/time.Minute)
	if ticket != nil {
		s.auth.SetPendingCookie(w, r, ticket)
		d.Match, d.ExpiresIn, d.PendingPath = ticket.Match, int(time.Until(ticket.ExpiresAt)/time.Second), "/auth/pending"
	}
	s.render(w, http.StatusOK, "check", d)
}

// me shows who is signed in, or sends a visitor without a session to the
// sign-in page.
func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	d := s.data(r, "Your account")
	if !d.Signed {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "me", d)
}

// data fills what every page shows: the session, if any, and whether the
// dev mailbox exists.
func (s *Server) data(r *http.Request, title string) pageData {
	d := pageData{Title: title, DevMailbox: s.cfg.DevMailbox, VerifyPath: "/auth/verify", SignOutPath: "/auth/sign-out"}
	d.Identity, d.Signed = s.auth.Identity(r)
	return d
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	d := s.data(r, title)
	d.Error = msg
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
