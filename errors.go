package magiclink

import (
	"time"
)

// Error is the error type every exported function of this module returns for
// failures a caller can act on. Code is stable and machine-readable; Message
// is for humans and never contains a secret; Field names the offending input
// (such as "email" or "callback_next") when there is one; RetryAfter is set
// for rate-limit and unavailability errors.
//
// Every failure is a fresh *Error, so a caller may change one it got back
// without affecting any other. Match a kind with errors.Is against the
// sentinel of that kind, and read Field or RetryAfter with errors.As.
type Error struct {
	Code       string
	Message    string
	Field      string
	RetryAfter time.Duration
	// Err is the underlying cause, if any. It is not shown to end users.
	Err error

	// kind is fixed when the error is made; changing Code afterwards does
	// not change what the error matches.
	kind kind
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

// Is reports whether e is of target's kind: target must be an *Error of the
// same kind as e, or of a broader kind that e's kind refines (an
// ErrInvalidEmail error is also an ErrValidation one, never the reverse).
// The kind of an *Error built by hand is the one its Code names.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	want := t.kindOf()
	if want == kindNone {
		return t.Code != "" && t.Code == e.Code
	}
	for k := e.kindOf(); k != kindNone; k = kinds[k].parent {
		if k == want {
			return true
		}
	}
	return false
}

// kindOf is e's kind: the one it was made with, else the one its Code names.
func (e *Error) kindOf() kind {
	if e.kind != kindNone {
		return e.kind
	}
	for k := range kinds {
		if kinds[k].code == e.Code && e.Code != "" {
			return kind(k)
		}
	}
	return kindNone
}

