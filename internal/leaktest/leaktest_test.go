package leaktest

import (
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that keeps its errors.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, format)
}

// TestCheck is not parallel: it counts goroutines.
func TestCheck(t *testing.T) {
	base := Goroutines()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		<-stop
	}()
	ok := &recorder{TB: t}
	close(stop)
	<-done
	Check(ok, base)
	if len(ok.errs) != 0 {
		t.Fatalf("Check after the goroutine returned: %q, want no error", ok.errs)
	}
}

// TestCheckReportsALeak is not parallel: it counts goroutines.
func TestCheckReportsALeak(t *testing.T) {
	base := Goroutines()
	stop := make(chan struct{})
	defer close(stop)
	go func() { <-stop }()
	leak := &recorder{TB: t}
	checkWithin(leak, base, 100*time.Millisecond)
	if len(leak.errs) != 1 || !strings.Contains(leak.errs[0], "goroutine leak") {
		t.Fatalf("Check with a goroutine left: %q, want one goroutine-leak error", leak.errs)
	}
}
