package httpadapter

import (
	"errors"
	"net/http"

	"github.com/magiclink-go/magiclink"
)

// approvedJSON is the answer of a successful approval.
const approvedJSON = `{"status":"approved"}` + "\n"

// approve serves POST /auth/approve: the device that opened a link
// approves the browser that asked for it by typing the number that browser
// shows. JSON {token_hash, type, match} or the confirm page's form. This
// device is not signed in either way.
func (h *Handler) approve(w http.ResponseWriter, r *http.Request) {
	h.jsonOrForm(w, r, h.approveJSON, h.approveForm)
}

func (h *Handler) approveJSON(w http.ResponseWriter, r *http.Request) {
	f, aerr := decodeJSON(w, r)
	if aerr != nil {
		h.portalError(w, r, aerr)
		return
	}
	link, issues := linkFields(f, nil, true)
	match, mk := f.str("match")
	issues = stringIssue(issues, "match", mk, true)
	if link.otherType {
		issues = append(issues, typeIssue())
	}
	ip, ok := h.admitJSON(w, r, issues)
	if !ok {
		return
	}
	if err := h.svc.Approve(r.Context(), link.token, match, magiclink.WithClientIP(ip)); err != nil {
		h.portalError(w, r, fromError(err))
		return
	}
	writeJSONBytes(w, http.StatusOK, []byte(approvedJSON))
}

func (h *Handler) approveForm(w http.ResponseWriter, r *http.Request) {
	form, v, ok := h.readPageForm(w, r, "approve")
	if !ok {
		return
	}
	ip, ok := h.admitForm(w, r, v)
	if !ok {
		return
	}
	token := form.Get("token_hash")
	var err error
	if t := form.Get("type"); t != "" && t != "magiclink" {
		err = invalidToken()
	} else {
		err = h.svc.Approve(r.Context(), token, form.Get("match"), magiclink.WithClientIP(ip))
	}
	if err == nil {
		h.renderPage(w, r, http.StatusOK, pageApproved, v, 0)
		return
	}
	h.approveFailure(w, r, v, err, token)
}

// approveFailure answers a failed approval. A malformed number, or no
// request waiting, changed nothing: the confirm page comes back, the link
// still live. Every other failure ended the link (a wrong number cancels
// the request for safety), and the code form is what is left.
func (h *Handler) approveFailure(w http.ResponseWriter, r *http.Request, v *pageView, err error, token string) {
	e := fromError(err)
	h.logFailure(r, e)
	switch {
	case e.code == codeValidationFailed:
		v.Notice = "approve.number_required"
		h.confirmPage(w, r, http.StatusBadRequest, pageConfirm, v, token)
		return
	case errors.Is(err, magiclink.ErrInvalidPending):
		h.confirmPage(w, r, http.StatusBadRequest, pagePendingInvalid, v, token)
		return
	}
	name := failurePage(e, false)
	if errors.Is(err, magiclink.ErrMatchInvalid) {
		name = pageMatchInvalid
	}
	h.offerResend(r, v, "", "")
	switch name {
	case pageUnavailable, pageInternal:
		// Nothing was used up: the same approval can be tried again.
		if h.core.WellFormedToken(token) {
			v.RetryURL = h.linkPageURL(token, "", v.Lang)
		}
	case pageRateLimited, pageMatchInvalid:
		v.CodeForm = true
	}
	h.renderPage(w, r, e.status, name, v, e.retryAfter)
}
