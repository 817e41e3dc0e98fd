package outagetest_test

import (
	"testing"

	"github.com/magiclink-go/magiclink/internal/outagetest"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

// memoryStore is the in-memory store with the in-memory limiter.
type memoryStore struct {
	*store.Memory
	ratelimit.Limiter
}

// TestCallsServeOnALiveStore checks that each call, the expected
// not-founds included, succeeds on a store that is up, twice in a row.
func TestCallsServeOnALiveStore(t *testing.T) {
	s := store.NewMemory()
	t.Cleanup(func() { _ = s.Close() })
	l := ratelimit.NewMemory()
	t.Cleanup(func() { _ = l.Close() })
	calls := outagetest.Calls(memoryStore{Memory: s, Limiter: l})
	if len(calls) != 6 {
		t.Fatalf("%d calls, want one of each of the 6 kinds", len(calls))
	}
	outagetest.MustServe(t, calls, "on a live store")
	outagetest.MustServe(t, calls, "again on a live store")
}
