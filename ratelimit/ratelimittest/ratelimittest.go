// Package ratelimittest is the conformance suite every ratelimit.Limiter of
// this module passes (ratelimit.Memory, the Redis and PostgreSQL stores):
//
//	ratelimittest.Run(t, func(t *testing.T) ratelimit.Limiter { return newLimiter(t) })
//
// The suite uses rates of a few events per hour, so that the limiter's own
// clock (real time on a server) refills nothing measurable while it runs.
// A limiter that is also a ratelimit.BatchLimiter is held to the
// all-or-nothing rule of AllowBatch as well.
package ratelimittest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/conc"
	"github.com/magiclink-go/magiclink/ratelimit"
)

// NewLimiter returns a limiter with no keys in use, for one subtest.
type NewLimiter func(t *testing.T) ratelimit.Limiter

// Option adjusts what Run requires.
type Option func(*config)

type config struct{ contended bool }

// BatchMayRefuseUnderContention is for a limiter whose batch charges keys
// tentatively and takes a refused batch's charges back in a second step
// (redisstore on a Cluster, whose keys live in several slots): a batch
// running between the two steps may be refused by a charge about to be
// undone. Under concurrency such a limiter must still never allow more
// than the burst, and a refused batch must still leave no charge behind,
// but it may allow fewer.
func BatchMayRefuseUnderContention() Option { return func(c *config) { c.contended = true } }

// Run runs the suite; each subtest gets its own limiter from newLimiter.
func Run(t *testing.T, newLimiter NewLimiter, opts ...Option) {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	tests := []struct {
		name  string
		batch bool
		fn    func(*testing.T, ratelimit.Limiter, config)
	}{
		{"AllowExactUnderConcurrency", false, testAllowExact},
		{"DisabledRate", false, testDisabled},
		{"InvalidRate", false, testInvalidRate},
		{"BatchAllowedChargesEveryKey", true, testBatchAllowed},
		{"BatchRefusedChargesNoKey", true, testBatchRefused},
		{"BatchLockOut", true, testBatchLockOut},
		{"BatchExactUnderConcurrency", true, testBatchConcurrent},
		{"BatchSameKeyTwice", true, testBatchDuplicate},
		{"BatchEdgeCases", true, testBatchEdges},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(t)
			if _, ok := l.(ratelimit.BatchLimiter); tc.batch && !ok {
				t.Skip("the limiter is not a ratelimit.BatchLimiter")
			}
			tc.fn(t, l, cfg)
		})
	}
}

var perHour = func(n int) ratelimit.Rate { return ratelimit.Rate{Limit: n, Period: time.Hour, Burst: n} }

func allow(t *testing.T, l ratelimit.Limiter, key string, r ratelimit.Rate) ratelimit.Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), key, r)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	return d
}

func batch(t *testing.T, l ratelimit.Limiter, reqs ...ratelimit.Request) []ratelimit.Decision {
	t.Helper()
	ds, err := l.(ratelimit.BatchLimiter).AllowBatch(context.Background(), reqs)
	if err != nil {
		t.Fatalf("AllowBatch: %v", err)
	}
	if len(ds) != len(reqs) {
		t.Fatalf("AllowBatch returned %d decisions for %d requests", len(ds), len(reqs))
	}
	return ds
}

// left spends key until it is refused and returns how many were allowed
// (at most max+1 tries).
func left(t *testing.T, l ratelimit.Limiter, key string, r ratelimit.Rate, max int) int {
	t.Helper()
	n := 0
	for n <= max && allow(t, l, key, r).Allowed {
		n++
	}
	return n
}

