package ratelimit

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/conc"
	"github.com/magiclink-go/magiclink/internal/fakeclock"
	"github.com/magiclink-go/magiclink/internal/leaktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestLimiter(t *testing.T, opts ...Option) (*Memory, *fakeclock.Clock) {
	t.Helper()
	clock := fakeclock.New(time.Time{})
	l := NewMemory(append([]Option{WithClock(clock.Now)}, opts...)...)
	t.Cleanup(func() { _ = l.Close() })
	return l, clock
}

// allowConcurrently calls Allow n times at once on key and returns the
// decisions.
func allowConcurrently(t *testing.T, l Limiter, key string, r Rate, n int) []Decision {
	t.Helper()
	ds := make([]Decision, n)
	errs := make([]error, n)
	conc.Run(n, func(i int) {
		ds[i], errs[i] = l.Allow(context.Background(), key, r)
	})
	for _, err := range errs {
		require.NoError(t, err)
	}
	return ds
}

func TestMemoryExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	l, clock := newTestLimiter(t)
	r := Rate{Limit: 5, Period: time.Hour, Burst: 5}

	ds := allowConcurrently(t, l, "k", r, 200)
	var remaining []int
	for _, d := range ds {
		if d.Allowed {
			remaining = append(remaining, d.Remaining)
			assert.Zero(t, d.RetryAfter, "an allowed decision has no RetryAfter")
			continue
		}
		assert.Equal(t, 12*time.Minute, d.RetryAfter, "denied after the burst: wait one emission interval")
		assert.Equal(t, time.Hour, d.ResetAfter, "denied after the burst: a full period to reset")
		assert.Zero(t, d.Remaining)
	}
	assert.ElementsMatch(t, []int{4, 3, 2, 1, 0}, remaining, "exactly Burst calls of 200 concurrent ones must be allowed")

	clock.Advance(12 * time.Minute)
	ds = allowConcurrently(t, l, "k", r, 200)
	allowed := 0
	for _, d := range ds {
		if d.Allowed {
			allowed++
			assert.Equal(t, 0, d.Remaining)
			assert.Equal(t, time.Hour, d.ResetAfter)
		} else {
			assert.Equal(t, 12*time.Minute, d.RetryAfter)
		}
	}
	assert.Equal(t, 1, allowed, "one emission interval later exactly one more call is allowed")
}

func TestMemorySequence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, clock := newTestLimiter(t)
	r := Rate{Limit: 5, Period: time.Hour, Burst: 5}

	for i := range 5 {
		d, err := l.Allow(ctx, "k", r)
		require.NoError(t, err)
		assert.Equal(t, Decision{Allowed: true, Remaining: 4 - i, ResetAfter: time.Duration(i+1) * 12 * time.Minute}, d, "call %d", i+1)
	}
	d, err := l.Allow(ctx, "k", r)
	require.NoError(t, err)
	assert.Equal(t, Decision{RetryAfter: 12 * time.Minute, ResetAfter: time.Hour}, d)

	// A denied call writes nothing: hammering does not push the wait out.
	for range 100 {
		_, _ = l.Allow(ctx, "k", r)
	}
	clock.Advance(5 * time.Minute)
	d, err = l.Allow(ctx, "k", r)
	require.NoError(t, err)
	assert.Equal(t, Decision{RetryAfter: 7 * time.Minute, ResetAfter: 55 * time.Minute}, d, "RetryAfter shrinks by the elapsed time")

	clock.Advance(7 * time.Minute)
	d, err = l.Allow(ctx, "k", r)
	require.NoError(t, err)
	assert.Equal(t, Decision{Allowed: true, Remaining: 0, ResetAfter: time.Hour}, d)

	// After a full period with no calls the key is back to a full burst.
	clock.Advance(time.Hour)
	d, err = l.Allow(ctx, "k", r)
	require.NoError(t, err)
	assert.Equal(t, Decision{Allowed: true, Remaining: 4, ResetAfter: 12 * time.Minute}, d)

	// Keys are independent.
	d, err = l.Allow(ctx, "other", r)
	require.NoError(t, err)
	assert.Equal(t, 4, d.Remaining)
}

