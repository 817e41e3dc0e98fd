package ratelimit

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestMemoryAllowBatchOppositeOrders: batches naming the same keys in
// opposite orders, from many goroutines, neither deadlock (shards are
// locked in index order) nor miscount.
func TestMemoryAllowBatchOppositeOrders(t *testing.T) {
	t.Parallel()
	l, _ := newTestLimiter(t, WithShards(64))
	r := Rate{Limit: 100, Period: time.Hour, Burst: 100}
	keys := []string{"x", "y", "z"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	charged := map[string]int{}
	for g := range 200 {
		wg.Go(func() {
			reqs := []Request{{Key: keys[g%3], Rate: r}, {Key: keys[(g+1)%3], Rate: r}}
			if g%2 == 1 {
				reqs[0], reqs[1] = reqs[1], reqs[0]
			}
			ds, err := l.AllowBatch(context.Background(), reqs)
			if err != nil {
				t.Error(err)
				return
			}
			if ds[0].Allowed != ds[1].Allowed {
				t.Errorf("a batch half allowed: %+v", ds)
			}
			if ds[0].Allowed {
				mu.Lock()
				charged[reqs[0].Key]++
				charged[reqs[1].Key]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// Every key holds exactly what the allowed batches charged it: a
	// refused batch charged nothing.
	for _, k := range keys {
		if charged[k] > 100 {
			t.Fatalf("key %s charged %d times under a burst of 100", k, charged[k])
		}
		left := 0
		for ; left <= 100; left++ {
			if d, _ := l.Allow(context.Background(), k, r); !d.Allowed {
				break
			}
		}
		if left != 100-charged[k] {
			t.Fatalf("key %s: %d left after %d charges, want %d", k, left, charged[k], 100-charged[k])
		}
	}
}
