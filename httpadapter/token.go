package httpadapter

import (
	"net/http"
	"time"

	"github.com/magiclink-go/magiclink"
)

// tokenResponse is the JSON answer of a verify or a refresh that hands an
// API client its session.
type tokenResponse struct {
	AccessToken  string       `json:"access_token"`
	TokenType    string       `json:"token_type"`
	ExpiresIn    int64        `json:"expires_in"`
	RefreshToken string       `json:"refresh_token"`
	User         userResponse `json:"user"`
	Next         string       `json:"next,omitempty"`
}

type userResponse struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

func (h *Handler) tokenResponse(t *magiclink.Tokens, id magiclink.Identity, next string) tokenResponse {
	expiresIn := max(int64(t.AccessTokenExpiresAt.Sub(h.core.Now())/time.Second), 0)
	return tokenResponse{AccessToken: t.AccessToken, TokenType: "bearer", ExpiresIn: expiresIn, RefreshToken: t.RefreshToken,
		User: userResponse{ID: id.UserID, Email: id.Email}, Next: next}
}

// token serves POST /auth/token: {"grant_type":"refresh_token",
// "refresh_token":…} → a new access and refresh token. The refresh token
// works once; presenting a replaced one revokes its whole session (the
// Service's Refresh), and either way the answer is 401 SESSION_INVALID.
// Being a guess at a credential, a refresh counts against the per-IP
// verify limit.
func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	f, aerr := decodeJSON(w, r)
	if aerr != nil {
		h.portalError(w, r, aerr)
		return
	}
	grant, gk := f.str("grant_type")
	refresh, rk := f.str("refresh_token")
	var issues []issue
	switch {
	case gk == fieldMissing:
		issues = append(issues, issue{"grant_type", `grant_type is required ("refresh_token")`})
	case gk == fieldWrongType || grant != "refresh_token":
		issues = append(issues, issue{"grant_type", `grant_type must be "refresh_token"`})
	}
	switch {
	case rk == fieldMissing || (rk == fieldOK && refresh == ""):
		issues = append(issues, issue{"refresh_token", "refresh_token is required"})
	case rk == fieldWrongType:
		issues = append(issues, issue{"refresh_token", "refresh_token must be a string"})
	}
	ip, ok := h.admitJSON(w, r, issues)
	if !ok {
		return
	}
	t, id, err := h.svc.Refresh(r.Context(), refresh, magiclink.WithClientIP(ip))
	if err != nil {
		h.portalError(w, r, fromError(err))
		return
	}
	writeJSON(w, http.StatusOK, h.tokenResponse(t, id, ""))
}
