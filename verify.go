package magiclink

import (
	"context"
	"errors"
	"net/netip"
	"strings"

	"github.com/magiclink-go/magiclink/store"
)

// Identity is who signed in, and where to.
type Identity struct {
	// UserID and Email identify the user; OrgID is their organisation.
	UserID string
	Email  string
	OrgID  string
	// Origin is the origin the link was issued for; Next the safe path to
	// land on there. Both are empty for an Identity read from a session.
	Origin string
	Next   string
	// Method is how the user proved control of the address: "link" or
	// "code".
	Method string
	// SessionID is the session the Identity was read from, or "" for one
	// fresh from Verify or VerifyCode.
	SessionID string
	// Claims are what Hooks.OnSignIn added for the session token; nil
	// without that hook and for an Identity read from a session.
	Claims map[string]any
}

// VerifyOption adjusts one Verify or VerifyCode call. It is a plain value
// (not a function) so that passing one costs no allocation.
type VerifyOption struct {
	ip            netip.Addr
	pendingCookie string
}

// WithClientIP applies the per-IP verify limit to ip.
func WithClientIP(ip netip.Addr) VerifyOption { return VerifyOption{ip: ip} }

// WithPendingCookie passes the browser's pending cookie (see
// SendLinkPending), which Verify requires under Config.RequireSameDevice.
func WithPendingCookie(cookie string) VerifyOption { return VerifyOption{pendingCookie: cookie} }

// verify is Verify without its telemetry.
func (s *Service) verify(ctx context.Context, token string, opts []VerifyOption) (Identity, error) {
	if err := s.limitVerify(ctx, opts, ""); err != nil {
		return Identity{}, err
	}
	digest, ok := parseSecret(token)
	if !ok {
		return Identity{}, newError(kindInvalidToken, "", "", nil)
	}
	// One clock reading judges the link, in the store and here.
	now := s.now()
	t, err := s.consumeLink(ctx, digest, opts, now)
	if err != nil {
		return Identity{}, s.pendingError(err)
	}
	if !digestEqual(t.Hash, digest) || !now.Before(t.ExpiresAt) {
		return Identity{}, newError(kindInvalidToken, "", "", nil)
	}
	return s.identity(ctx, t, "link")
}

// verifyCode is VerifyCode without its telemetry.
func (s *Service) verifyCode(ctx context.Context, email, code string, opts []VerifyOption) (Identity, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return Identity{}, err
	}
	// Mails show the code spaced for reading ("123 456"); accept it as
	// typed or pasted.
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, code)
	if !validCode(code) {
		return Identity{}, newError(kindInvalidCode, "code", "code must be 6 digits", nil)
	}
	// Only a try that reaches the store is a guess, and it is counted
	// before it is made: per IP and per mailbox across all its codes.
	if err := s.limitVerify(ctx, opts, email); err != nil {
		return Identity{}, err
	}
	t, err := s.store.ConsumeCode(ctx, email, codeMAC(&s.codeKey, email, code), MaxCodeTries)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrCodeMismatch) {
			return Identity{}, newError(kindInvalidCode, "", "", nil)
		}
		return Identity{}, s.storeError(err)
	}
	if !s.now().Before(t.ExpiresAt) {
		return Identity{}, newError(kindInvalidCode, "", "", nil)
	}
	return s.identity(ctx, t, "code")
}

// identity resolves the user of a consumed token, creating it on first
// sign-in unless signup is disabled, and runs Hooks.OnSignIn.
func (s *Service) identity(ctx context.Context, t *store.Token, method string) (Identity, error) {
	id := Identity{UserID: t.UserID, Email: t.Email, OrgID: t.OrgID, Origin: t.Origin, Next: t.Next, Method: method}
	if id.UserID == "" {
		userID, err := s.resolveUser(ctx, t)
		if err != nil {
			return Identity{}, err
		}
		if userID == "" {
			return Identity{}, newError(kindInvalidToken, "", "", nil)
		}
		id.UserID = userID
	}
	return s.signIn(ctx, id)
}
