package magiclink

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/magiclink-go/magiclink/internal/telemetry"
)

// SendLink validates req, applies the rate limits, issues a link with a code
// and mails both. It answers the same way whether or not the address has a
// user, so it cannot be used to find out who has an account.
//
// When the Mailer is a mailer.Reserver (the Dispatcher, an outbox), a send
// it refuses (ErrMailUnavailable: queue full, closed, its store down) is
// refused before anything changes: no limit is charged, no link is stored,
// the address's previous code still works and nothing is logged as issued.
// With any other Mailer the mail is sent after the link is stored, and a
// failed send leaves the new, unmailed link in place of the previous code.
func (s *Service) SendLink(ctx context.Context, req SendRequest) error {
	ctx, span := s.tel.Start(ctx, "magiclink.SendLink")
	err := s.sendLink(ctx, req, nil)
	s.tel.Send(ctx, resultCode(err))
	endSpan(span, err)
	return err
}

// CreateLink issues a link for a trusted caller (a back end) and returns it
// instead of mailing it. The link carries no code (Link.Code is empty) and
// leaves the address's mailed code alone. It applies no rate limit: callers limit by their
// own credentials (the HTTP adapter limits per API key and per admin
// subject).
func (s *Service) CreateLink(ctx context.Context, req LinkRequest) (*Link, error) {
	ctx, span := s.tel.Start(ctx, "magiclink.CreateLink")
	link, err := s.createLink(ctx, req)
	endSpan(span, err)
	return link, err
}

// Verify consumes a link token and returns who signed in. Of any number of
// concurrent calls with one token exactly one succeeds. The code from the
// same mail stays usable, so a mail scanner that pressed the confirm button
// does not lock the user out. An unknown,
// expired, used or malformed token is ErrInvalidToken, without telling
// which.
func (s *Service) Verify(ctx context.Context, token string, opts ...VerifyOption) (Identity, error) {
	ctx, span := s.tel.Start(ctx, "magiclink.Verify")
	id, err := s.verify(ctx, token, opts)
	s.tel.Verify(ctx, "link", resultCode(err))
	endSpan(span, err)
	return id, err
}

// VerifyCode consumes the active code of email and returns who signed in;
// the code's link is consumed with it. A wrong, expired or used code is
// ErrInvalidCode; the fifth wrong try kills the code.
func (s *Service) VerifyCode(ctx context.Context, email, code string, opts ...VerifyOption) (Identity, error) {
	ctx, span := s.tel.Start(ctx, "magiclink.VerifyCode")
	id, err := s.verifyCode(ctx, email, code, opts)
	s.tel.Verify(ctx, "code", resultCode(err))
	endSpan(span, err)
	return id, err
}

// resultCode is the metric label of a call's outcome: "ok", the stable code
// of an *Error, or "INTERNAL" for anything else. Never a message: messages
// may name the input.
func resultCode(err error) string {
	if err == nil {
		return telemetry.Result
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "INTERNAL"
}

// endSpan ends a span Start began (nil when it began none), marking a
// failure with its code only.
func endSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.SetStatus(codes.Error, resultCode(err))
	}
	span.End()
}
