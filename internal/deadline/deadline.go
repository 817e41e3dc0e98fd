// Package deadline holds the stores' per-call timeout rule: a call whose
// context has no deadline gets the store's own, and a zero timeout leaves
// every call to the client's timeouts.
package deadline

import (
	"context"
	"time"
)

// Default returns ctx bounded by d from now when ctx has no deadline of its
// own and d is positive; otherwise ctx itself, with a cancel that does
// nothing. A caller's deadline, even a later one, is kept.
func Default(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return ctx, func() {}
	}
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}
