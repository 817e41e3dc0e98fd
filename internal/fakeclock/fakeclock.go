// Package fakeclock is the one manual clock of this module's tests: it moves
// only when a test advances it, so no test sleeps to let time pass.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a manual clock, safe for concurrent use. Pass its Now method
// wherever a clock function is configured.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Start is the instant New(time.Time{}) starts at: a fixed, unremarkable
// date, so that test output does not depend on when the test runs.
var Start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// New returns a clock stopped at start, or at Start when start is zero.
func New(start time.Time) *Clock {
	if start.IsZero() {
		start = Start
	}
	return &Clock{now: start}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}
