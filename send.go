package magiclink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/magiclink-go/magiclink/internal/mask"
	"github.com/magiclink-go/magiclink/mailer"
)

// SendRequest asks for a sign-in mail.
type SendRequest struct {
	// Email is the address to sign in; it is normalized (NormalizeEmail).
	Email string
	// CallbackOrigin is the origin the link points to; it must be allowed.
	CallbackOrigin string
	// Next is where to land after signing in: a safe path, or a full URL on
	// CallbackOrigin (only its path is kept). Empty means "/".
	Next string
	// Locale selects the mail's language, such as "de" or "tr-TR"; the
	// link carries the language it resolves to (Link.URL).
	Locale string
	// ClientIP is the requester's address, for the per-IP limit. The zero
	// value skips that limit (for calls from trusted back ends).
	ClientIP netip.Addr
	// OrgID is the organisation of the user ("" for the default).
	OrgID string
}

// sendLink is SendLink without its telemetry; with ask, the link is stored
// with a pending request (SendLinkPending).
func (s *Service) sendLink(ctx context.Context, req SendRequest, ask *pendingAsk) error {
	if s.mailer == nil {
		return newError(kindNoMailer, "Mailer", "", nil)
	}
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return err
	}
	origin, next, err := s.resolveTarget(req.CallbackOrigin, req.Next, "callback_origin", "callback_next")
	if err != nil {
		return err
	}
	// The order makes a refusal free: the mailer's room first, then the
	// limits, then the one store write, then the mail.
	res, err := s.reserveMail(ctx)
	if err != nil {
		return s.mailRefused(ctx, email, err)
	}
	if res != nil {
		defer res.Cancel() // gives the room back unless committed
	}
	if err := s.limitSend(ctx, req.ClientIP, email); err != nil {
		return err
	}
	if !s.beforeSend(ctx, SendInfo{Email: email, OrgID: req.OrgID, Origin: origin, Next: next, Locale: req.Locale, ClientIP: req.ClientIP}) {
		return s.decoyPending(ctx, ask)
	}
	// The user is resolved when the link is used, so a send costs one store
	// round trip besides the limits. Only DisableSignup needs to know now
	// whether to mail; both kinds of address still take the same path.
	var userID string
	if s.disableSignup {
		if userID, err = s.lookupUser(ctx, req.OrgID, email); err != nil {
			return err
		}
	}
	link, err := s.issue(ctx, email, req.OrgID, userID, origin, next, s.linkLocale(req.Locale), s.linkTTL, true, ask)
	if err != nil {
		return err
	}
	data := mailer.LinkData{To: email, AppName: s.appName, Origin: origin, Link: link.URL, Code: link.Code,
		TTL: s.linkTTL, ExpiresAt: link.ExpiresAt, Locale: req.Locale}
	mailIt := userID != "" || !s.disableSignup
	if err := s.mailLink(ctx, res, data, mailIt); err != nil {
		return err
	}
	if s.log.Enabled(ctx, slog.LevelInfo) {
		s.log.LogAttrs(ctx, slog.LevelInfo, "magiclink: sign-in link issued",
			slog.String("email", mask.Address(email)), slog.String("origin", origin))
	}
	if !mailIt {
		s.log.LogAttrs(ctx, slog.LevelDebug, "magiclink: no mail for an address without a user (signup disabled)")
	}
	return nil
}

// reserveMail holds room for one mail when the Mailer can say in advance
// whether it will accept it; it returns nil, nil when it cannot.
func (s *Service) reserveMail(ctx context.Context) (mailer.Reservation, error) {
	r, ok := s.mailer.(mailer.Reserver)
	if !ok {
		return nil, nil
	}
	return r.Reserve(ctx)
}

// mailLink hands the mail of data to the mailer: into the reservation res
// when there is one, else to the Mailer. A mail the mailer does not accept
// is ErrMailUnavailable. When mailIt is false (signup is disabled and the
// address has no user) nothing is sent, but a synchronous mail is still
// rendered: work done for known addresses only would make unknown ones
// answer measurably faster.
func (s *Service) mailLink(ctx context.Context, res mailer.Reservation, data mailer.LinkData, mailIt bool) error {
	var err error
	switch ls, deferred := s.mailer.(mailer.LinkSender); {
	case res != nil && mailIt:
		// A reserving mailer renders off the request path when it can:
		// rendering is most of a send's CPU time.
		err = res.CommitLink(ctx, s.templates, data)
	case res != nil:
		// Nothing to send; the deferred Cancel gives the room back.
	case deferred && mailIt:
		err = ls.SendLinkMail(ctx, s.templates, data)
	case deferred:
		// Nothing to send, and nothing would have been rendered here.
	default:
		msg, rerr := s.templates.Render(data)
		if rerr != nil {
			return fmt.Errorf("magiclink: rendering the mail: %w", rerr)
		}
		if mailIt {
			err = s.mailer.Send(ctx, msg)
		}
	}
	if err != nil {
		return s.mailRefused(ctx, data.To, err)
	}
	return nil
}

