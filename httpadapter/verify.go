package httpadapter

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"

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
	token, next := q.Get("token_hash"), q.Get("next")
	v := h.page(r, "")
	if q.Get("type") != "magiclink" || !h.core.WellFormedToken(token) {
		h.offerResend(r, v, "", next)
		h.renderPage(w, r, http.StatusOK, pageLinkInvalid, v, 0)
		return
	}
	account, err := h.svc.LinkEmail(r.Context(), token)
	switch {
	case err == nil, errors.Is(err, errors.ErrUnsupported):
		// Without the store capability the page names the origin alone.
	case errors.Is(err, magiclink.ErrInvalidToken):
		h.offerResend(r, v, "", next)
		h.renderPage(w, r, http.StatusOK, pageLinkInvalid, v, 0)
		return
	default:
		e := fromError(err)
		h.logFailure(r, e)
		v.RetryURL = h.linkPageURL(token, next, v.Lang)
		h.renderPage(w, r, e.status, failurePage(e, false), v, e.retryAfter)
		return
	}
	h.renderConfirm(w, r, http.StatusOK, pageConfirm, v, token, account)
}

// linkPageURL is the confirm page of a link, rebuilt from its checked
// parts, for "try again" after an outage. It is the link itself, which the
// address bar already shows.
func (h *Handler) linkPageURL(token, next, lang string) string {
	q := url.Values{"token_hash": {token}, "type": {"magiclink"}, "locale": {lang}}
	if safe, err := magiclink.SafeNext(next); err == nil && next != "" {
		q.Set("next", safe)
	}
	return h.verifyAt + "?" + q.Encode()
}

// failurePage picks the page for a failed sign-in step; codeAttempt marks
// a failed code, as opposed to a failed link.
func failurePage(e *apiError, codeAttempt bool) string {
	switch {
	case e.code == codeRateLimited:
		return pageRateLimited
	case e.code == codeSignInDenied:
		return pageSignInDenied
	case e.status == http.StatusServiceUnavailable:
		return pageUnavailable
	case e.status >= http.StatusInternalServerError:
		return pageInternal
	case codeAttempt:
		return pageCodeInvalid
	default:
		return pageLinkInvalid
	}
}

// verify serves POST /auth/verify: a form from the confirm page or the
// code form (answered with a redirect or the page), or JSON from an app
// (answered with a session token).
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) {
	h.jsonOrForm(w, r, h.verifyJSON, h.verifyForm)
}

func (h *Handler) verifyForm(w http.ResponseWriter, r *http.Request) {
	form, v, ok := h.readPageForm(w, r, "")
	if !ok {
		return
	}
	ip, ok := h.admitForm(w, r, v)
	if !ok {
		return
	}
	token, email, code := form.Get("token_hash"), form.Get("email"), form.Get("code")
	var id magiclink.Identity
	var err error
	switch {
	case token != "":
		if t := form.Get("type"); t != "" && t != "magiclink" {
			err = invalidToken()
			break
		}
		id, err = h.svc.Verify(r.Context(), token, magiclink.WithClientIP(ip), magiclink.WithPendingCookie(pendingTicket(r)))
		if errors.Is(err, magiclink.ErrDeviceMismatch) {
			h.deviceMismatchPage(w, r, v, token)
			return
		}
	case email != "" || code != "":
		id, err = h.svc.VerifyCode(r.Context(), email, code, magiclink.WithClientIP(ip))
	default:
		err = invalidToken()
	}
	if err != nil {
		h.formFailure(w, r, v, err, formAttempt{token: token, email: email, code: token == "" && (email != "" || code != "")})
		return
	}
	h.login(w, r, v, id, ip)
}

// invalidToken is a fresh error of magiclink's ErrInvalidToken kind, for a
// form that names no usable link.
func invalidToken() error {
	return &magiclink.Error{Code: codeTokenInvalid, Message: "link is invalid, expired or already used"}
}

// formAttempt is what a failed form sign-in tried: the page offers the
// same again, or the next best step.
type formAttempt struct {
	token string
	email string
	code  bool // a code, as opposed to a link
}

// formFailure answers a failed form sign-in with the page of its failure,
// each offering the next step: the code form prefilled with the address,
// a new link, or a retry after an outage.
func (h *Handler) formFailure(w http.ResponseWriter, r *http.Request, v *pageView, err error, a formAttempt) {
	e := fromError(err)
	h.logFailure(r, e)
	name := failurePage(e, a.code)
	h.offerResend(r, v, a.email, "")
	switch name {
	case pageUnavailable, pageInternal:
		// Nothing was used up: the same link or code can be tried again.
		if a.code {
			v.CodeForm = true
		} else if h.core.WellFormedToken(a.token) {
			v.TokenHash = a.token
		}
	case pageRateLimited:
		v.CodeForm = a.code
	}
	h.renderPage(w, r, e.status, name, v, e.retryAfter)
}

// login finishes a form sign-in: the host's OnLogin hook or the default
// session cookie, then 303 to where the link was meant to land.
func (h *Handler) login(w http.ResponseWriter, r *http.Request, v *pageView, id magiclink.Identity, ip netip.Addr) {
	target := id.Origin + id.Next
	if h.onLogin != nil {
		rw := &responseRecorder{ResponseWriter: w}
		if err := h.onLogin(rw, r, id); err != nil {
			h.log.ErrorContext(r.Context(), "httpadapter: OnLogin failed", "email", mask.Address(id.Email), "error", err.Error())
			if !rw.wrote {
				// The link is used up; a new one is the way on.
				h.offerResend(r, v, id.Email, id.Next)
				h.renderPage(w, r, http.StatusInternalServerError, pageInternal, v, 0)
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
		h.formFailure(w, r, v, err, formAttempt{})
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
	link, issues := linkFields(f, nil, false)
	email, ek := f.str("email")
	code, ck := f.str("code")
	issues = stringIssue(issues, "email", ek, false)
	issues = stringIssue(issues, "code", ck, false)
	byToken := link.tokenKind == fieldOK && link.token != ""
	switch {
	case len(issues) > 0:
	case byToken && link.otherType:
		issues = append(issues, typeIssue())
	case !byToken && (email == "" || code == ""):
		if email == "" {
			issues = append(issues, issue{"email", "send token_hash, or email and code"})
		}
		if code == "" {
			issues = append(issues, issue{"code", "send token_hash, or email and code"})
		}
	}
	ip, ok := h.admitJSON(w, r, issues)
	if !ok {
		return
	}
	var id magiclink.Identity
	var err error
	if byToken {
		id, err = h.svc.Verify(r.Context(), link.token, magiclink.WithClientIP(ip), magiclink.WithPendingCookie(pendingTicket(r)))
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
