package testredis

import (
	"fmt"
	"runtime"
	"strings"
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

func lookPathOf(t *testing.T, name string) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		lookPath(r, name)
	}()
	<-done
	return r
}

func TestMissingBinary(t *testing.T) {
	t.Setenv(RequireEnv, "")
	r := lookPathOf(t, "redis-server-missing-for-this-test")
	if !strings.Contains(r.skipped, "not found on PATH") || !strings.Contains(r.skipped, RequireEnv+"=1") || r.failed != "" {
		t.Fatalf("without %s a missing binary must skip with a hint; skipped %q, failed %q", RequireEnv, r.skipped, r.failed)
	}

	t.Setenv(RequireEnv, "1")
	r = lookPathOf(t, "redis-server-missing-for-this-test")
	if !strings.Contains(r.failed, "not found on PATH") || r.skipped != "" {
		t.Fatalf("with %s=1 a missing binary must fail; skipped %q, failed %q", RequireEnv, r.skipped, r.failed)
	}
}