func testAllowExact(t *testing.T, l ratelimit.Limiter, _ config) {
	var n atomic.Int32
	conc.Run(200, func(int) {
		d, err := l.Allow(context.Background(), "k", perHour(5))
		if err != nil {
			t.Error(err)
		}
		if d.Allowed {
			n.Add(1)
		}
	})
	if n.Load() != 5 {
		t.Fatalf("200 concurrent calls under burst 5 allowed %d", n.Load())
	}
	d := allow(t, l, "k", perHour(5))
	if d.Allowed || d.RetryAfter <= 11*time.Minute || d.RetryAfter > 12*time.Minute {
		t.Fatalf("after the burst: %+v, want a refusal with RetryAfter ≈ 12m", d)
	}
}

func testDisabled(t *testing.T, l ratelimit.Limiter, _ config) {
	for range 3 {
		if d := allow(t, l, "off", ratelimit.Rate{}); !d.Allowed || d.Remaining != math.MaxInt {
			t.Fatalf("Limit 0: %+v, want allowed with Remaining MaxInt", d)
		}
	}
}

func testInvalidRate(t *testing.T, l ratelimit.Limiter, _ config) {
	for _, r := range []ratelimit.Rate{{Limit: -1}, {Limit: 1}, {Limit: 1, Period: time.Hour, Burst: math.MaxInt}} {
		if _, err := l.Allow(context.Background(), "bad", r); !errors.Is(err, ratelimit.ErrInvalidRate) {
			t.Errorf("Allow under %+v: %v, want ErrInvalidRate", r, err)
		}
	}
}

func testBatchAllowed(t *testing.T, l ratelimit.Limiter, _ config) {
	ds := batch(t, l, ratelimit.Request{Key: "ip", Rate: perHour(3)}, ratelimit.Request{Key: "email", Rate: perHour(2)})
	if !ds[0].Allowed || ds[0].Remaining != 2 || !ds[1].Allowed || ds[1].Remaining != 1 {
		t.Fatalf("a fresh batch: %+v, want both allowed with Remaining 2 and 1", ds)
	}
	if n := left(t, l, "ip", perHour(3), 3); n != 2 {
		t.Fatalf("ip: %d left after an allowed batch, want 2", n)
	}
	if n := left(t, l, "email", perHour(2), 2); n != 1 {
		t.Fatalf("email: %d left after an allowed batch, want 1", n)
	}
}

func testBatchRefused(t *testing.T, l ratelimit.Limiter, _ config) {
	if !allow(t, l, "spent", perHour(1)).Allowed {
		t.Fatal("a fresh key was refused")
	}
	ds := batch(t, l, ratelimit.Request{Key: "spent", Rate: perHour(1)}, ratelimit.Request{Key: "fresh", Rate: perHour(2)},
		ratelimit.Request{Key: "off", Rate: ratelimit.Rate{}})
	for i, d := range ds {
		if d.Allowed {
			t.Fatalf("decision %d of a refused batch is Allowed: %+v", i, ds)
		}
	}
	if ds[0].RetryAfter <= 59*time.Minute || ds[1].RetryAfter != 0 || ds[2].RetryAfter != 0 {
		t.Fatalf("refused batch: %+v, want RetryAfter ≈ 1h on the spent key only", ds)
	}
	if n := left(t, l, "fresh", perHour(2), 2); n != 2 {
		t.Fatalf("the key a refused batch did not refuse has %d left, want its whole burst 2", n)
	}
}

// testBatchLockOut is finding 16.1: one address refuses a flood of batches
// on the IP key; 200 victims' keys are untouched.
func testBatchLockOut(t *testing.T, l ratelimit.Limiter, _ config) {
	ipRate, emailRate := perHour(10), perHour(2)
	allowed := 0
	for i := range 200 {
		ds := batch(t, l, ratelimit.Request{Key: "ip", Rate: ipRate}, ratelimit.Request{Key: fmt.Sprint("victim", i), Rate: emailRate})
		if ds[0].Allowed {
			allowed++
		}
	}
	if allowed != 10 {
		t.Fatalf("%d of 200 batches allowed under an IP burst of 10", allowed)
	}
	for i := range 200 {
		want := 2
		if i < 10 {
			want = 1
		}
		if n := left(t, l, fmt.Sprint("victim", i), emailRate, 2); n != want {
			t.Fatalf("victim %d has %d left, want %d", i, n, want)
		}
	}
}

