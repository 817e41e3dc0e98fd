// Package leaktest checks that a test leaves no goroutine behind: take
// Goroutines before starting what the test closes, and call Check after.
// Only tests that do not run in parallel may use it (another test's
// goroutines would count).
package leaktest

import (
	"runtime"
	"testing"
	"time"
)

// Goroutines returns the current number of goroutines, the baseline for
// Check.
func Goroutines() int { return runtime.NumGoroutine() }

// Check fails the test when, after everything it started was closed, more
// goroutines remain than at base. Goroutines of closed connections and
// timers need a moment to return, so it polls until a deadline before it
// reports, with every stack for the diagnosis.
func Check(t testing.TB, base int) {
	t.Helper()
	checkWithin(t, base, 10*time.Second)
}

// checkWithin is Check waiting at most within.
func checkWithin(t testing.TB, base int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutine leak: %d goroutines remain, %d at the start\n%s", n, base, buf)
			return
		}
		time.Sleep(20 * time.Millisecond) // polling other goroutines' exit; no event to wait on
	}
}
