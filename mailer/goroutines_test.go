package mailer

import (
	"runtime"
	"testing"
	"time"
)

// goroutines returns the current number of goroutines, the baseline for
// checkGoroutines. Only tests that do not run in parallel may use it.
func goroutines() int { return runtime.NumGoroutine() }

// checkGoroutines fails the test when, after everything it started was
// closed, more goroutines remain than at base. Goroutines of closed
// connections need a moment to return, so it polls until a deadline before
// it reports, with every stack for the diagnosis.
func checkGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
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
		time.Sleep(20 * time.Millisecond)
	}
}