// Sentinels, one per kind of error. They are only for matching with
// errors.Is: no function returns one of these values, so changing one
// (which nobody should do) changes no error a caller receives.
//
// Each kind has its own stable code; the code names the subject first and
// then what is wrong with it, upper snake case:
//
//	sentinel             code                 refines
//	ErrValidation        VALIDATION_FAILED
//	ErrInvalidEmail      EMAIL_INVALID        ErrValidation
//	ErrOriginNotAllowed  ORIGIN_NOT_ALLOWED
//	ErrUnsafeNext        NEXT_NOT_ALLOWED
//	ErrInvalidToken      TOKEN_INVALID
//	ErrInvalidCode       CODE_INVALID
//	ErrMatchInvalid      MATCH_INVALID
//	ErrInvalidPending    PENDING_INVALID
//	ErrDeviceMismatch    DEVICE_MISMATCH
//	ErrInvalidSession    SESSION_INVALID
//	ErrSessionNotFound   SESSION_NOT_FOUND
//	ErrRateLimited       RATE_LIMITED
//	ErrStoreUnavailable  STORE_UNAVAILABLE
//	ErrMailUnavailable   MAIL_UNAVAILABLE
//	ErrInvalidConfig     CONFIG_INVALID
//	ErrNoMailer          MAILER_MISSING       ErrInvalidConfig
//	ErrUserExists        USER_EXISTS          (partner.go)
//	ErrSecretKeyInvalid  SECRET_KEY_INVALID   (partner.go)
//	ErrSignInDenied      SIGNIN_DENIED
//
// The HTTP adapter sends these codes to clients (an error refining
// ErrValidation goes out as VALIDATION_FAILED).
var (
	// ErrValidation is the kind of input validation failures that have no
	// kind of their own.
	ErrValidation = &Error{Code: "VALIDATION_FAILED", Message: "validation failed", kind: kindValidation}
	// ErrInvalidEmail is the kind of an address that is not a plain, valid
	// e-mail address. It refines ErrValidation.
	ErrInvalidEmail = &Error{Code: "EMAIL_INVALID", Message: "invalid email address", kind: kindInvalidEmail}
	// ErrOriginNotAllowed is the kind of a callback origin that is missing
	// or not on the allowlist.
	ErrOriginNotAllowed = &Error{Code: "ORIGIN_NOT_ALLOWED", Message: "origin is not allowed", kind: kindOriginNotAllowed}
	// ErrUnsafeNext is the kind of a post-sign-in destination that is not a
	// safe same-site path.
	ErrUnsafeNext = &Error{Code: "NEXT_NOT_ALLOWED", Message: "next is not a safe path", kind: kindUnsafeNext}
	// ErrInvalidToken is the kind of any link token that cannot be used:
	// unknown, expired, already used or malformed. The causes are
	// deliberately indistinguishable.
	ErrInvalidToken = &Error{Code: "TOKEN_INVALID", Message: "link is invalid, expired or already used", kind: kindInvalidToken}
	// ErrInvalidCode is the kind of a wrong, expired, used or exhausted code.
	ErrInvalidCode = &Error{Code: "CODE_INVALID", Message: "code is invalid or expired", kind: kindInvalidCode}
	// ErrMatchInvalid is the kind of a wrong number given to Approve: the
	// link was consumed and the waiting request denied.
	ErrMatchInvalid = &Error{Code: "MATCH_INVALID", Message: "the number does not match the one shown on the other device; ask for a new link there", kind: kindMatchInvalid}
	// ErrInvalidPending is the kind of a pending cookie that is unknown,
	// malformed or past its time, and of Approve for a link no browser is
	// waiting for.
	ErrInvalidPending = &Error{Code: "PENDING_INVALID", Message: "no sign-in request is waiting", kind: kindInvalidPending}
	// ErrDeviceMismatch is the kind of Verify's answer, under
	// Config.RequireSameDevice, to a link opened in another browser than
	// the one that asked for it.
	ErrDeviceMismatch = &Error{Code: "DEVICE_MISMATCH", Message: "this link signs in only in the browser that asked for it; approve that browser or type the code", kind: kindDeviceMismatch}
	// ErrInvalidSession is the kind of any session, access or refresh token
	// that is malformed, expired, revoked, already used (a refresh token),
	// signed by an unknown key or not of this Service.
	ErrInvalidSession = &Error{Code: "SESSION_INVALID", Message: "session is invalid or expired", kind: kindInvalidSession}
	// ErrSessionNotFound is the kind of a session ID that names none of
	// the user's live sessions (RevokeSession). It is not a sign-out: the
	// caller's own session is fine.
	ErrSessionNotFound = &Error{Code: "SESSION_NOT_FOUND", Message: "no such session", kind: kindSessionNotFound}
	// ErrRateLimited is the kind of a request a rate limit denies.
	ErrRateLimited = &Error{Code: "RATE_LIMITED", Message: "too many requests", kind: kindRateLimited}
	// ErrStoreUnavailable is the kind of a failure to reach the store or the
	// limiter; the request may be retried.
	ErrStoreUnavailable = &Error{Code: "STORE_UNAVAILABLE", Message: "store unavailable", RetryAfter: time.Second, kind: kindStoreUnavailable}
	// ErrMailUnavailable is the kind of a mail that cannot be accepted for
	// delivery (for example a full send queue); the request may be retried.
	// Its RetryAfter is the mailer's own hint when the mailer's error has
	// one (see mailer.Mailer; an outbox's refusal gives the time until its
	// next trial write), in whole seconds, else 1 s.
	ErrMailUnavailable = &Error{Code: "MAIL_UNAVAILABLE", Message: "mail delivery unavailable", RetryAfter: time.Second, kind: kindMailUnavailable}
	// ErrInvalidConfig is the kind of configuration errors returned by New
	// and NewOrigins.
	ErrInvalidConfig = &Error{Code: "CONFIG_INVALID", Message: "invalid configuration", kind: kindInvalidConfig}
	// ErrNoMailer is the kind of the error SendLink returns when the Service
	// has no Mailer. It refines ErrInvalidConfig.
	ErrNoMailer = &Error{Code: "MAILER_MISSING", Message: "no mailer configured", kind: kindNoMailer}
	// ErrSignInDenied is the kind of a sign-in that Hooks.OnSignIn refused.
	// A hook refuses by returning an error that matches it, such as
	// fmt.Errorf("account suspended: %w", ErrSignInDenied); the link or
	// code is used up all the same and no session is started.
	ErrSignInDenied = &Error{Code: "SIGNIN_DENIED", Message: "sign-in denied", kind: kindSignInDenied}
)

