package httpadapter

import (
	"net/http"
	"strconv"
	"time"
)

// renderConfirm renders the confirm page of a live link token, naming
// account (when known) as the address it signs in to. In the
// browser that asked for the link (or for a link no browser waits for) it
// is the plain "Sign in" page. Anywhere else it also offers to approve the
// asking browser, describing what asked and taking the number shown there
// — never showing or suggesting it, so a scanner that presses buttons
// cannot approve anything. Under RequireSameDevice it then offers no
// sign-in here. Looking the request up changes nothing.
func (h *Handler) renderConfirm(w http.ResponseWriter, r *http.Request, status int, token, account, notice string) {
	d := pageData{Title: "Confirm sign-in", Confirm: true, SignInHere: true, TokenHash: token, Account: account, Notice: notice,
		ApproveAction: h.prefix + PathApprove}
	view, err := h.svc.PendingRequest(r.Context(), token, pendingTicket(r))
	if err == nil && !view.SameDevice {
		d.Approve = true
		d.SignInHere = !h.core.RequireSameDevice
		d.AskedAgent = describeAgent(view.UserAgent)
		d.AskedIP = view.IP
		d.AskedAgo = humanAgo(h.core.Now().Sub(view.CreatedAt))
	}
	h.renderPage(w, r, status, d, 0)
}

// confirmPage renders the confirm page again after a failed post of it
// (the link is still live), naming the account when the store can tell.
func (h *Handler) confirmPage(w http.ResponseWriter, r *http.Request, status int, token, notice string) {
	account, _ := h.svc.LinkEmail(r.Context(), token)
	h.renderConfirm(w, r, status, token, account, notice)
}

// humanAgo words how long ago something happened, for the page.
func humanAgo(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < 2*time.Minute:
		return "1 minute ago"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " minutes ago"
	default:
		return "over an hour ago"
	}
}

// deviceMismatchPage answers a sign-in here under RequireSameDevice: the
// link stays usable to approve the browser that asked, and the code works.
func (h *Handler) deviceMismatchPage(w http.ResponseWriter, r *http.Request, token string) {
	h.confirmPage(w, r, http.StatusForbidden, token,
		"This link signs in only in the browser that asked for it. Approve that browser below, or enter the code from the e-mail.")
}
