// Package bench compares magiclink's components with peer libraries on the
// same workload. It is a separate module so that peers never enter the root
// go.mod. Benchmarks are named Benchmark<Group>/<impl>/<mode>; "ours" is the
// implementation every other impl of the same group and mode is compared
// with by run.sh.
package bench

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/sethvargo/go-limiter/memorystore"
	"golang.org/x/time/rate"
)

// limiterKeys is the size of the key set every limiter is pre-populated with,
// matching BenchmarkMemory in package ratelimit.
const limiterKeys = 100_000

// Every limiter gets the same generous policy — a billion events per hour in
// bursts of a million — so that nearly every call is allowed and the figure
// is the cost of a decision that writes state, not of an early denial.
const (
	benchLimit  = 1_000_000_000
	benchPeriod = time.Hour
	benchBurst  = 1_000_000
)

func makeLimiterKeys() []string {
	keys := make([]string, limiterKeys)
	for i := range keys {
		keys[i] = "ip:198.51." + strconv.Itoa(i/256%256) + "." + strconv.Itoa(i%256) + "/" + strconv.Itoa(i)
	}
	return keys
}

// allowFunc is one limiter decision under test; it reports the decision so
// that a broken setup (everything denied) fails the benchmark.
type allowFunc func(key string) bool

func BenchmarkLimiter(b *testing.B) {
	ctx := context.Background()
	keys := makeLimiterKeys()

	impls := []struct {
		name  string
		setup func(b *testing.B) (allowFunc, func())
	}{
		{"ours", func(b *testing.B) (allowFunc, func()) {
			l := ratelimit.NewMemory()
			r := ratelimit.Rate{Limit: benchLimit, Period: benchPeriod, Burst: benchBurst}
			return func(key string) bool {
				d, err := l.Allow(ctx, key, r)
				return err == nil && d.Allowed
			}, func() { _ = l.Close() }
		}},
		{"golimiter", func(b *testing.B) (allowFunc, func()) {
			// go-limiter refills all Tokens once per Interval, so "1e9 per
			// hour in bursts of 1e6" is 1e6 tokens every 3.6 s: the same
			// average rate and burst.
			s, err := memorystore.New(&memorystore.Config{
				Tokens:       benchBurst,
				Interval:     benchPeriod / (benchLimit / benchBurst),
				InitialAlloc: limiterKeys,
			})
			if err != nil {
				b.Fatal(err)
			}
			return func(key string) bool {
				_, _, _, ok, err := s.Take(ctx, key)
				return err == nil && ok
			}, func() { _ = s.Close(ctx) }
		}},
		{"xtimerate", func(b *testing.B) (allowFunc, func()) {
			// The usual hand-rolled limiter: one x/time/rate.Limiter per key
			// in a map behind a mutex.
			var mu sync.Mutex
			m := make(map[string]*rate.Limiter, limiterKeys)
			every := rate.Every(benchPeriod / benchLimit)
			return func(key string) bool {
				mu.Lock()
				l, ok := m[key]
				if !ok {
					l = rate.NewLimiter(every, benchBurst)
					m[key] = l
				}
				mu.Unlock()
				return l.Allow()
			}, func() {}
		}},
	}

	for _, impl := range impls {
		// Each implementation gets its own populated state, which becomes
		// garbage before the next one starts, so no limiter runs with
		// another's data evicting its cache lines.
		allow, stop := impl.setup(b)
		for _, k := range keys {
			if !allow(k) {
				b.Fatalf("%s: pre-population denied %q", impl.name, k)
			}
		}
		runLimiter(b, impl.name, keys, allow)
		stop()
		runtime.GC()
	}
}

func runLimiter(b *testing.B, name string, keys []string, allow allowFunc) {
	b.Run(name+"/serial", func(b *testing.B) {
		b.ReportAllocs()
		i, denied := 0, 0
		for b.Loop() {
			if !allow(keys[i]) {
				denied++
			}
			if i++; i == len(keys) {
				i = 0
			}
		}
		b.ReportMetric(float64(denied)/float64(b.N), "denied/op")
	})

	b.Run(name+"/parallel", func(b *testing.B) {
		b.ReportAllocs()
		var start atomic.Uint64
		var denied atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			// Goroutines start far apart in the key set, as independent
			// clients would, instead of chasing each other.
			i := int(start.Add(7919) % uint64(len(keys)))
			d := 0
			for pb.Next() {
				if !allow(keys[i]) {
					d++
				}
				if i++; i == len(keys) {
					i = 0
				}
			}
			denied.Add(int64(d))
		})
		b.ReportMetric(float64(denied.Load())/float64(b.N), "denied/op")
	})
}
