// Package ratelimit decides whether an event may happen under a rate:
// Rate is the policy, Limiter the contract (one key per decision) and
// BatchLimiter the optional capability of deciding several keys at once,
// all or nothing.
// Memory is an in-process Limiter implementing GCRA; store/redisstore and
// store/pgstore implement the same contract on a shared server, so that
// limits hold across instances.
package ratelimit

import (
	"context"
	"errors"
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
// key is fresh. Keys are opaque; callers namespace them. A rate with
// Limit 0 is disabled (always allowed); an invalid rate is an error
// matching ErrInvalidRate.
type Limiter interface {
	Allow(ctx context.Context, key string, r Rate) (Decision, error)
}

// Request is one key and its rate in a batch decision.
type Request struct {
	Key  string
	Rate Rate
}

// BatchLimiter is an optional capability of a Limiter: deciding several
// keys at once, all or nothing, in one round trip.
//
// AllowBatch allows the batch only when every request in it is allowed;
// then each key is charged and each Decision is the one Allow would have
// returned had the requests come one after the other (a key listed twice is
// charged twice). When any request is refused, no key is charged: every
// Decision has Allowed false; the requests that would have been refused on
// their own carry their RetryAfter (> 0), the others RetryAfter 0. A
// request whose Rate has Limit 0 never refuses. The decision is atomic:
// concurrent batches and Allow calls on the same keys see it whole, so a
// request one key refuses never spends another key's budget.
// magiclink.Service uses it for the limits of one request (per IP and per
// address) whenever its limiter has it; ratelimit/ratelimittest pins the
// contract.
type BatchLimiter interface {
	Limiter
	AllowBatch(ctx context.Context, reqs []Request) ([]Decision, error)
}

// ErrInvalidRate is matched (errors.Is) by the error of a decision under an
// invalid rate: Limit < 0, Period ≤ 0 with Limit > 0, or Burst × Period/Limit
// beyond about 73 years.
var ErrInvalidRate = errors.New("ratelimit: invalid rate")
