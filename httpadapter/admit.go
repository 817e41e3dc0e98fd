package httpadapter

import (
	"net/http"
	"net/netip"
	"net/url"
)

// admitJSON is the last gate of a JSON request before the Service sees it:
// the issues its fields raised are answered 400 VALIDATION_FAILED, and so
// is a client address that cannot be told, since the Service's limits are
// kept per address. Otherwise it returns that address; ok false means the
// request has been answered.
func (h *Handler) admitJSON(w http.ResponseWriter, r *http.Request, issues []issue) (ip netip.Addr, ok bool) {
	if len(issues) > 0 {
		h.portalError(w, r, validation(issues...))
		return netip.Addr{}, false
	}
	ip, aerr := h.clientIP(r)
	if aerr != nil {
		h.portalError(w, r, aerr)
		return netip.Addr{}, false
	}
	return ip, true
}

// admitForm is admitJSON for a page's form post, whose fields the caller
// has judged: a client address that cannot be told is answered with the
// request-invalid page, its reason "ip".
func (h *Handler) admitForm(w http.ResponseWriter, r *http.Request, v *pageView) (ip netip.Addr, ok bool) {
	ip, aerr := h.clientIP(r)
	if aerr != nil {
		v.Reason = "ip"
		h.renderPage(w, r, aerr.status, pageRequestInvalid, v, 0)
		return netip.Addr{}, false
	}
	return ip, true
}

// readPageForm reads a page's form post and starts the answer's view in
// the locale the form carries. A post that is not same-site (the
// login-CSRF defence, see sameSite) is answered here with the blocked page,
// its Reason blocked, and so is a body it cannot read.
func (h *Handler) readPageForm(w http.ResponseWriter, r *http.Request, blocked string) (url.Values, *pageView, bool) {
	if !h.sameSite(r) {
		v := h.page(r, "")
		v.Reason = blocked
		h.renderPage(w, r, http.StatusForbidden, pageBlocked, v, 0)
		return nil, nil, false
	}
	body, aerr := readBody(w, r)
	if aerr != nil {
		v := h.page(r, "")
		v.Reason = "unreadable"
		if aerr.status == http.StatusRequestEntityTooLarge {
			v.Reason = "too_large"
		}
		h.renderPage(w, r, aerr.status, pageRequestInvalid, v, 0)
		return nil, nil, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		v := h.page(r, "")
		v.Reason = "unreadable"
		h.renderPage(w, r, http.StatusBadRequest, pageRequestInvalid, v, 0)
		return nil, nil, false
	}
	return form, h.page(r, form.Get("locale")), true
}
