package httpadapter

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/magiclink-go/magiclink"
)

// envelope says which wire contract an endpoint's error bodies follow, so
// that cross-cutting failures (413, 415, 429, 503, panics) answer in the
// shape the endpoint's clients parse.
type envelope int

const (
	// envPortal is seed 001: {error, code, fieldErrors, issues, retryAfter}.
	// The verify and sign-out JSON answers use it too.
	envPortal envelope = iota
	// envPartner is seed 002: {Data, Success, Message, IsResourceKey}.
	envPartner
	// envAdmin is seed 003: {code, message, requestId, docs}.
	envAdmin
	// envPage is envPortal for the routes a browser navigates to (the
	// confirm page, its forms, sign-out): a crash on a page request
	// answers with the page rather than JSON.
	envPage
)

// Codes the adapter adds to magiclink's for the seed-001 envelope. The
// HTTP-level ones (415, 413) exist only here; the others name the wire code
// of a magiclink kind the adapter produces or compares itself.
const (
	codeValidationFailed     = "VALIDATION_FAILED"
	codeUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
	codePayloadTooLarge      = "PAYLOAD_TOO_LARGE"
	codeInternal             = "INTERNAL"
	codeOriginNotAllowed     = "ORIGIN_NOT_ALLOWED"
	codeRateLimited          = "RATE_LIMITED"
	codeTokenInvalid         = "TOKEN_INVALID"
	codeStoreUnavailable     = "STORE_UNAVAILABLE"
	codeConfigInvalid        = "CONFIG_INVALID"
	codeMethodNotAllowed     = "METHOD_NOT_ALLOWED"
	codeForbidden            = "FORBIDDEN"
	codeUnauthorized         = "UNAUTHORIZED"
	codeNotFound             = "NOT_FOUND"
)

// issue is one validation problem, as in Zod's issues array.
type issue struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// apiError is a failure on its way to the client.
type apiError struct {
	status     int
	code       string // seed-001 code; the admin envelope derives its own from status
	message    string
	issues     []issue
	retryAfter time.Duration
	// allow is the Allow header of a 405.
	allow string
	// authenticate is the WWW-Authenticate header of a 401.
	authenticate string
	// cause is logged for 5xx answers; it never reaches the client.
	cause error
}

func newAPIError(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

// validation builds a 400 VALIDATION_FAILED from issues.
func validation(issues ...issue) *apiError {
	msg := "validation failed"
	if len(issues) > 0 {
		msg = issues[0].Message
	}
	return &apiError{status: http.StatusBadRequest, code: codeValidationFailed, message: msg, issues: issues}
}

// payloadTooLarge is the 413 of a body over MaxBodyBytes. Like every
// constructor here it returns a fresh value, since endpoints adjust
// messages in place.
func payloadTooLarge() *apiError {
	return newAPIError(http.StatusRequestEntityTooLarge, codePayloadTooLarge, "request body is larger than 64 KiB")
}

// internalError is a 500 whose cause is logged and never shown.
func internalError(cause error) *apiError {
	e := newAPIError(http.StatusInternalServerError, codeInternal, "internal error")
	e.cause = cause
	return e
}

// forbidden is the JSON answer to a cross-site post.
func forbidden() *apiError {
	return newAPIError(http.StatusForbidden, codeForbidden, "cross-site request blocked")
}

func unsupportedMediaType(want string) *apiError {
	return newAPIError(http.StatusUnsupportedMediaType, codeUnsupportedMediaType, "Content-Type must be "+want)
}

// fromError maps an error of the Service to the status and code clients see.
// Store and mail outages are 503 with Retry-After, never 500.
func fromError(err error) *apiError {
	var e *magiclink.Error
	if !errors.As(err, &e) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return &apiError{status: http.StatusServiceUnavailable, code: codeStoreUnavailable,
				message: "the service is busy; retry shortly", retryAfter: time.Second, cause: err}
		}
		return internalError(err)
	}
	ae := &apiError{code: e.Code, message: e.Message, retryAfter: e.RetryAfter, cause: err}
	switch {
	case errors.Is(e, magiclink.ErrValidation):
		// Every refinement (an invalid e-mail, …) is one wire code.
		ae.status, ae.code = http.StatusBadRequest, codeValidationFailed
	case errors.Is(e, magiclink.ErrOriginNotAllowed), errors.Is(e, magiclink.ErrUnsafeNext),
		errors.Is(e, magiclink.ErrInvalidToken), errors.Is(e, magiclink.ErrInvalidCode):
		ae.status = http.StatusBadRequest
	case errors.Is(e, magiclink.ErrRateLimited):
		ae.status = http.StatusTooManyRequests
	case errors.Is(e, magiclink.ErrStoreUnavailable), errors.Is(e, magiclink.ErrMailUnavailable):
		ae.status = http.StatusServiceUnavailable
	default:
		return internalError(err)
	}
	if ae.status != http.StatusTooManyRequests && ae.status != http.StatusServiceUnavailable {
		ae.retryAfter = 0
	} else if ae.retryAfter <= 0 {
		ae.retryAfter = time.Second
	}
	if e.Field != "" {
		ae.issues = []issue{{Path: e.Field, Message: e.Message}}
	}
	return ae
}