// mailRefused is the ErrMailUnavailable of a mail the mailer did not
// accept, logged with the address masked. Its RetryAfter is the mailer's
// own hint when err carries one (see mailRetryAfter), else the kind's 1 s.
func (s *Service) mailRefused(ctx context.Context, email string, err error) error {
	if s.log.Enabled(ctx, slog.LevelWarn) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "magiclink: mail not accepted",
			slog.String("email", mask.Address(email)), slog.String("error", err.Error()))
	}
	e := newError(kindMailUnavailable, "", "", err)
	if d, ok := mailRetryAfter(err); ok {
		e.RetryAfter = d
	}
	return e
}

// mailRetryAfter is the wait a Mailer or Reserver error suggests before a
// retry: the RetryAfter method of the first error in err's chain that has
// one (a durable outbox's refusal says when its breaker lets the next
// trial through), in whole seconds, rounded up, at least 1, as the wire
// carries it. ok is false when no error in the chain has the method, or
// when the first that has it suggests no wait (0: retry when you like).
func mailRetryAfter(err error) (d time.Duration, ok bool) {
	var h interface{ RetryAfter() time.Duration }
	if !errors.As(err, &h) {
		return 0, false
	}
	d = h.RetryAfter()
	if d <= 0 {
		return 0, false
	}
	return (d + time.Second - 1).Truncate(time.Second), true
}

// LinkRequest asks CreateLink for a link without mailing it.
type LinkRequest struct {
	// Email is the address to sign in.
	Email string
	// Origin is the origin the link points to; it must be allowed.
	Origin string
	// Next is where to land after signing in (see SendRequest.Next).
	Next string
	// TTL is the link's lifetime (default Config.CreateLinkTTL, max 24 h).
	TTL time.Duration
	// OrgID is the organisation of the user.
	OrgID string
	// UserID is the user the link signs in, if the caller knows it; else the
	// user is looked up by address, or created on first use.
	UserID string

	// unresolved skips the lookup: the caller knows the address has no
	// user yet, so the verify resolves it by address.
	unresolved bool
}

// createLink is CreateLink without its telemetry.
func (s *Service) createLink(ctx context.Context, req LinkRequest) (*Link, error) {
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return nil, err
	}
	origin, next, err := s.resolveTarget(req.Origin, req.Next, "origin", "next")
	if err != nil {
		return nil, err
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = s.createLinkTTL
	}
	if ttl < time.Second || ttl > 24*time.Hour {
		return nil, newError(kindValidation, "ttl", "ttl must be between 1s and 24h", nil)
	}
	userID := req.UserID
	if userID == "" && !req.unresolved {
		if userID, err = s.lookupUser(ctx, req.OrgID, email); err != nil {
			return nil, err
		}
	}
	// No code: the one the person was mailed stays the address's code.
	// No locale either: partner and operator links keep the documents'
	// exact format, and the pages fall back to Accept-Language.
	return s.issue(ctx, email, req.OrgID, userID, origin, next, "", ttl, false, nil)
}

// resolveTarget checks the callback origin against the allowlist and makes
// next a safe path on it.
func (s *Service) resolveTarget(rawOrigin, rawNext, originField, nextField string) (origin, next string, err error) {
	if rawOrigin == "" {
		return "", "", newError(kindOriginNotAllowed, originField, "callback origin is required", nil)
	}
	origin, ok := s.origins.Allow(rawOrigin)
	if !ok {
		return "", "", newError(kindOriginNotAllowed, originField, "origin is not on the allowlist", nil)
	}
	next = rawNext
	// A full URL is accepted only on the callback origin itself; only its
	// path, query and fragment are kept.
	if o, isURL := OriginOf(next); isURL {
		if o != origin {
			return "", "", newError(kindUnsafeNext, nextField, "next points to another origin", nil)
		}
		rest := next[len(o):]
		if i := strings.Index(next, "://"); i >= 0 {
			if j := strings.IndexAny(next[i+3:], "/?#"); j >= 0 {
				rest = next[i+3+j:]
			} else {
				rest = ""
			}
		}
		next = rest
	}
	if next, err = SafeNext(next); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return "", "", newError(kindUnsafeNext, nextField, e.Message, nil)
		}
		return "", "", err
	}
	return origin, next, nil
}