// kind is the kind of an *Error; kindNone is an *Error built by hand with a
// code of its own.
type kind uint8

const (
	kindNone kind = iota
	kindValidation
	kindInvalidEmail
	kindOriginNotAllowed
	kindUnsafeNext
	kindInvalidToken
	kindInvalidCode
	kindMatchInvalid
	kindInvalidPending
	kindDeviceMismatch
	kindInvalidSession
	kindSessionNotFound
	kindRateLimited
	kindStoreUnavailable
	kindMailUnavailable
	kindInvalidConfig
	kindNoMailer
	kindUserExists
	kindSecretKeyInvalid
	kindSignInDenied
)

// kinds describes each kind; fresh errors are made from it, never from the
// exported sentinels. It is never written to.
var kinds = [...]struct {
	code, message string
	parent        kind
	retryAfter    time.Duration
}{
	kindNone:             {},
	kindValidation:       {code: "VALIDATION_FAILED", message: "validation failed"},
	kindInvalidEmail:     {code: "EMAIL_INVALID", message: "invalid email address", parent: kindValidation},
	kindOriginNotAllowed: {code: "ORIGIN_NOT_ALLOWED", message: "origin is not allowed"},
	kindUnsafeNext:       {code: "NEXT_NOT_ALLOWED", message: "next is not a safe path"},
	kindInvalidToken:     {code: "TOKEN_INVALID", message: "link is invalid, expired or already used"},
	kindInvalidCode:      {code: "CODE_INVALID", message: "code is invalid or expired"},
	kindMatchInvalid:     {code: "MATCH_INVALID", message: "the number does not match the one shown on the other device; ask for a new link there"},
	kindInvalidPending:   {code: "PENDING_INVALID", message: "no sign-in request is waiting"},
	kindDeviceMismatch:   {code: "DEVICE_MISMATCH", message: "this link signs in only in the browser that asked for it; approve that browser or type the code"},
	kindInvalidSession:   {code: "SESSION_INVALID", message: "session is invalid or expired"},
	kindSessionNotFound:  {code: "SESSION_NOT_FOUND", message: "no such session"},
	kindRateLimited:      {code: "RATE_LIMITED", message: "too many requests"},
	kindStoreUnavailable: {code: "STORE_UNAVAILABLE", message: "store unavailable", retryAfter: time.Second},
	kindMailUnavailable:  {code: "MAIL_UNAVAILABLE", message: "mail delivery unavailable", retryAfter: time.Second},
	kindInvalidConfig:    {code: "CONFIG_INVALID", message: "invalid configuration"},
	kindNoMailer:         {code: "MAILER_MISSING", message: "no mailer configured", parent: kindInvalidConfig},
	kindUserExists:       {code: "USER_EXISTS", message: "a user with this email already exists; send the user's secret key to get a link"},
	kindSecretKeyInvalid: {code: "SECRET_KEY_INVALID", message: "the secret key is not valid for this user"},
	kindSignInDenied:     {code: "SIGNIN_DENIED", message: "sign-in denied"},
}

// newError returns a fresh *Error of kind k with a specific message (the
// kind's own when empty) and field, wrapping cause.
func newError(k kind, field, message string, cause error) *Error {
	if message == "" {
		message = kinds[k].message
	}
	return &Error{Code: kinds[k].code, Message: message, Field: field, RetryAfter: kinds[k].retryAfter, Err: cause, kind: k}
}

// configError is a configuration mistake found by New or NewOrigins.
func configError(field, message string) *Error {
	return newError(kindInvalidConfig, field, message, nil)
}
