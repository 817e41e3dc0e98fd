// Package gcra holds the parameters of the generic cell rate algorithm that
// every limiter of this module (ratelimit.Memory and the Redis and
// PostgreSQL stores) derives from a rate the same way, so that they decide
// alike and reject the same rates.
package gcra

import (
	"errors"
	"time"
)

// maxWindow bounds Burst × emission interval so that timestamp sums can
// never overflow int64 (about 73 years of nanoseconds).
const maxWindow = int64(1) << 61

// Params returns the emission interval t (period/limit in whole
// nanoseconds, truncated, at least one) and the burst b (at least one) of a
// rate with limit ≠ 0, or an error saying why the rate is invalid.
func Params(limit int, period time.Duration, burst int) (t, b int64, err error) {
	if limit < 0 {
		return 0, 0, errors.New("rate limit must not be negative")
	}
	if period <= 0 {
		return 0, 0, errors.New("rate period must be positive")
	}
	t = max(int64(period)/int64(limit), 1)
	b = max(int64(burst), 1)
	if b > maxWindow/t {
		return 0, 0, errors.New("rate burst × period/limit is too large")
	}
	return t, b, nil
}
