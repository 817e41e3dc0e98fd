package conc_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/magiclink-go/magiclink/internal/conc"
)

// TestRunCallsEachIndexOnce checks that Run calls f once for each i in
// [0,n) and returns only after all of them.
func TestRunCallsEachIndexOnce(t *testing.T) {
	const n = 100
	var calls [n]atomic.Int32
	conc.Run(n, func(i int) { calls[i].Add(1) })
	for i := range calls {
		if got := calls[i].Load(); got != 1 {
			t.Errorf("f(%d) ran %d times, want once", i, got)
		}
	}
}

// TestRunIsConcurrent has every f wait until all n have started: Run
// returns only if the n calls run at the same time (a serial Run would
// block forever and the test time out).
func TestRunIsConcurrent(t *testing.T) {
	const n = 50
	var all sync.WaitGroup
	all.Add(n)
	conc.Run(n, func(int) {
		all.Done()
		all.Wait()
	})
}

// TestRunZero checks that Run with n = 0 calls nothing and returns.
func TestRunZero(t *testing.T) {
	conc.Run(0, func(i int) { t.Errorf("f(%d) called for n = 0", i) })
}
