package magiclink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	"github.com/magiclink-go/magiclink/store"
)

// Hooks are the application's say in sign-ins. Every field is optional.
// A hook runs on the request's goroutine, with its context; a hook that
// panics is treated as one that returned an error, and the panic is
// logged, never passed on.
type Hooks struct {
	// BeforeSend runs for every SendLink and SendLinkPending that passed
	// validation and the rate limits, before a link is made. An error
	// refuses the send quietly: SendLink returns nil as for any other
	// address (the HTTP answer stays 200 {"ok":true}), no link or code is
	// stored, no mail goes out, the address's earlier code stays valid,
	// and an info line without the address is logged. SendLinkPending
	// still returns a ticket: its pending request is a decoy, stored in
	// the same write as a real one, that the asking browser's poll cannot
	// tell from a real request nobody acts on (it waits, then expires) and
	// that nothing can approve. The limits were spent, as for a send that
	// went out, so a refusal cannot be told from a send by probing them. A
	// refused SendLink skips one store write, which a client may be able
	// to time; a hook that refuses by a secret rule should not rely on
	// that being invisible. CreateLink does not call it.
	BeforeSend func(ctx context.Context, info SendInfo) error

	// OnUserCreated runs after a first sign-in created a user (not for
	// users created through the partner API). The user exists by then
	// whatever the hook does: an error or panic is logged and the sign-in
	// goes on, and the hook is not called again for that user. Work that
	// must happen exactly once with the user's creation belongs in
	// Config.Users, in the application's own transaction.
	OnUserCreated func(ctx context.Context, user store.User) error

	// OnSignIn runs after a link or code was accepted and its user
	// resolved, before Verify or VerifyCode returns. It may refuse the
	// sign-in by returning an error that matches ErrSignInDenied (403
	// SIGNIN_DENIED over HTTP); any other error fails the sign-in as an
	// internal error naming the hook (500). Either way no session is
	// started, and the link or code stays used up: consuming it was the
	// atomic step that proved the address, and it cannot be undone
	// without letting a second use race the first.
	//
	// The claims it returns are added to the session token (the access
	// JWT) of this sign-in, beside the ones magiclink sets. They must
	// encode as JSON and must not use a name magiclink sets itself (iss,
	// sub, aud, exp, nbf, iat, jti, sid, amr, email, org); one that does
	// fails the sign-in as a hook error, so a mistake shows at once
	// instead of as a token that says something else than intended.
	OnSignIn func(ctx context.Context, id Identity) (claims map[string]any, err error)
}

// SendInfo is what Hooks.BeforeSend learns of a send. It holds no secret:
// the link does not exist yet.
type SendInfo struct {
	// Email is the normalized address the link would go to.
	Email string
	// OrgID is the organisation ("" for the default).
	OrgID string
	// Origin is the canonical callback origin; Next the safe path.
	Origin string
	Next   string
	// Locale is the requested mail language, as given.
	Locale string
	// ClientIP is the requester's address (the zero value when unknown).
	ClientIP netip.Addr
}

// reservedClaim reports whether magiclink sets the session-token claim
// name itself.
func reservedClaim(name string) bool {
	switch name {
	case "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "amr", "email", "org":
		return true
	}
	return false
}

// hookPanic is the error a panicking hook stands for.
type hookPanic struct {
	hook  string
	value any
}

func (p *hookPanic) Error() string { return fmt.Sprintf("Hooks.%s panicked: %v", p.hook, p.value) }

// runHook calls f, turning a panic into an error.
func runHook(hook string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &hookPanic{hook: hook, value: r}
		}
	}()
	return f()
}

// beforeSend runs Hooks.BeforeSend and reports whether the send may go on.
func (s *Service) beforeSend(ctx context.Context, info SendInfo) bool {
	if s.hooks.BeforeSend == nil {
		return true
	}
	err := runHook("BeforeSend", func() error { return s.hooks.BeforeSend(ctx, info) })
	if err == nil {
		return true
	}
	var p *hookPanic
	if errors.As(err, &p) {
		s.log.ErrorContext(ctx, "magiclink: "+p.Error()+"; the send is refused")
	} else {
		// The hook's message may name the address, so it is not logged.
		s.log.InfoContext(ctx, "magiclink: send refused by Hooks.BeforeSend; no link issued", "origin", info.Origin)
	}
	return false
}

// userCreated runs Hooks.OnUserCreated for u, which a first sign-in made.
func (s *Service) userCreated(ctx context.Context, u *store.User) {
	if s.hooks.OnUserCreated == nil {
		return
	}
	if err := runHook("OnUserCreated", func() error { return s.hooks.OnUserCreated(ctx, *u) }); err != nil {
		s.log.ErrorContext(ctx, "magiclink: Hooks.OnUserCreated failed; the user exists and the sign-in goes on",
			"user_id", u.ID, "error", err.Error())
	}
}

// signIn runs Hooks.OnSignIn for id and returns id with its claims.
func (s *Service) signIn(ctx context.Context, id Identity) (Identity, error) {
	if s.hooks.OnSignIn == nil {
		return id, nil
	}
	var claims map[string]any
	err := runHook("OnSignIn", func() (err error) {
		claims, err = s.hooks.OnSignIn(ctx, id)
		return err
	})
	if err == nil {
		err = checkClaims(claims)
	}
	var p *hookPanic
	switch {
	case err == nil:
	case errors.As(err, &p):
		return Identity{}, fmt.Errorf("magiclink: %w; sign-in failed, link used up", err)
	case errors.Is(err, ErrSignInDenied):
		s.log.InfoContext(ctx, "magiclink: sign-in denied by Hooks.OnSignIn", "user_id", id.UserID)
		return Identity{}, newError(kindSignInDenied, "", "", err)
	default:
		return Identity{}, fmt.Errorf("magiclink: Hooks.OnSignIn: %w; sign-in failed, link used up", err)
	}
	if len(claims) > 0 {
		id.Claims = claims
	}
	return id, nil
}

// checkClaims checks the claims OnSignIn returned.
func checkClaims(claims map[string]any) error {
	if len(claims) == 0 {
		return nil
	}
	for name := range claims {
		if reservedClaim(name) {
			return fmt.Errorf("claim %q is set by magiclink and cannot be replaced", name)
		}
	}
	if _, err := json.Marshal(claims); err != nil {
		return fmt.Errorf("claims do not encode as JSON: %w", err)
	}
	return nil
}
