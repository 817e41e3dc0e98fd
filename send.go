package magiclink

import (
	"context"
	"errors"
	"fmt"
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
	// Locale selects the mail's language, such as "de" or "tr-TR".
	Locale string
	// ClientIP is the requester's address, for the per-IP limit. The zero
	// value skips that limit (for calls from trusted back ends).
	ClientIP netip.Addr
	// OrgID is the organisation of the user ("" for the default).
	OrgID string
}

// sendLink is SendLink without its telemetry.
func (s *Service) sendLink(ctx context.Context, req SendRequest) error {
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
	if err := s.limitSend(ctx, req.ClientIP, email); err != nil {
		return err
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
	link, err := s.issue(ctx, email, req.OrgID, userID, origin, next, s.linkTTL)
	if err != nil {
		return err
	}
	data := mailer.LinkData{To: email, AppName: s.appName, Origin: origin, Link: link.URL, Code: link.Code,
		TTL: s.linkTTL, ExpiresAt: link.ExpiresAt, Locale: req.Locale}
	// A mailer.Dispatcher renders in its worker, off the request path;
	// rendering is most of a send's CPU time.
	deferred, async := s.mailer.(mailer.LinkSender)
	var msg *mailer.Message
	if !async {
		if msg, err = s.templates.Render(data); err != nil {
			return fmt.Errorf("magiclink: rendering the mail: %w", err)
		}
	}
	// Both paths log the same record, and the mail was rendered (when
	// rendering is synchronous) even when it is not sent: any work done for
	// known addresses only would make unknown ones answer measurably faster.
	s.log.InfoContext(ctx, "magiclink: sign-in link issued", "email", mask.Address(email), "origin", origin)
	if userID == "" && s.disableSignup {
		s.log.DebugContext(ctx, "magiclink: no mail for an address without a user (signup disabled)", "email", mask.Address(email))
		return nil
	}
	if async {
		err = deferred.SendLinkMail(ctx, s.templates, data)
	} else {
		err = s.mailer.Send(ctx, msg)
	}
	if err != nil {
		s.log.WarnContext(ctx, "magiclink: mail not accepted", "email", mask.Address(email), "error", err.Error())
		return newError(kindMailUnavailable, "", "", err)
	}
	s.log.DebugContext(ctx, "magiclink: sign-in mail accepted", "email", mask.Address(email))
	return nil
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
	if userID == "" {
		if userID, err = s.lookupUser(ctx, req.OrgID, email); err != nil {
			return nil, err
		}
	}
	return s.issue(ctx, email, req.OrgID, userID, origin, next, ttl)
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
