package httpadapter

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/mask"
)

// verifyPage serves GET and HEAD /auth/verify: the confirm page. It never
// consumes the token — mail scanners fetch every link, and a GET that
// signed in would burn the link before the user clicks it. The button POSTs
// the token back to this path. The page names the address the link signs
// in to (read without using the link), so that a person who was sent
// someone else's link is warned before pressing the button.
func (h *Handler) verifyPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	token := q.Get("token_hash")
	if q.Get("type") != "magiclink" || !h.core.WellFormedToken(token) {
		h.renderPage(w, r, http.StatusOK, pageData{Title: "Sign-in link not valid", Message: msgExpired, CodeForm: true}, 0)
		return
	}
	account, err := h.svc.LinkEmail(r.Context(), token)
	switch {
	case err == nil, errors.Is(err, errors.ErrUnsupported):
		// Without the store capability the page names the origin alone.
	case errors.Is(err, magiclink.ErrInvalidToken):
		h.renderPage(w, r, http.StatusOK, pageData{Title: "Sign-in link not valid", Message: msgExpired, CodeForm: true}, 0)
		return
	default:
		e := fromError(err)
		h.logFailure(r, e)
		h.renderPage(w, r, e.status, pageData{Title: "Sign-in unavailable", Message: "Sign-in is temporarily unavailable. Try again in a moment."}, e.retryAfter)
		return
	}
	h.renderConfirm(w, r, http.StatusOK, token, account, "")
}

// verify serves POST /auth/verify: a form from the confirm page or the
// code form (answered with a redirect or the page), or JSON from an app
// (answered with a session token).
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) {
	switch {
	case isMediaType(r, "application/json"):
		h.verifyJSON(w, r)
	case isMediaType(r, "application/x-www-form-urlencoded"):
		h.verifyForm(w, r)
	default:
		h.portalError(w, r, unsupportedMediaType("application/x-www-form-urlencoded or application/json"))
	}
}

func (h *Handler) verifyForm(w http.ResponseWriter, r *http.Request) {
	if !h.sameSite(r) {
		h.renderPage(w, r, http.StatusForbidden, pageData{Title: "Sign-in blocked", Message: msgForbidden}, 0)
		return
	}
	body, aerr := readBody(w, r)
	if aerr != nil {
		msg := "The request could not be read. Open the link from your e-mail again."
		if aerr.status == http.StatusRequestEntityTooLarge {
			msg = "The request was too large."
		}
		h.renderPage(w, r, aerr.status, pageData{Title: "Sign-in failed", Message: msg}, 0)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		h.renderPage(w, r, http.StatusBadRequest, pageData{Title: "Sign-in failed", Message: msgExpired, CodeForm: true}, 0)
		return
	}
	ip, aerr := h.clientIP(r)
	if aerr != nil {
		h.renderPage(w, r, http.StatusBadRequest, pageData{Title: "Sign-in failed", Message: "Your network address could not be determined. Try again from another network."}, 0)
		return
	}
	token, email, code := form.Get("token_hash"), form.Get("email"), form.Get("code")
	var id magiclink.Identity
	switch {
	case token != "":
		if t := form.Get("type"); t != "" && t != "magiclink" {
			err = invalidToken()
			break
		}
		id, err = h.svc.Verify(r.Context(), token, magiclink.WithClientIP(ip), magiclink.WithPendingCookie(pendingTicket(r)))
		if errors.Is(err, magiclink.ErrDeviceMismatch) {
			h.deviceMismatchPage(w, r, token)
			return
		}
	case email != "" || code != "":
		id, err = h.svc.VerifyCode(r.Context(), email, code, magiclink.WithClientIP(ip))
	default:
		err = invalidToken()
	}
	if err != nil {
		h.formFailure(w, r, err, email, token == "" && (email != "" || code != ""))
		return
	}
	h.login(w, r, id, ip)
}

// invalidToken is a fresh error of magiclink's ErrInvalidToken kind, for a
// form that names no usable link.
func invalidToken() error {
	return &magiclink.Error{Code: codeTokenInvalid, Message: "link is invalid, expired or already used"}
}

// formFailure re-renders the page after a failed form sign-in, with the
// code form, so a scanner-burned or expired link still leads somewhere.
func (h *Handler) formFailure(w http.ResponseWriter, r *http.Request, err error, email string, codeAttempt bool) {
	e := fromError(err)
	h.logFailure(r, e)
	d := pageData{Title: "Sign-in failed", CodeForm: true}
	if len(email) <= magiclink.MaxEmailLength && !hasControl(email) {
		d.Email = email
	}
	switch {
	case e.code == codeRateLimited:
		d.Message = "Too many sign-in attempts. Wait " + humanWait(retrySeconds(e.retryAfter)) + " and try again."
	case e.status == http.StatusServiceUnavailable:
		d.Message = "Sign-in is temporarily unavailable. Try again in a moment."
		d.CodeForm = false
	case e.status >= 500:
		d.Message = msgInternal
		d.CodeForm = false
	case codeAttempt:
		d.Message = msgBadCode
	default:
		d.Message = msgExpired
	}
	h.renderPage(w, r, e.status, d, e.retryAfter)
}

