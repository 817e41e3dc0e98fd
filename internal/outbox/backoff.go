package outbox

import (
	"math/rand/v2"
	"time"
)

// FullJitter returns the backoff schedule "full jitter": after the n-th
// failed attempt, a uniformly random wait in [0, min(max, base·2^(n-1))].
func FullJitter(base, max time.Duration) func(attempt int) time.Duration {
	return func(attempt int) time.Duration {
		limit := base
		for i := 1; i < attempt && limit < max; i++ {
			limit *= 2
		}
		limit = min(limit, max)
		return time.Duration(rand.Int64N(int64(limit) + 1))
	}
}
