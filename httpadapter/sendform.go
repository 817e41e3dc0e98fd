package httpadapter

import (
	"net/http"

	"github.com/magiclink-go/magiclink"
)

// sendForm serves the pages' "send a new link" button: a same-site form
// post to send-magic-link with email, callback_origin, callback_next and
// locale. It answers with pages, not JSON: the "sent" page with the code
// form for every valid address, known or not (as the JSON answer, it tells
// nobody who has an account), else the page of the failure with the next
// step. Rate limits and origin rules are the JSON endpoint's.
func (h *Handler) sendForm(w http.ResponseWriter, r *http.Request) {
	form, v, ok := h.readPageForm(w, r, "")
	if !ok {
		return
	}
	email, next := form.Get("email"), form.Get("callback_next")
	h.offerResend(r, v, email, next)
	norm := v.Email
	if norm == "" {
		v.Reason = "email"
		h.renderPage(w, r, http.StatusBadRequest, pageRequestInvalid, v, 0)
		return
	}
	origin, aerr := h.callbackOrigin(r, form.Get("callback_origin"))
	if aerr != nil {
		v.Reason, v.SendAction = "origin", ""
		h.renderPage(w, r, aerr.status, pageRequestInvalid, v, 0)
		return
	}
	ip, ok := h.admitForm(w, r, v)
	if !ok {
		return
	}
	// As the JSON send, a pending request ties the new link to this
	// browser, so RequireSameDevice holds for it too.
	ticket, err := h.svc.SendLinkPending(r.Context(), magiclink.SendRequest{
		Email: norm, CallbackOrigin: origin, Next: v.Next, Locale: v.Lang, ClientIP: ip,
	}, r.Header.Get("User-Agent"))
	if err != nil {
		e := fromError(err)
		h.logFailure(r, e)
		name := failurePage(e, false)
		if name == pageLinkInvalid {
			// No link was involved: a refused address or path.
			name, v.Reason = pageRequestInvalid, "email"
		}
		h.renderPage(w, r, e.status, name, v, e.retryAfter)
		return
	}
	if ticket != nil {
		h.SetPendingCookie(w, r, ticket)
	}
	v.CodeForm = true
	h.renderPage(w, r, http.StatusOK, pageSent, v, 0)
}
