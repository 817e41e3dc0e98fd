package magiclink

import (
	"errors"
	"time"
)

// Stable error codes carried by *Error. They are part of the public contract:
// the HTTP adapter sends them to clients, and clients branch on them.
const (
	CodeValidationFailed     = "VALIDATION_FAILED"
	CodeOriginNotAllowed     = "ORIGIN_NOT_ALLOWED"
	CodeNextNotAllowed       = "NEXT_NOT_ALLOWED"
	CodeRateLimited          = "RATE_LIMITED"
	CodeUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
	CodePayloadTooLarge      = "PAYLOAD_TOO_LARGE"
	CodeTokenInvalid         = "TOKEN_INVALID"
	CodeCodeInvalid          = "CODE_INVALID"
	CodeStoreUnavailable     = "STORE_UNAVAILABLE"
	CodeMailUnavailable      = "MAIL_UNAVAILABLE"
	CodeInternal             = "INTERNAL"
	CodeConfig               = "CONFIG_INVALID"
)

// Error is the error type every exported function of this module returns for
// failures a caller can act on. Code is stable and machine-readable; Message
// is for humans and never contains a secret; Field names the offending input
// (such as "email" or "callback_next") when there is one; RetryAfter is set
// for rate-limit and unavailability errors.
//
// errors.Is(err, ErrRateLimited) is true for any *Error with the same Code as
// the sentinel, so callers can match a category without comparing messages.
type Error struct {
	Code       string
	Message    string
	Field      string
	RetryAfter time.Duration
	// Err is the underlying cause, if any. It is not shown to end users.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	msg := "magiclink: " + e.Message
	if e.Field != "" {
		msg = "magiclink: " + e.Field + ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Code, which makes every
// error of one category match its sentinel.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code
}

// Sentinel errors, one per category. Match them with errors.Is; use errors.As
// with *Error to read Field or RetryAfter.
var (
	// ErrInvalidToken is returned for any link token that cannot be used:
	// unknown, expired, already used or malformed. The causes are deliberately
	// indistinguishable.
	ErrInvalidToken = &Error{Code: CodeTokenInvalid, Message: "link is invalid, expired or already used"}
	// ErrInvalidCode is returned for a wrong, expired, used or exhausted code.
	ErrInvalidCode = &Error{Code: CodeCodeInvalid, Message: "code is invalid or expired"}
	// ErrRateLimited is returned when a rate limit denies the request.
	ErrRateLimited = &Error{Code: CodeRateLimited, Message: "too many requests"}
	// ErrOriginNotAllowed is returned when a callback origin is missing or not
	// on the allowlist.
	ErrOriginNotAllowed = &Error{Code: CodeOriginNotAllowed, Message: "origin is not allowed"}
	// ErrUnsafeNext is returned when a post-sign-in destination is not a safe
	// same-site path.
	ErrUnsafeNext = &Error{Code: CodeNextNotAllowed, Message: "next is not a safe path"}
	// ErrInvalidEmail is returned for an address that is not a plain, valid
	// e-mail address.
	ErrInvalidEmail = &Error{Code: CodeValidationFailed, Field: "email", Message: "invalid email address"}
	// ErrValidation is the category of all input validation failures.
	ErrValidation = &Error{Code: CodeValidationFailed, Message: "validation failed"}
	// ErrStoreUnavailable is returned when the store cannot be reached; the
	// request may be retried.
	ErrStoreUnavailable = &Error{Code: CodeStoreUnavailable, Message: "store unavailable", RetryAfter: time.Second}
	// ErrMailUnavailable is returned when a mail cannot be accepted for
	// delivery (for example a full send queue); the request may be retried.
	ErrMailUnavailable = &Error{Code: CodeMailUnavailable, Message: "mail delivery unavailable", RetryAfter: time.Second}
	// ErrNoMailer is returned by SendLink when the Service has no Mailer.
	ErrNoMailer = &Error{Code: CodeInternal, Message: "no mailer configured"}
	// ErrInvalidConfig is the category of configuration errors returned by New
	// and NewOrigins.
	ErrInvalidConfig = &Error{Code: CodeConfig, Message: "invalid configuration"}
)

// newError returns a fresh *Error of the sentinel's category with a specific
// message and field, wrapping cause.
func newError(sentinel *Error, field, message string, cause error) *Error {
	if message == "" {
		message = sentinel.Message
	}
	return &Error{Code: sentinel.Code, Message: message, Field: field, RetryAfter: sentinel.RetryAfter, Err: cause}
}

// configError is a configuration mistake found by New or NewOrigins.
func configError(field, message string) *Error {
	return &Error{Code: CodeConfig, Field: field, Message: message}
}
