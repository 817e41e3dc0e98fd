package httpadapter

import (
	"net/http"
)

// renderConfirm renders a page with the confirm page's body for a live
// link token, naming account (when known) as the address it signs in to.
// In the browser that asked for the link (or for a link no browser waits
// for) it is the plain "Sign in" page. Anywhere else it also offers to
// approve the asking browser, describing what asked and taking the number
// shown there — never showing or suggesting it, so a scanner that presses
// buttons cannot approve anything. Under RequireSameDevice it then offers no
// sign-in here. Looking the request up changes nothing.
func (h *Handler) renderConfirm(w http.ResponseWriter, r *http.Request, status int, name string, v *pageView, token, account string) {
	v.TokenHash, v.Account, v.SignInHere, v.ApproveAction = token, account, true, h.prefix+PathApprove
	view, err := h.svc.PendingRequest(r.Context(), token, pendingTicket(r))
	if err == nil && !view.SameDevice {
		v.Approve = true
		v.SignInHere = !h.core.RequireSameDevice
		v.AskedBrowser, v.AskedOS = describeAgent(view.UserAgent)
		v.AskedIP = view.IP
		v.AskedAge = h.core.Now().Sub(view.CreatedAt)
	}
	h.renderPage(w, r, status, name, v, 0)
}

// confirmPage renders a page with the confirm page's body again after a
// failed post of it (the link is still live), naming the account when the
// store can tell.
func (h *Handler) confirmPage(w http.ResponseWriter, r *http.Request, status int, name string, v *pageView, token string) {
	account, _ := h.svc.LinkEmail(r.Context(), token)
	h.renderConfirm(w, r, status, name, v, token, account)
}

// deviceMismatchPage answers a sign-in here under RequireSameDevice: the
// link stays usable to approve the browser that asked, and the code works
// (its form holds the link's address).
func (h *Handler) deviceMismatchPage(w http.ResponseWriter, r *http.Request, v *pageView, token string) {
	account, _ := h.svc.LinkEmail(r.Context(), token)
	v.Email = account
	h.renderConfirm(w, r, http.StatusForbidden, pageDeviceMismatch, v, token, account)
}
