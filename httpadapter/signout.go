package httpadapter

import (
	"net/http"
	"net/url"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/mask"
)

// signOut serves POST /auth/sign-out: it revokes the session (scope
// "local", the default), the user's other sessions ("others") or all of
// them ("global"), the scope given in the query or in the JSON or form
// body. The answer is 303 to "/" for a form post and 204 otherwise; the
// cookie is expired unless the session it carries lives on ("others").
//
// A cookie is an ambient credential, so a cookie or form sign-out must
// come from this site (the sign-in's CSRF rules); a bearer one needs not.
// A form sign-out without a live session still clears the cookie and
// redirects, since the browser is signed out either way; JSON and bearer
// requests without one get 401 SESSION_INVALID.
func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	form := isMediaType(r, "application/x-www-form-urlencoded")
	_, cred := h.sessionCredential(r)
	if (form || cred != credBearer) && !h.sameSite(r) {
		h.signOutFailed(w, r, form, forbidden())
		return
	}
	scope, aerr := signOutScope(w, r, form)
	if aerr != nil {
		h.signOutFailed(w, r, form, aerr)
		return
	}
	id, cred, aerr := h.session(r)
	if aerr != nil && !(form && aerr.status == http.StatusUnauthorized) {
		h.signOutFailed(w, r, form, aerr)
		return
	}
	if aerr == nil {
		if err := h.svc.SignOut(r.Context(), id, scope); err != nil {
			h.signOutFailed(w, r, form, fromError(err))
			return
		}
		h.log.InfoContext(r.Context(), "httpadapter: signed out", "email", mask.Address(id.Email), "scope", string(scope), "session", id.SessionID)
	}
	if cred != credBearer && scope != magiclink.SignOutOthers {
		h.clearSessionCookie(w, r)
	}
	if form {
		seeOther(w, "/")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// signOutScope reads the scope from a JSON or form body, else the query;
// default "local". Any other body is not read.
func signOutScope(w http.ResponseWriter, r *http.Request, form bool) (magiclink.SignOutScope, *apiError) {
	scope, inBody := "", false
	switch {
	case form:
		body, aerr := readBody(w, r)
		if aerr != nil {
			return "", aerr
		}
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return "", validation(issue{"", "malformed form body"})
		}
		scope, inBody = v.Get("scope"), v.Has("scope")
	case isMediaType(r, "application/json") && r.ContentLength != 0:
		f, aerr := decodeJSON(w, r)
		if aerr != nil {
			return "", aerr
		}
		s, k := f.str("scope")
		if k == fieldWrongType {
			return "", validation(issue{"scope", "scope must be a string"})
		}
		scope, inBody = s, k == fieldOK
	}
	if !inBody {
		scope = r.URL.Query().Get("scope")
	}
	switch s := magiclink.SignOutScope(scope); s {
	case "", magiclink.SignOutLocal:
		return magiclink.SignOutLocal, nil
	case magiclink.SignOutOthers, magiclink.SignOutGlobal:
		return s, nil
	}
	return "", validation(issue{"scope", `scope must be "local", "others" or "global"`})
}

// signOutFailed answers a failed sign-out: the page for a form, JSON
// otherwise.
func (h *Handler) signOutFailed(w http.ResponseWriter, r *http.Request, form bool, e *apiError) {
	if !form {
		h.portalError(w, r, e)
		return
	}
	h.logFailure(r, e)
	v := h.page(r, "")
	v.Reason = "signout"
	name := failurePage(e, false)
	switch e.status {
	case http.StatusForbidden:
		name = pageBlocked
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		name = pageRequestInvalid
	}
	h.renderPage(w, r, e.status, name, v, e.retryAfter)
}
