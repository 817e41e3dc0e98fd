package httpadapter

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/store"
)

// errorWriter answers a failure in one wire contract's error body. Each
// contract's file defines its own (portalError, partnerError, adminError),
// so that cross-cutting failures (405, 413, 415, 429, 503, panics) answer
// in the shape the endpoint's clients parse.
type errorWriter func(w http.ResponseWriter, r *http.Request, e *apiError)

// Codes the adapter adds to magiclink's for the send-magic-link error body. The
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
	codeSessionInvalid       = "SESSION_INVALID"
	// codeSignInDenied is the code of a sign-in the host refused; it has a
	// page of its own.
	codeSignInDenied   = "SIGNIN_DENIED"
	codePendingInvalid = "PENDING_INVALID"
)

// issue is one validation problem, as in Zod's issues array.
type issue struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// apiError is a failure on its way to the client.
type apiError struct {
	status     int
	code       string // the send-magic-link code; the admin contract derives its own from status
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
		errors.Is(e, magiclink.ErrInvalidToken), errors.Is(e, magiclink.ErrInvalidCode),
		errors.Is(e, magiclink.ErrMatchInvalid), errors.Is(e, magiclink.ErrInvalidPending):
		ae.status = http.StatusBadRequest
	case errors.Is(e, magiclink.ErrInvalidSession):
		ae.status, ae.authenticate = http.StatusUnauthorized, `Bearer error="invalid_token"`
	case errors.Is(e, magiclink.ErrSessionNotFound):
		ae.status = http.StatusNotFound
	case errors.Is(e, magiclink.ErrDeviceMismatch):
		ae.status = http.StatusForbidden
	case errors.Is(e, magiclink.ErrRateLimited):
		ae.status = http.StatusTooManyRequests
	case errors.Is(e, magiclink.ErrSignInDenied):
		ae.status = http.StatusForbidden
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

// writeFailure sets the headers every error answer carries (Retry-After
// on 429 and 503, Allow on 405, WWW-Authenticate on 401), logs server
// failures and writes body, the contract's own shape of e.
func (h *Handler) writeFailure(w http.ResponseWriter, r *http.Request, e *apiError, body any) {
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
	writeJSON(w, e.status, body)
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

// writeJSONString answers an encoded JSON body held in a string.
func writeJSONString(w http.ResponseWriter, status int, s string) {
	setJSONHeaders(w)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, s)
}

// writeJSONBytes answers an encoded JSON body.
func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	setJSONHeaders(w)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// storeFailure maps an error from the store itself (not through the
// Service) to 503.
func storeFailure(err error) *apiError {
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrFull) {
		return fromError(&magiclink.Error{Code: codeStoreUnavailable, Message: "store unavailable", RetryAfter: time.Second, Err: err})
	}
	return fromError(err)
}
