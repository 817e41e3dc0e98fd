package outbox

import "time"

// The cool-down of the breaker: after the first failed write it refuses
// reservations for coolBase, then lets one trial through; each failed
// trial doubles the wait, up to coolMax. A trial against a store that is
// down costs one request one failed write, so even at the cap a recovered
// store is noticed within seconds.
const (
	coolBase = 250 * time.Millisecond
	coolMax  = 4 * time.Second
)

// breaker remembers whether the store's last write failed, so that
// Reserve can refuse without a round trip of its own. It is fed by the
// outcome of real writes (Send, SendLinkMail and commits) and is closed by
// any successful one. While it is open Reserve refuses until the cool-down
// ends; then one reservation at a time goes through as a trial.
//
// The Outbox's mu guards it.
type breaker struct {
	err   error         // the last failed write's error; nil: closed
	until time.Time     // no trial before this, by the outbox's clock
	cool  time.Duration // the current cool-down
	trial bool          // a trial reservation is outstanding
}

// admit decides a reservation at now: nil when the breaker is closed, or
// when it grants the one trial (trial set); otherwise the refusal, which
// wraps the last write's error and carries the time until the next trial.
func (b *breaker) admit(name string, now time.Time) (trial bool, err error) {
	switch {
	case b.err == nil:
		return false, nil
	case b.trial:
		return false, &refusal{name: name, err: b.err}
	case now.Before(b.until):
		return false, &refusal{name: name, wait: b.until.Sub(now), err: b.err}
	}
	b.trial = true
	return true, nil
}

// failed records a failed write at now; trial tells whether it was the
// trial's. A failed trial doubles the cool-down; another write failing
// while the breaker is already open only updates the error, unless its
// cool-down is over (then it starts again without doubling).
func (b *breaker) failed(err error, trial bool, now time.Time) {
	switch {
	case b.err == nil:
		b.cool = coolBase
		b.until = now.Add(b.cool)
	case trial:
		b.cool = min(2*b.cool, coolMax)
		b.until = now.Add(b.cool)
	case !now.Before(b.until):
		b.until = now.Add(b.cool)
	}
	if trial {
		b.trial = false
	}
	b.err = err
}

// succeeded records a successful write: the store takes writes again.
func (b *breaker) succeeded() { *b = breaker{} }

// abandoned records that the trial reservation ended without a write (it
// was cancelled, or its caller's context ended): the next reservation may
// be the trial.
func (b *breaker) abandoned(trial bool) {
	if trial {
		b.trial = false
	}
}