func TestMemoryBurst(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rate    Rate
		allowed int
		retry   time.Duration
	}{
		{"burst 1", Rate{Limit: 10, Period: time.Minute, Burst: 1}, 1, 6 * time.Second},
		{"burst 10", Rate{Limit: 10, Period: time.Minute, Burst: 10}, 10, 6 * time.Second},
		{"burst 0 means 1", Rate{Limit: 10, Period: time.Minute}, 1, 6 * time.Second},
		{"negative burst means 1", Rate{Limit: 10, Period: time.Minute, Burst: -3}, 1, 6 * time.Second},
		{"burst above limit", Rate{Limit: 2, Period: time.Minute, Burst: 5}, 5, 30 * time.Second},
		{"sub-nanosecond interval", Rate{Limit: 10, Period: 5, Burst: 3}, 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, _ := newTestLimiter(t)
			ctx := context.Background()
			for i := range tt.allowed {
				d, err := l.Allow(ctx, "k", tt.rate)
				require.NoError(t, err)
				require.True(t, d.Allowed, "call %d of the burst", i+1)
				assert.Equal(t, tt.allowed-1-i, d.Remaining)
			}
			d, err := l.Allow(ctx, "k", tt.rate)
			require.NoError(t, err)
			assert.False(t, d.Allowed, "the call after the burst is denied")
			assert.Equal(t, tt.retry, d.RetryAfter)
		})
	}
}

func TestMemoryDisabled(t *testing.T) {
	t.Parallel()
	l, _ := newTestLimiter(t)
	for _, r := range []Rate{{}, {Limit: 0, Period: time.Second, Burst: 3}, {Limit: 0, Period: -1}} {
		for range 1000 {
			d, err := l.Allow(context.Background(), "k", r)
			require.NoError(t, err)
			require.Equal(t, Decision{Allowed: true, Remaining: math.MaxInt}, d, "Limit 0 disables the limit")
		}
	}
	assert.Zero(t, l.keys(), "a disabled limit stores nothing")
}

func TestMemoryInvalidRate(t *testing.T) {
	t.Parallel()
	l, _ := newTestLimiter(t)
	for _, r := range []Rate{
		{Limit: -1, Period: time.Second},
		{Limit: 1},
		{Limit: 1, Period: -time.Second},
		{Limit: 1, Period: 1000 * time.Hour, Burst: math.MaxInt},
	} {
		_, err := l.Allow(context.Background(), "k", r)
		require.ErrorIs(t, err, ErrInvalidRate, "rate %+v", r)
	}
	assert.Zero(t, l.keys())
}

func TestMemoryZeroAllocs(t *testing.T) {
	l, _ := newTestLimiter(t)
	ctx := context.Background()
	r := Rate{Limit: 1_000_000, Period: time.Second, Burst: 1_000_000}
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
		_, _ = l.Allow(ctx, keys[i], r)
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		_, _ = l.Allow(ctx, keys[i%len(keys)], r)
		i++
	})
	assert.Zero(t, allocs, "a decision on an existing key must not allocate")
}

// present reports whether key still holds state, by spending one event of a
// burst-5 rate: a fresh key would have 4 left. Every key in these tests was
// touched exactly once before.
func present(t *testing.T, l *Memory, key string) bool {
	t.Helper()
	d, err := l.Allow(context.Background(), key, Rate{Limit: 5, Period: time.Hour, Burst: 5})
	require.NoError(t, err)
	return d.Remaining < 4
}

