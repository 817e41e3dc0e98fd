package httpadapter

import (
	"errors"
	"net/http"
	"net/netip"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/mask"
)

// PendingCookie is the name of the cookie that ties a browser to the
// sign-in request it made (cross-device sign-in). Its value is opaque.
const PendingCookie = "magiclink_pending"

// pendingResponse is the body of GET /auth/pending while waiting (the
// number and the seconds left) and once expired (the status alone).
type pendingResponse struct {
	Status    string `json:"status"`
	Match     string `json:"match,omitempty"`
	ExpiresIn *int64 `json:"expires_in,omitempty"`
}

// approvedResponse is its body on approval: the session as POST
// /auth/verify returns it to JSON clients.
type approvedResponse struct {
	Status string `json:"status"`
	*tokenResponse
}

// SetPendingCookie hands the asking browser its ticket from
// magiclink.Service.SendLinkPending, for hosts that send links from their
// own sign-in form rather than POST /auth/send-magic-link (which sets it
// itself). The cookie is HttpOnly (scripts never see it), SameSite=Lax,
// sent only to the auth routes, and lives as long as the link.
func (h *Handler) SetPendingCookie(w http.ResponseWriter, r *http.Request, t *magiclink.PendingTicket) {
	maxAge := int(t.ExpiresAt.Sub(h.core.Now()) / time.Second)
	if maxAge < 1 {
		maxAge = 1
	}
	path, secure := h.pendingPath(), h.secureRequest(r)
	if v := pendingCookieHeader(t.Cookie, path, t.ExpiresAt, maxAge, secure); v != "" {
		setPendingCookieHeader(w, v)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: PendingCookie, Value: t.Cookie, Path: path, MaxAge: maxAge,
		Expires: t.ExpiresAt.UTC(), HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
}

// clearPendingCookie ends the ticket in the browser once nothing more can
// come of it.
func (h *Handler) clearPendingCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: PendingCookie, Value: "", Path: h.pendingPath(), MaxAge: -1,
		Expires: time.Unix(0, 0).UTC(), HttpOnly: true, Secure: h.secureRequest(r), SameSite: http.SameSiteLaxMode})
}

func (h *Handler) pendingPath() string { return h.prefix + "/auth" }

// pendingTicket returns the browser's pending cookie, or "".
func pendingTicket(r *http.Request) string {
	if c, err := r.Cookie(PendingCookie); err == nil {
		return c.Value
	}
	return ""
}

// pending serves GET /auth/pending, the asking tab's poll. The approval is
// handed out once: the answer that carries it also carries the session
// (cookie and tokens), and ends the ticket.
func (h *Handler) pending(w http.ResponseWriter, r *http.Request) {
	ticket := pendingTicket(r)
	if ticket == "" {
		h.portalError(w, r, pendingNotFound())
		return
	}
	// The address first: an approval is handed out once, so nothing may
	// fail between taking it and answering that could have failed before.
	ip, aerr := h.clientIP(r)
	if aerr != nil {
		h.portalError(w, r, aerr)
		return
	}
	st, err := h.svc.Pending(r.Context(), ticket)
	if err != nil {
		e := fromError(err)
		if errors.Is(err, magiclink.ErrInvalidPending) {
			e = pendingNotFound()
		}
		h.portalError(w, r, e)
		return
	}
	switch st.Status {
	case magiclink.PendingWaiting:
		secs := int64((st.ExpiresIn + time.Second - 1) / time.Second)
		writeJSON(w, http.StatusOK, pendingResponse{Status: st.Status, Match: st.Match, ExpiresIn: &secs})
	case magiclink.PendingApproved:
		tr, err := h.startSession(w, r, st.Identity, ip)
		if err != nil {
			h.portalError(w, r, fromError(err))
			return
		}
		h.clearPendingCookie(w, r)
		h.log.InfoContext(r.Context(), "httpadapter: signed in", "email", mask.Address(st.Identity.Email), "method", "approval")
		writeJSON(w, http.StatusOK, approvedResponse{Status: st.Status, tokenResponse: tr})
	default:
		h.clearPendingCookie(w, r)
		writeJSON(w, http.StatusOK, pendingResponse{Status: magiclink.PendingExpired})
	}
}

// startSession signs the asking browser in after an approval: the session
// cookie and, in the body, the access and refresh tokens a JSON verify
// gives (a session of their own, as there). A host with OnLogin gets the
// hook instead: whatever cookies it sets go out with the JSON answer, its
// status and body do not.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, id magiclink.Identity, ip netip.Addr) (*tokenResponse, error) {
	if h.onLogin != nil {
		if err := h.onLogin(headerOnly{w}, r, id); err != nil {
			h.log.ErrorContext(r.Context(), "httpadapter: OnLogin failed", "email", mask.Address(id.Email), "error", err.Error())
			return nil, err
		}
		return &tokenResponse{User: userResponse{ID: id.UserID, Email: id.Email}, Next: id.Origin + id.Next}, nil
	}
	c := magiclink.Client{IP: ip, UserAgent: r.UserAgent()}
	sess, err := h.svc.StartBrowserSession(r.Context(), id, c)
	if err != nil {
		return nil, err
	}
	tok, err := h.svc.StartAPISession(r.Context(), id, c)
	if err != nil {
		return nil, err
	}
	h.setSessionCookie(w, r, sess)
	tr := h.tokenResponse(tok, id, id.Origin+id.Next)
	return &tr, nil
}

// headerOnly lets an OnLogin hook set headers (its cookies) on the poll's
// answer but not its status or body, which are the poll's JSON.
type headerOnly struct{ w http.ResponseWriter }

func (h headerOnly) Header() http.Header       { return h.w.Header() }
func (headerOnly) Write(b []byte) (int, error) { return len(b), nil }
func (headerOnly) WriteHeader(int)             {}

// pendingNotFound is the poll's answer to a missing or unknown ticket.
func pendingNotFound() *apiError {
	return newAPIError(http.StatusNotFound, codePendingInvalid, "no sign-in request is waiting in this browser")
}
