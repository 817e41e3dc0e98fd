package ratelimit

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// benchKeys is the key population shared by the limiter benchmarks; the
// bench module uses the same shape so the figures compare.
const benchKeys = 100_000

func makeBenchKeys() []string {
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = "ip:198.51." + strconv.Itoa(i/256%256) + "." + strconv.Itoa(i%256) + "/" + strconv.Itoa(i)
	}
	return keys
}

// BenchmarkMemory measures one decision on an existing key among 100k
// keys. The rate is generous so that nearly every call is allowed and
// written: the cost measured is the decision, not an early denial.
func BenchmarkMemory(b *testing.B) {
	ctx := context.Background()
	rate := Rate{Limit: 1_000_000_000, Period: time.Hour, Burst: 1_000_000}
	keys := makeBenchKeys()
	l := NewMemory()
	b.Cleanup(func() { _ = l.Close() })
	for _, k := range keys {
		if _, err := l.Allow(ctx, k, rate); err != nil {
			b.Fatal(err)
		}
	}

	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := l.Allow(ctx, keys[i], rate); err != nil {
				b.Fatal(err)
			}
			if i++; i == len(keys) {
				i = 0
			}
		}
	})

	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var next atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			// Each goroutine walks the key set from its own offset so that
			// goroutines spread over shards rather than chase each other.
			i := int(next.Add(7919) % benchKeys)
			for pb.Next() {
				if _, err := l.Allow(ctx, keys[i], rate); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(keys) {
					i = 0
				}
			}
		})
	})

	// A send's two limits: one all-or-nothing batch against two Allows.
	b.Run("batch2", func(b *testing.B) {
		b.ReportAllocs()
		reqs := make([]Request, 2)
		i := 0
		for b.Loop() {
			reqs[0] = Request{Key: keys[i], Rate: rate}
			reqs[1] = Request{Key: keys[(i+benchKeys/2)%benchKeys], Rate: rate}
			if _, err := l.AllowBatch(ctx, reqs); err != nil {
				b.Fatal(err)
			}
			if i++; i == len(keys) {
				i = 0
			}
		}
	})
	b.Run("allow2", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			for _, k := range []string{keys[i], keys[(i+benchKeys/2)%benchKeys]} {
				if _, err := l.Allow(ctx, k, rate); err != nil {
					b.Fatal(err)
				}
			}
			if i++; i == len(keys) {
				i = 0
			}
		}
	})
}