func TestMemoryMaxKeys(t *testing.T) {
	t.Parallel()
	for _, shards := range []int{1, 4, 64, 1000} {
		t.Run("shards "+strconv.Itoa(shards), func(t *testing.T) {
			t.Parallel()
			l, _ := newTestLimiter(t, WithMaxKeys(100), WithShards(shards))
			r := Rate{Limit: 1, Period: time.Hour, Burst: 3}
			for i := range 10_000 {
				d, err := l.Allow(context.Background(), "k"+strconv.Itoa(i), r)
				require.NoError(t, err)
				require.True(t, d.Allowed, "a new key is never denied for lack of room")
				require.LessOrEqual(t, l.keys(), 100, "after key %d", i)
			}
			assert.Greater(t, l.keys(), 50, "the bound should be mostly usable")
		})
	}
}

func TestMemorySweep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := Rate{Limit: 5, Period: time.Hour, Burst: 5}

	t.Run("explicit", func(t *testing.T) {
		t.Parallel()
		l, clock := newTestLimiter(t)
		for i := range 1000 {
			_, _ = l.Allow(ctx, "k"+strconv.Itoa(i), r)
		}
		_, _ = l.Allow(ctx, "long", Rate{Limit: 1, Period: 24 * time.Hour})
		require.Equal(t, 1001, l.keys())
		assert.Zero(t, l.sweep(), "nothing has decayed yet")
		clock.Advance(12 * time.Minute)
		assert.Equal(t, 1000, l.sweep(), "every key touched once decays after one interval")
		assert.Equal(t, 1, l.keys(), "the key still limited stays")
		assert.True(t, present(t, l, "long"))
	})

	t.Run("incremental on insert", func(t *testing.T) {
		t.Parallel()
		l, clock := newTestLimiter(t, WithMaxKeys(100), WithShards(1))
		for i := range 100 {
			_, _ = l.Allow(ctx, "old"+strconv.Itoa(i), r)
		}
		require.Equal(t, 100, l.keys())
		clock.Advance(time.Hour)
		for i := range 10 {
			_, _ = l.Allow(ctx, "new"+strconv.Itoa(i), r)
		}
		assert.Equal(t, 10, l.keys(), "a full shard drops its decayed keys before taking a new one")
		for i := range 10 {
			assert.True(t, present(t, l, "new"+strconv.Itoa(i)), "live keys survive the sweep")
		}
	})
}

func TestMemoryEviction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := Rate{Limit: 10, Period: time.Hour, Burst: 10}

	t.Run("least restrictive key goes", func(t *testing.T) {
		t.Parallel()
		// One shard of 8 keys: the sample is the whole shard.
		l, _ := newTestLimiter(t, WithMaxKeys(evictSample), WithShards(1))
		for i := range evictSample {
			for range i + 1 {
				_, _ = l.Allow(ctx, "k"+strconv.Itoa(i), r)
			}
		}
		_, _ = l.Allow(ctx, "new", r)
		require.Equal(t, evictSample, l.keys())
		d, err := l.Allow(ctx, "k0", r)
		require.NoError(t, err)
		assert.Equal(t, 9, d.Remaining, "k0, the least used key, was evicted and starts afresh")
		d, err = l.Allow(ctx, "k7", r)
		require.NoError(t, err)
		assert.Equal(t, 1, d.Remaining, "k7, the most used key, kept its state")
	})

	t.Run("flood cannot free a limited key", func(t *testing.T) {
		t.Parallel()
		l, _ := newTestLimiter(t, WithMaxKeys(64), WithShards(1))
		for range 10 {
			_, _ = l.Allow(ctx, "victim", r)
		}
		for i := range 10_000 {
			_, _ = l.Allow(ctx, "flood"+strconv.Itoa(i), r)
		}
		d, err := l.Allow(ctx, "victim", r)
		require.NoError(t, err)
		assert.False(t, d.Allowed, "an exhausted key outlives any number of fresher keys")
		assert.LessOrEqual(t, l.keys(), 64)
	})
}

