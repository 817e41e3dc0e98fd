package httpadapter

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/magiclink-go/magiclink"
)

// approvedJSON is the answer of a successful approval.
const approvedJSON = `{"status":"approved"}` + "\n"

// approve serves POST /auth/approve: the device that opened a link
// approves the browser that asked for it by typing the number that browser
// shows. JSON {token_hash, type, match} or the confirm page's form. This
// device is not signed in either way.
func (h *Handler) approve(w http.ResponseWriter, r *http.Request) {
	switch {
	case isMediaType(r, "application/json"):
		h.approveJSON(w, r)
	case isMediaType(r, "application/x-www-form-urlencoded"):
		h.approveForm(w, r)
	default:
		h.portalError(w, r, unsupportedMediaType("application/x-www-form-urlencoded or application/json"))
	}
}

func (h *Handler) approveJSON(w http.ResponseWriter, r *http.Request) {
	f, aerr := decodeJSON(w, r)
	if aerr != nil {
		h.portalError(w, r, aerr)
		return
	}
	var issues []issue
	token, tk := f.str("token_hash")
	typ, yk := f.str("type")
	match, mk := f.str("match")
	for _, m := range []struct {
		name string
		k    fieldKind
	}{{"token_hash", tk}, {"type", yk}, {"match", mk}} {
		switch {
		case m.k == fieldWrongType:
			issues = append(issues, issue{m.name, m.name + " must be a string"})
		case m.k == fieldMissing && m.name != "type":
			issues = append(issues, issue{m.name, m.name + " is required"})
		}
	}
	if yk == fieldOK && typ != "magiclink" {
		issues = append(issues, issue{"type", "type must be \"magiclink\""})
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
	if err := h.svc.Approve(r.Context(), token, match, magiclink.WithClientIP(ip)); err != nil {
		h.portalError(w, r, fromError(err))
		return
	}
	writeJSONBytes(w, http.StatusOK, []byte(approvedJSON))
}

func (h *Handler) approveForm(w http.ResponseWriter, r *http.Request) {
	if !h.sameSite(r) {
		h.renderPage(w, r, http.StatusForbidden, pageData{Title: "Approval blocked", Message: msgForbidden}, 0)
		return
	}
	body, aerr := readBody(w, r)
	if aerr != nil {
		h.renderPage(w, r, aerr.status, pageData{Title: "Approval failed", Message: "The request could not be read. Open the link from your e-mail again."}, 0)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		h.renderPage(w, r, http.StatusBadRequest, pageData{Title: "Approval failed", Message: msgExpired, CodeForm: true}, 0)
		return
	}
	ip, aerr := h.clientIP(r)
	if aerr != nil {
		h.renderPage(w, r, http.StatusBadRequest, pageData{Title: "Approval failed", Message: "Your network address could not be determined. Try again from another network."}, 0)
		return
	}
	token := form.Get("token_hash")
	if t := form.Get("type"); t != "" && t != "magiclink" {
		err = magiclink.ErrInvalidToken
	} else {
		err = h.svc.Approve(r.Context(), token, form.Get("match"), magiclink.WithClientIP(ip))
	}
	if err == nil {
		h.renderPage(w, r, http.StatusOK, pageData{Title: "Sign-in approved", Done: true,
			Message: "The other device is signing in now. You can close this tab; this device was not signed in."}, 0)
		return
	}
	h.approveFailure(w, r, err, token)
}

// approveFailure re-renders the page after a failed approval. A malformed
// number changed nothing, so the approval form comes back; every other
// failure ended the link, and the code form is what is left.
func (h *Handler) approveFailure(w http.ResponseWriter, r *http.Request, err error, token string) {
	e := fromError(err)
	h.logFailure(r, e)
	d := pageData{Title: "Approval failed", CodeForm: true}
	switch {
	case e.code == codeValidationFailed:
		h.confirmPage(w, r, http.StatusBadRequest, token, "Type the two-digit number shown on the device that asked to sign in.")
		return
	case errors.Is(err, magiclink.ErrMatchInvalid):
		d.Message = "That number did not match, so the sign-in request was cancelled for safety. " +
			"If you asked to sign in, start again there, or enter the code from the e-mail."
	case errors.Is(err, magiclink.ErrInvalidPending):
		h.confirmPage(w, r, http.StatusBadRequest, token, "No other device is waiting for this link; it is still yours to sign in with here.")
		return
	case errors.Is(err, magiclink.ErrRateLimited):
		d.Message = "Too many attempts. Wait " + humanWait(retrySeconds(e.retryAfter)) + " and try again."
	case e.status >= 500:
		d.Message, d.CodeForm = msgInternal, false
		if e.status == http.StatusServiceUnavailable {
			d.Message = "Sign-in is temporarily unavailable. Try again in a moment."
		}
	default:
		d.Message = msgExpired
	}
	h.renderPage(w, r, e.status, d, e.retryAfter)
}
