package store

import "context"

// TokenPeeker is an optional capability of a Tokens store, discovered by
// type assertion: reading a link without consuming it. The confirm page
// uses it to name the address a link signs in to, so that a person sent
// someone else's link is warned before pressing the button. A store
// without it still works; the page then shows the origin alone.
type TokenPeeker interface {
	// PeekToken returns the token with this hash while its link is unused
	// and unexpired, and changes nothing: not the token, not its code, not
	// its expiry. ErrNotFound when the link is unknown, expired or used.
	PeekToken(ctx context.Context, hash Digest) (*Token, error)
}
