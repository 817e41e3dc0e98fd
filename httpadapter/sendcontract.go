package httpadapter

import "net/http"

// The send-magic-link contract: POST /auth/send-magic-link answers
// {"ok":true}; its errors, and those of every route that is not the partner
// or the admin API (verify, sign-out, unknown paths), are
// {error, code, fieldErrors, issues, retryAfter}.

// okJSON is the send-magic-link success body.
const okJSON = `{"ok":true}` + "\n"

// portalErrorBody is the send-magic-link error body.
type portalErrorBody struct {
	Error       string            `json:"error"`
	Code        string            `json:"code"`
	FieldErrors map[string]string `json:"fieldErrors,omitempty"`
	Issues      []issue           `json:"issues,omitempty"`
	RetryAfter  *int              `json:"retryAfter,omitempty"`
}

// portalError answers e in the send-magic-link error body.
func (h *Handler) portalError(w http.ResponseWriter, r *http.Request, e *apiError) {
	body := portalErrorBody{Error: e.message, Code: e.code, Issues: e.issues, FieldErrors: fieldErrors(e.issues)}
	if e.status == http.StatusTooManyRequests {
		s := retrySeconds(e.retryAfter)
		body.RetryAfter = &s
	}
	h.writeFailure(w, r, e, body)
}

// fieldErrors is Zod's flatten(): the first message per field path. An
// issue with the whole body (path "") is in issues alone.
func fieldErrors(issues []issue) map[string]string {
	var m map[string]string
	for _, is := range issues {
		if is.Path == "" {
			continue
		}
		if m == nil {
			m = make(map[string]string, len(issues))
		}
		if _, seen := m[is.Path]; !seen {
			m[is.Path] = is.Message
		}
	}
	return m
}
