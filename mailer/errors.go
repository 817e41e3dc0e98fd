package mailer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"
)

// Sentinel errors. A delivery error matches exactly one of ErrTemporary and
// ErrPermanent under errors.Is; the Dispatcher retries the first and gives up
// on the second at once.
var (
	// ErrTemporary matches delivery errors worth retrying: network errors,
	// timeouts, SMTP 4xx replies, HTTP 408, 429 and 5xx responses.
	ErrTemporary = errors.New("mailer: temporary delivery failure")
	// ErrPermanent matches delivery errors that a retry cannot fix: SMTP 5xx
	// replies, HTTP 4xx responses other than 408 and 429, invalid addresses.
	ErrPermanent = errors.New("mailer: permanent delivery failure")
	// ErrQueueFull is returned by Dispatcher.Send when its queue is full. The
	// message was not accepted; nothing is dropped silently.
	ErrQueueFull = errors.New("mailer: queue full")
	// ErrClosed is returned by Send after Close.
	ErrClosed = errors.New("mailer: closed")
)

// SendError is a classified delivery error. It matches ErrTemporary or
// ErrPermanent under errors.Is, depending on Temporary, and unwraps to Err.
type SendError struct {
	// Temporary reports whether a retry may succeed.
	Temporary bool
	// Code is the SMTP reply code or HTTP status, 0 when there was none
	// (network errors, local validation).
	Code int
	// Err is the underlying error.
	Err error
}

// Error implements error.
func (e *SendError) Error() string {
	kind := "permanent"
	if e.Temporary {
		kind = "temporary"
	}
	var b strings.Builder
	b.WriteString("mailer: ")
	b.WriteString(kind)
	b.WriteString(" failure")
	if e.Code != 0 {
		fmt.Fprintf(&b, " (code %d)", e.Code)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *SendError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrTemporary) and errors.Is(err, ErrPermanent)
// follow Temporary.
func (e *SendError) Is(target error) bool {
	switch target {
	case ErrTemporary:
		return e.Temporary
	case ErrPermanent:
		return !e.Temporary
	}
	return false
}

// Temporary wraps err as a temporary delivery error, for Mailer
// implementations outside this package. A nil err stays nil.
func Temporary(err error) error {
	if err == nil {
		return nil
	}
	return &SendError{Temporary: true, Err: err}
}

// Permanent wraps err as a permanent delivery error, for Mailer
// implementations outside this package. A nil err stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &SendError{Temporary: false, Err: err}
}

// IsTemporary reports whether a retry of the failed delivery may succeed.
// Errors classified by a SendError (or wrapping ErrTemporary or
// ErrPermanent) say so themselves; network errors and timeouts are
// temporary; any other unclassified error is treated as temporary too, since
// a retry of a mail that was not delivered is the safe choice.
func IsTemporary(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrPermanent):
		return false
	case errors.Is(err, ErrTemporary):
		return true
	}
	return true
}

// classifyNetwork classifies errors that are not protocol replies: local
// certificate problems are permanent (a retry meets the same certificate);
// everything else on the wire (resets, EOF, timeouts) is temporary.
func classifyNetwork(err error) *SendError {
	var (
		certErr    *tls.CertificateVerificationError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
	)
	if errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &invalidErr) {
		return &SendError{Temporary: false, Err: err}
	}
	return &SendError{Temporary: true, Err: err}
}

// classifySend classifies a failed SMTP connect or send: a context that
// ended makes it temporary whatever the wire said (the connection was cut
// on purpose); otherwise classifySMTP decides.
func classifySend(ctx context.Context, stage string, err error) error {
	if cerr := contextErr(ctx); cerr != nil {
		return &SendError{Temporary: true, Err: fmt.Errorf("mailer: SMTP %s: %w (%w)", stage, cerr, err)}
	}
	return classifySMTP(fmt.Errorf("mailer: SMTP %s: %w", stage, err))
}

// contextErr is ctx.Err(), also when the context's deadline has passed but
// its timer has not fired yet (the connection deadline, set to the same
// instant, may fire first).
func contextErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// classifySMTP maps an error from go-mail to a SendError: reply codes 4xx
// are temporary and 5xx permanent; errors without a reply code are network
// errors (temporary) unless they are certificate or local errors.
func classifySMTP(err error) error {
	if code := replyCode(err); code >= 400 && code < 600 {
		return &SendError{Temporary: code < 500, Code: code, Err: err}
	}
	var se *mail.SendError
	if errors.As(err, &se) {
		switch se.Reason {
		case mail.ErrGetSender, mail.ErrGetRcpts, mail.ErrNoUnencoded:
			return &SendError{Temporary: false, Err: err}
		}
	}
	if errors.Is(err, errInsecureAuth) || errors.Is(err, errNoAuthMechanism) {
		return &SendError{Temporary: false, Err: err}
	}
	return classifyNetwork(err)
}
