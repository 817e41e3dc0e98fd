package outbox

import "time"

// refusal is Reserve's error while the breaker is open. It wraps the last
// failed write's error, so errors.Is matches whatever that write matched
// (store.ErrUnavailable for a store that is down), and says through
// RetryAfter when the breaker lets its next trial through, which
// magiclink.Service passes on to the client as Retry-After.
type refusal struct {
	name string
	// wait is the time until the next trial; 0 while a trial is under
	// way, whose outcome decides (a success lets everything through at
	// once, a failure doubles the cool-down).
	wait time.Duration
	err  error
}

// Error implements error.
func (r *refusal) Error() string {
	if r.wait <= 0 {
		return r.name + ": mail not accepted: the store's last write failed, a trial write is under way: " + r.err.Error()
	}
	ms := r.wait.Round(time.Millisecond)
	return r.name + ": mail not accepted: the store's last write failed, next trial in " + ms.String() + ": " + r.err.Error()
}

// Unwrap returns the failed write's error.
func (r *refusal) Unwrap() error { return r.err }

// RetryAfter is the time until the breaker's next trial, 0 while a trial
// is under way.
func (r *refusal) RetryAfter() time.Duration { return r.wait }