func TestMemoryConcurrentSweep(t *testing.T) {
	t.Parallel()
	l, clock := newTestLimiter(t, WithMaxKeys(256), WithShards(4))
	r := Rate{Limit: 100, Period: time.Second, Burst: 5}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				_, err := l.Allow(context.Background(), "k"+strconv.Itoa((g*7919+i)%1000), r)
				if err != nil {
					t.Error(err)
					return
				}
				if i%100 == 0 {
					clock.Advance(7 * time.Millisecond)
				}
			}
		})
	}
	wg.Go(func() {
		for range 200 {
			l.sweep()
			_ = l.keys()
		}
	})
	wg.Wait()
	assert.LessOrEqual(t, l.keys(), 256)
}

func TestMemoryClose(t *testing.T) {
	// Not parallel: it counts goroutines.
	before := runtime.NumGoroutine()
	l := NewMemory(WithSweepInterval(time.Hour))
	assert.Equal(t, before+1, runtime.NumGoroutine(), "the sweeper runs in one goroutine")
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "Close is idempotent")
	// Close waits for the sweeper to return; the runtime retires the
	// goroutine a moment later.
	leaktest.Check(t, before)

	d, err := l.Allow(context.Background(), "k", Rate{Limit: 1, Period: time.Second})
	require.NoError(t, err)
	assert.True(t, d.Allowed, "a closed limiter still decides")

	plain := NewMemory()
	require.NoError(t, plain.Close())
	require.NoError(t, plain.Close())
}

// TestMemoryTable checks the open-addressing table against a map under random
// inserts, updates and deletions, with hashes squeezed into few home slots
// so that long probe runs wrap around the end of the table.
func TestMemoryTable(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var tab tatTable
	ref := map[uint64]int64{}
	randHash := func() uint64 {
		// Few distinct home slots, many distinct hashes.
		return fixHash(rng.Uint64()&(7<<61) | rng.Uint64N(64))
	}
	check := func(step int) {
		require.Equal(t, len(ref), tab.n, "step %d", step)
		for h, v := range ref {
			i := tab.find(h)
			require.GreaterOrEqual(t, i, 0, "step %d: key %x lost", step, h)
			require.Equal(t, v, tab.slots[i].tat, "step %d", step)
		}
	}
	for step := range 20_000 {
		switch op := rng.IntN(10); {
		case op < 5:
			h := randHash()
			if i := tab.find(h); i >= 0 {
				tab.slots[i].tat++
				ref[h]++
			} else {
				v := rng.Int64N(1000)
				tab.insert(h, v)
				ref[h] = v
			}
		case op < 8:
			h := randHash()
			if i := tab.find(h); i >= 0 {
				tab.deleteAt(i)
				delete(ref, h)
			}
		case op < 9:
			cut := rng.Int64N(1000)
			n := tab.deleteIf(func(v int64) bool { return v <= cut })
			want := 0
			for h, v := range ref {
				if v <= cut {
					delete(ref, h)
					want++
				}
			}
			require.Equal(t, want, n, "step %d", step)
		default:
			if tab.n > 0 {
				tab.evictFrom(rng.IntN(len(tab.slots)))
				// The victim is whichever key vanished.
				for h := range ref {
					if tab.find(h) < 0 {
						delete(ref, h)
						break
					}
				}
			}
		}
		if step%97 == 0 {
			check(step)
		}
	}
	check(-1)
}

func ExampleMemory() {
	l := NewMemory()
	defer l.Close()

	// Five sign-in mails per hour per address, all five at once if need be.
	perAddress := Rate{Limit: 5, Period: time.Hour, Burst: 5}
	for range 6 {
		d, err := l.Allow(context.Background(), "email:ada@example.com", perAddress)
		if err != nil {
			panic(err)
		}
		fmt.Println(d.Allowed, d.Remaining, d.RetryAfter.Round(time.Minute))
	}
	// Output:
	// true 4 0s
	// true 3 0s
	// true 2 0s
	// true 1 0s
	// true 0 0s
	// false 0 12m0s
}