// testBatchConcurrent: 200 concurrent batches on one shared key, half of
// them also naming a spent key: exactly the burst is allowed (at most, with
// BatchMayRefuseUnderContention), all from the other half, and only the
// allowed batches charged their own keys.
func testBatchConcurrent(t *testing.T, l ratelimit.Limiter, cfg config) {
	if !allow(t, l, "dead", perHour(1)).Allowed {
		t.Fatal("a fresh key was refused")
	}
	var ok atomic.Int32
	var wins [200]bool
	conc.Run(200, func(i int) {
		reqs := []ratelimit.Request{{Key: "shared", Rate: perHour(5)}, {Key: fmt.Sprint("own", i), Rate: perHour(1)}}
		if i%2 == 1 {
			reqs = append(reqs, ratelimit.Request{Key: "dead", Rate: perHour(1)})
		}
		ds, err := l.(ratelimit.BatchLimiter).AllowBatch(context.Background(), reqs)
		if err != nil {
			t.Error(err)
			return
		}
		if ds[0].Allowed {
			ok.Add(1)
			wins[i] = true
		}
	})
	if n := ok.Load(); n > 5 || n < 1 || (n != 5 && !cfg.contended) {
		t.Fatalf("%d of 200 concurrent batches allowed under burst 5", n)
	}
	for i, won := range wins {
		if won && i%2 == 1 {
			t.Fatalf("batch %d named a spent key and was allowed", i)
		}
		if got := allow(t, l, fmt.Sprint("own", i), perHour(1)).Allowed; got == won {
			t.Fatalf("batch %d allowed %v, yet its own key is fresh=%v", i, won, got)
		}
	}
}

func testBatchDuplicate(t *testing.T, l ratelimit.Limiter, _ config) {
	k := ratelimit.Request{Key: "twice", Rate: perHour(2)}
	ds := batch(t, l, k, k)
	if !ds[0].Allowed || !ds[1].Allowed || ds[0].Remaining != 1 || ds[1].Remaining != 0 {
		t.Fatalf("a key twice under burst 2: %+v, want allowed with Remaining 1 then 0", ds)
	}
	if allow(t, l, "twice", perHour(2)).Allowed {
		t.Fatal("the key was charged once, not twice")
	}
	one := ratelimit.Request{Key: "once", Rate: perHour(1)}
	if ds := batch(t, l, one, one); ds[0].Allowed || ds[1].Allowed {
		t.Fatalf("a key twice under burst 1: %+v, want refused", ds)
	}
	if !allow(t, l, "once", perHour(1)).Allowed {
		t.Fatal("a refused batch charged its key")
	}
}

func testBatchEdges(t *testing.T, l ratelimit.Limiter, _ config) {
	if ds := batch(t, l); len(ds) != 0 {
		t.Fatalf("empty batch: %+v", ds)
	}
	ds := batch(t, l, ratelimit.Request{Key: "off", Rate: ratelimit.Rate{}})
	if !ds[0].Allowed || ds[0].Remaining != math.MaxInt {
		t.Fatalf("a disabled rate alone: %+v", ds)
	}
	_, err := l.(ratelimit.BatchLimiter).AllowBatch(context.Background(), []ratelimit.Request{
		{Key: "good", Rate: perHour(1)}, {Key: "bad", Rate: ratelimit.Rate{Limit: -1}}})
	if !errors.Is(err, ratelimit.ErrInvalidRate) {
		t.Fatalf("a batch with an invalid rate: %v, want ErrInvalidRate", err)
	}
	if !allow(t, l, "good", perHour(1)).Allowed {
		t.Fatal("a batch that failed on an invalid rate charged a key")
	}
}