// login finishes a form sign-in: the host's OnLogin hook or the default
// session cookie, then 303 to where the link was meant to land.
func (h *Handler) login(w http.ResponseWriter, r *http.Request, id magiclink.Identity, ip netip.Addr) {
	target := id.Origin + id.Next
	if h.onLogin != nil {
		rw := &responseRecorder{ResponseWriter: w}
		if err := h.onLogin(rw, r, id); err != nil {
			h.log.ErrorContext(r.Context(), "httpadapter: OnLogin failed", "email", mask.Address(id.Email), "error", err.Error())
			if !rw.wrote {
				h.renderPage(w, r, http.StatusInternalServerError, pageData{Title: "Sign-in failed", Message: msgInternal}, 0)
			}
			return
		}
		if !rw.wrote {
			seeOther(w, target)
		}
		return
	}
	sess, err := h.svc.StartBrowserSession(r.Context(), id, magiclink.Client{IP: ip, UserAgent: r.UserAgent()})
	if err != nil {
		h.formFailure(w, r, err, "", false)
		return
	}
	h.setSessionCookie(w, r, sess)
	h.log.InfoContext(r.Context(), "httpadapter: signed in", "email", mask.Address(id.Email), "method", id.Method, "session", sess.ID)
	seeOther(w, target)
}

func seeOther(w http.ResponseWriter, target string) {
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusSeeOther)
}

// verifyJSON answers an app's verify with an access and a refresh token
// and no cookie: an app that posts JSON keeps the tokens itself, and a
// cookie set on a cross-origin fetch would only surprise it.
func (h *Handler) verifyJSON(w http.ResponseWriter, r *http.Request) {
	f, aerr := decodeJSON(w, r)
	if aerr != nil {
		h.portalError(w, r, aerr)
		return
	}
	var issues []issue
	token, tk := f.str("token_hash")
	typ, yk := f.str("type")
	email, ek := f.str("email")
	code, ck := f.str("code")
	for _, m := range []struct {
		name string
		k    fieldKind
	}{{"token_hash", tk}, {"type", yk}, {"email", ek}, {"code", ck}} {
		if m.k == fieldWrongType {
			issues = append(issues, issue{m.name, m.name + " must be a string"})
		}
	}
	byToken := tk == fieldOK && token != ""
	switch {
	case len(issues) > 0:
	case byToken && yk == fieldOK && typ != "magiclink":
		issues = append(issues, issue{"type", "type must be \"magiclink\""})
	case !byToken && (email == "" || code == ""):
		if email == "" {
			issues = append(issues, issue{"email", "send token_hash, or email and code"})
		}
		if code == "" {
			issues = append(issues, issue{"code", "send token_hash, or email and code"})
		}
	}
	if len(issues) > 0 {
		h.portalError(w, r, validation(issues...))
		return
	}
	ip, aerr := h.clientIP(r)
	if aerr != nil {
		h.portalError(w, r, aerr)
		return
	}
	var id magiclink.Identity
	var err error
	if byToken {
		id, err = h.svc.Verify(r.Context(), token, magiclink.WithClientIP(ip), magiclink.WithPendingCookie(pendingTicket(r)))
	} else {
		id, err = h.svc.VerifyCode(r.Context(), email, code, magiclink.WithClientIP(ip))
	}
	if err != nil {
		h.portalError(w, r, fromError(err))
		return
	}
	tok, err := h.svc.StartAPISession(r.Context(), id, magiclink.Client{IP: ip, UserAgent: r.UserAgent()})
	if err != nil {
		h.portalError(w, r, fromError(err))
		return
	}
	h.log.InfoContext(r.Context(), "httpadapter: signed in", "email", mask.Address(id.Email), "method", id.Method, "session", tok.SessionID)
	writeJSON(w, http.StatusOK, h.tokenResponse(tok, id, id.Origin+id.Next))
}

// sameSite is the login-CSRF defence for form posts: a browser that sends
// Sec-Fetch-Site must say same-origin, and an Origin header, when present,
// must be this server's origin or an allowed callback origin. Without it,
// another site could post its own attacker's link and sign the victim in
// to the attacker's account.
//
// The confirm page is served with Referrer-Policy: no-referrer, under
// which browsers send "Origin: null" with its form post (Fetch standard,
// "serializing a request origin"). A null Origin is therefore accepted,
// but only together with Sec-Fetch-Site: same-origin, which the browser
// sets itself: a sandboxed frame or data: URL on another site also posts
// "Origin: null", and is told apart by Sec-Fetch-Site: cross-site.
func (h *Handler) sameSite(r *http.Request) bool {
	site := r.Header.Get("Sec-Fetch-Site")
	if site != "" && site != "same-origin" {
		return false
	}
	origin := r.Header.Get("Origin")
	switch origin {
	case "":
		return true
	case "null":
		return site == "same-origin"
	}
	if _, ok := h.core.Allow(origin); ok {
		return true
	}
	if canon, ok := magiclink.OriginOf(origin); ok {
		if self, ok := magiclink.OriginOf(h.selfOrigin(r)); ok && canon == self {
			return true
		}
	}
	return false
}

// humanWait words a wait for the page: seconds up to two minutes, then
// minutes, rounded up.
func humanWait(seconds int) string {
	switch {
	case seconds == 1:
		return "1 second"
	case seconds < 120:
		return strconv.Itoa(seconds) + " seconds"
	default:
		return strconv.Itoa((seconds+59)/60) + " minutes"
	}
}