// retrySeconds rounds up to whole seconds, at least 1.
func retrySeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// portalError is the seed-001 error body.
type portalError struct {
	Error       string            `json:"error"`
	Code        string            `json:"code"`
	FieldErrors map[string]string `json:"fieldErrors,omitempty"`
	Issues      []issue           `json:"issues,omitempty"`
	RetryAfter  *int              `json:"retryAfter,omitempty"`
}

// partnerBody is the seed-002 envelope of every answer.
type partnerBody struct {
	Data          *partnerData `json:"Data"`
	Success       bool         `json:"Success"`
	Message       *string      `json:"Message"`
	IsResourceKey bool         `json:"IsResourceKey"`
}

// partnerData is the seed-002 payload.
type partnerData struct {
	SecretKey *string `json:"SecretKey"`
	MagicLink string  `json:"MagicLink"`
}

// adminError is the seed-003 error body.
type adminError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
	Docs      string `json:"docs"`
}

// adminCodes are seed 003's codes by status; 413, 415 and 503, which the
// seed does not list, get codes named the same way.
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

// writeError answers e in env's envelope, with Retry-After on 429 and 503.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, env envelope, e *apiError) {
	hdr := w.Header()
	if e.retryAfter > 0 {
		hdr.Set("Retry-After", strconv.Itoa(retrySeconds(e.retryAfter)))
	}
	if e.allow != "" {
		hdr.Set("Allow", e.allow)
	}
	if e.authenticate != "" {
		hdr.Set("WWW-Authenticate", e.authenticate)
	}
	h.logFailure(r, e)
	switch env {
	case envPartner:
		msg := e.message
		writeJSON(w, e.status, partnerBody{Message: &msg})
	case envAdmin:
		code, ok := adminCodes[e.status]
		if !ok {
			code = http.StatusText(e.status)
		}
		writeJSON(w, e.status, adminError{Code: code, Message: e.message, RequestID: requestIDFrom(r.Context()), Docs: h.docs + "/" + code})
	default:
		body := portalError{Error: e.message, Code: e.code}
		if len(e.issues) > 0 {
			body.Issues = e.issues
			// Like Zod's flatten(), fieldErrors holds field paths only; an
			// issue with the whole body (path "") is in issues alone.
			for _, is := range e.issues {
				if is.Path == "" {
					continue
				}
				if body.FieldErrors == nil {
					body.FieldErrors = make(map[string]string, len(e.issues))
				}
				if _, seen := body.FieldErrors[is.Path]; !seen {
					body.FieldErrors[is.Path] = is.Message
				}
			}
		}
		if e.status == http.StatusTooManyRequests {
			s := retrySeconds(e.retryAfter)
			body.RetryAfter = &s
		}
		writeJSON(w, e.status, body)
	}
}

// logFailure logs a 5xx answer with its cause; client errors are not
// worth an operator's attention.
func (h *Handler) logFailure(r *http.Request, e *apiError) {
	if e.status < 500 {
		return
	}
	attrs := []any{"status", e.status, "code", e.code, "method", r.Method, "path", r.URL.Path, "request_id", requestIDFrom(r.Context())}
	if e.cause != nil {
		// Causes come from the Service, the store and the mailer, whose
		// errors never carry a secret.
		attrs = append(attrs, "error", e.cause.Error())
	}
	h.log.WarnContext(r.Context(), "httpadapter: request failed", attrs...)
}

// writeJSON answers v as JSON. Encoding the adapter's own types cannot fail.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error","code":"INTERNAL"}`)
	}
	writeJSONBytes(w, status, append(b, '\n'))
}

// writeJSONBytes answers an encoded JSON body.
func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
