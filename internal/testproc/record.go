package testproc

import (
	"fmt"
	"runtime"
	"testing"
)

// recorder is a testing.TB that records Skip and Fatal and stops the
// goroutine that called them, as the real ones do.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Skip(args ...any) { r.skipped = fmt.Sprint(args...); runtime.Goexit() }

func (r *recorder) Fatal(args ...any) { r.failed = fmt.Sprint(args...); runtime.Goexit() }

// Record runs f on a testing.TB of its own and returns what f skipped or
// failed the test with, for the tests of a helper that skips when its
// server is missing (or fails, under its RequireEnv=1).
func Record(t testing.TB, f func(t testing.TB)) (skipped, failed string) {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.skipped, r.failed
}
