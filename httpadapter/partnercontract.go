package httpadapter

import "net/http"

// The CreateMagicLink contract: POST /api/v1/Auth/CreateMagicLink answers
// every request, success or failure, in one envelope
// {Data, Success, Message, IsResourceKey}.

// partnerBody is the CreateMagicLink envelope.
type partnerBody struct {
	Data          *partnerData `json:"Data"`
	Success       bool         `json:"Success"`
	Message       *string      `json:"Message"`
	IsResourceKey bool         `json:"IsResourceKey"`
}

// partnerData is the CreateMagicLink payload.
type partnerData struct {
	SecretKey *string `json:"SecretKey"`
	MagicLink string  `json:"MagicLink"`
}

// partnerError answers e as Success:false, Data:null with e's message.
func (h *Handler) partnerError(w http.ResponseWriter, r *http.Request, e *apiError) {
	msg := e.message
	h.writeFailure(w, r, e, partnerBody{Message: &msg})
}

// writePartnerLink answers a minted link; secretKey is the new user's
// SecretKey, or nil when the partner sent X-User-Secret-Key.
func writePartnerLink(w http.ResponseWriter, link string, secretKey *string) {
	writeJSON(w, http.StatusOK, partnerBody{Data: &partnerData{SecretKey: secretKey, MagicLink: link}, Success: true, IsResourceKey: true})
}
