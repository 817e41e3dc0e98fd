package httpadapter

import "net/http"

// The admin contract: POST /admin/magic_link answers
// {"object":"magic_link","link":…}; its errors are
// {code, message, requestId, docs} with code the name of the status.

// adminLinkBody is the admin success body.
type adminLinkBody struct {
	Object string `json:"object"`
	Link   string `json:"link"`
}

// adminErrorBody is the admin error body.
type adminErrorBody struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
	Docs      string `json:"docs"`
}

// adminCodes are the admin contract's codes by status; 413, 415 and 503,
// which its document does not list, get codes named the same way.
var adminCodes = map[int]string{
	http.StatusBadRequest:            "BAD_REQUEST",
	http.StatusUnauthorized:          "UNAUTHORIZED",
	http.StatusPaymentRequired:       "PAYMENT_REQUIRED",
	http.StatusForbidden:             "FORBIDDEN",
	http.StatusNotFound:              "NOT_FOUND",
	http.StatusMethodNotAllowed:      "METHOD_NOT_ALLOWED",
	http.StatusConflict:              "CONFLICT",
	http.StatusRequestEntityTooLarge: "PAYLOAD_TOO_LARGE",
	http.StatusUnsupportedMediaType:  "UNSUPPORTED_MEDIA_TYPE",
	http.StatusUnprocessableEntity:   "UNPROCESSABLE_ENTITY",
	http.StatusTooManyRequests:       "TOO_MANY_REQUESTS",
	http.StatusInternalServerError:   "INTERNAL_SERVER_ERROR",
	http.StatusServiceUnavailable:    "SERVICE_UNAVAILABLE",
}

// adminError answers e in the admin error body; docs links to the code's
// page under Config.DocsBaseURL.
func (h *Handler) adminError(w http.ResponseWriter, r *http.Request, e *apiError) {
	code, ok := adminCodes[e.status]
	if !ok {
		code = http.StatusText(e.status)
	}
	h.writeFailure(w, r, e, adminErrorBody{Code: code, Message: e.message, RequestID: requestIDFrom(r.Context()), Docs: h.docs + "/" + code})
}

// writeAdminLink answers a minted link.
func writeAdminLink(w http.ResponseWriter, link string) {
	writeJSON(w, http.StatusOK, adminLinkBody{Object: "magic_link", Link: link})
}
