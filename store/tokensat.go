package store

import (
	"context"
	"time"
)

// TokensAt is an optional capability of a Tokens store, discovered by type
// assertion: PutToken and ConsumeToken judged at a time the caller has just
// read from the real clock (time.Now), instead of the store reading it
// again. A sign-in step then reads the clock once, for the token and for the
// store, which matters on hosts where a clock read is not cheap. A store
// that judges time by a clock of its own (Memory built WithClock, a
// database server's clock) ignores now and reads that clock, so a caller
// may always pass it; the magiclink Service passes it only when its own
// clock is the real one.
type TokensAt interface {
	// PutTokenAt is PutToken with now as the current time.
	PutTokenAt(ctx context.Context, t *Token, now time.Time) error
	// ConsumeTokenAt is ConsumeToken with now as the current time.
	ConsumeTokenAt(ctx context.Context, hash Digest, now time.Time) (*Token, error)
}
