package httpadapter

import "net/http"

// jwks serves GET /auth/.well-known/jwks.json: the public keys that verify
// access tokens, for services that check them offline. Public and the
// same for every caller, so caches may keep it for five minutes: a key
// added for rotation should be published that long before it signs.
func (h *Handler) jwks(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSONBytes(w, http.StatusOK, append(h.svc.JWKS(), '\n'))
}
