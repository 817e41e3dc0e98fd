package httpadapter

import (
	"net/http"
	"time"

	"github.com/magiclink-go/magiclink/internal/mask"
)

// sessionResponse is one entry of GET /auth/sessions.
type sessionResponse struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	Method     string    `json:"method"`
	Current    bool      `json:"current"`
}

type sessionsResponse struct {
	Sessions []sessionResponse `json:"sessions"`
}

// user serves GET /auth/user: who the session belongs to.
func (h *Handler) user(w http.ResponseWriter, r *http.Request) {
	id, _, aerr := h.session(r)
	if aerr != nil {
		h.portalError(w, r, aerr)
		return
	}
	writeJSON(w, http.StatusOK, userResponse{ID: id.UserID, Email: id.Email})
}

// listSessions serves GET /auth/sessions: the user's live sessions, oldest
// first, the one making the request marked current.
func (h *Handler) listSessions(w http.ResponseWriter, r *http.Request) {
	id, _, aerr := h.session(r)
	if aerr != nil {
		h.portalError(w, r, aerr)
		return
	}
	list, err := h.svc.Sessions(r.Context(), id.UserID)
	if err != nil {
		h.portalError(w, r, fromError(err))
		return
	}
	out := sessionsResponse{Sessions: make([]sessionResponse, len(list))}
	for i, s := range list {
		out.Sessions[i] = sessionResponse{ID: s.ID, CreatedAt: s.CreatedAt.UTC(), LastSeenAt: s.LastSeenAt.UTC(),
			IP: s.IP, UserAgent: s.UserAgent, Method: s.Method, Current: s.ID == id.SessionID}
	}
	writeJSON(w, http.StatusOK, out)
}

// revokeSession serves DELETE /auth/sessions/{id}: 204 when the user had
// that session, 404 SESSION_NOT_FOUND otherwise (another user's ID too,
// so IDs cannot be probed). With a cookie it is a state change a foreign
// page could trigger, so the same-origin rules of sign-in apply.
func (h *Handler) revokeSession(w http.ResponseWriter, r *http.Request) {
	id, cred, aerr := h.session(r)
	if aerr != nil {
		h.portalError(w, r, aerr)
		return
	}
	if cred == credCookie && !h.sameSite(r) {
		h.portalError(w, r, forbidden())
		return
	}
	target := r.PathValue("id")
	if err := h.svc.RevokeSession(r.Context(), id.UserID, target); err != nil {
		h.portalError(w, r, fromError(err))
		return
	}
	h.log.InfoContext(r.Context(), "httpadapter: session revoked", "email", mask.Address(id.Email), "session", target)
	if target == id.SessionID && cred == credCookie {
		h.clearSessionCookie(w, r)
	}
	w.WriteHeader(http.StatusNoContent)
}
