package magiclink

import (
	"context"
	"time"
)

// Rate is a rate-limit policy: Limit events per Period on average, in bursts
// of at most Burst. A zero Rate (Limit == 0) disables the limit.
type Rate struct {
	Limit  int
	Period time.Duration
	Burst  int
}

// Decision is the outcome of one rate-limit check.
type Decision struct {
	// Allowed reports whether the event may proceed.
	Allowed bool
	// Remaining is how many more events would be allowed right now.
	Remaining int
	// RetryAfter is how long to wait before the next event would be allowed;
	// zero when Allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the key is back to its full burst.
	ResetAfter time.Duration
}

// Limiter decides whether one event under key is allowed by rate r. An
// implementation must be safe for concurrent use; a decision must be atomic,
// so that N concurrent calls on one key with Burst B allow exactly B when the
// key is fresh. Keys are opaque; the Service namespaces them.
type Limiter interface {
	Allow(ctx context.Context, key string, r Rate) (Decision, error)
}
