package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink/internal/conc"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/ratelimit"
)

// clockSlack absorbs the time between a test reading the Redis clock and
// the script reading it, plus scheduling noise under -race.
const clockSlack = 250 * time.Millisecond

// serverNow reads the clock of the Redis server that holds key.
func serverNow(t *testing.T, rdb redis.UniversalClient, key string) time.Time {
	t.Helper()
	ctx := context.Background()
	var c redis.Cmdable = rdb
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		m, err := cc.MasterForKey(ctx, key)
		if err != nil {
			t.Fatalf("MasterForKey: %v", err)
		}
		c = m
	}
	now, err := c.Time(ctx).Result()
	if err != nil {
		t.Fatalf("TIME: %v", err)
	}
	return now
}

// storedTAT reads the raw TAT of a limiter key.
func storedTAT(t *testing.T, rdb redis.UniversalClient, key string) (time.Time, string) {
	t.Helper()
	v, err := rdb.Get(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	ns, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("TAT %q is not Unix nanoseconds: %v", v, err)
	}
	return time.Unix(0, ns), v
}

func near(got, want, tol time.Duration) bool {
	d := got - want
	return d >= -tol && d <= tol
}

func TestLimiterExact(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	testLimiterExact(t, srv.Client(t), srv.Client(t))
}

func TestLimiterExactCluster(t *testing.T) {
	t.Parallel()
	cl := testredis.StartCluster(t)
	testLimiterExact(t, cl.Client(t), cl.Client(t))
}

func testLimiterExact(t *testing.T, rdb, raw redis.UniversalClient) {
	ctx := context.Background()
	s := newStore(t, rdb)
	rate := ratelimit.Rate{Limit: 5, Period: time.Hour, Burst: 5}
	const T = 12 * time.Minute

	// Several keys, so that on a cluster they spread over the masters.
	for k := range 4 {
		key := fmt.Sprintf("email:user%d@example.com", k)
		var allowed atomic.Int32
		conc.Run(200, func(int) {
			d, err := s.Allow(ctx, key, rate)
			if err != nil {
				t.Errorf("Allow: %v", err)
				return
			}
			if d.Allowed {
				allowed.Add(1)
			} else if d.Remaining != 0 || d.RetryAfter <= 0 {
				t.Errorf("a denial must have Remaining 0 and a RetryAfter: %+v", d)
			}
		})
		if allowed.Load() != 5 {
			t.Fatalf("200 concurrent events at Rate{5, 1h, 5} on %s: %d allowed, want exactly 5", key, allowed.Load())
		}

		// A denial writes nothing: same TAT, TTL not extended.
		rkey := s.limitKey(key)
		tat, before := storedTAT(t, raw, rkey)
		ttlBefore, err := raw.PTTL(ctx, rkey).Result()
		if err != nil {
			t.Fatalf("PTTL: %v", err)
		}
		now := serverNow(t, raw, rkey)
		d, err := s.Allow(ctx, key, rate)
		if err != nil || d.Allowed {
			t.Fatalf("Allow after the burst: %+v, %v; want denied", d, err)
		}
		_, after := storedTAT(t, raw, rkey)
		ttlAfter, err := raw.PTTL(ctx, rkey).Result()
		if err != nil {
			t.Fatalf("PTTL: %v", err)
		}
		if after != before || ttlAfter > ttlBefore {
			t.Fatalf("a denial changed the key: TAT %s → %s, PTTL %v → %v", before, after, ttlBefore, ttlAfter)
		}
		// The TAT after five events is five intervals ahead; the next event
		// would be allowed one interval after the burst started.
		wantRetry := tat.Add(T - 5*T).Sub(now) // allowAt = tat + T − B·T
		if !near(d.RetryAfter, wantRetry, clockSlack) || !near(d.RetryAfter, T, time.Minute) {
			t.Fatalf("RetryAfter = %v, want %v (≈ 12 min)", d.RetryAfter, wantRetry)
		}
		if wantReset := tat.Sub(now); !near(d.ResetAfter, wantReset, clockSlack) {
			t.Fatalf("ResetAfter = %v, want %v (≈ 60 min)", d.ResetAfter, wantReset)
		}
		if !near(ttlBefore, tat.Sub(now), clockSlack) {
			t.Fatalf("the key's PTTL %v does not end at its TAT (%v ahead)", ttlBefore, tat.Sub(now))
		}
	}
}

func TestLimiterSequence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testredis.Start(t)
	raw := srv.Client(t)
	s := newStore(t, srv.Client(t))
	rate := ratelimit.Rate{Limit: 3, Period: time.Hour, Burst: 3}
	const T = 20 * time.Minute
	for i, want := range []int{2, 1, 0} {
		d, err := s.Allow(ctx, "seq", rate)
		if err != nil || !d.Allowed || d.Remaining != want {
			t.Fatalf("event %d: %+v, %v; want allowed with Remaining %d", i+1, d, err, want)
		}
		if wantReset := time.Duration(i+1) * T; !near(d.ResetAfter, wantReset, clockSlack) {
			t.Fatalf("event %d: ResetAfter %v, want %v", i+1, d.ResetAfter, wantReset)
		}
		if d.RetryAfter != 0 {
			t.Fatalf("event %d: allowed with RetryAfter %v", i+1, d.RetryAfter)
		}
	}
	d, err := s.Allow(ctx, "seq", rate)
	if err != nil || d.Allowed {
		t.Fatalf("event 4: %+v, %v; want denied", d, err)
	}

	// Burst ≤ 0 means 1, and the TAT is stored to the nanosecond.
	one := ratelimit.Rate{Limit: 7, Period: time.Hour}
	if d, err := s.Allow(ctx, "one", one); err != nil || !d.Allowed || d.Remaining != 0 {
		t.Fatalf("first event at Burst 0: %+v, %v", d, err)
	}
	tat, _ := storedTAT(t, raw, s.limitKey("one"))
	if d, err := s.Allow(ctx, "one", one); err != nil || d.Allowed {
		t.Fatalf("second event at Burst 0: %+v, %v; want denied", d, err)
	}
	if got, _ := storedTAT(t, raw, s.limitKey("one")); !got.Equal(tat) {
		t.Fatalf("a denial moved the TAT from %v to %v", tat, got)
	}
	// With burst 2 the second event starts from the first one's TAT, which
	// is still ahead, so the stored TATs differ by exactly T = 1h/7 to the
	// nanosecond, although T is not a whole number of microseconds.
	two := ratelimit.Rate{Limit: 7, Period: time.Hour, Burst: 2}
	if _, err := s.Allow(ctx, "two", two); err != nil {
		t.Fatal(err)
	}
	first, _ := storedTAT(t, raw, s.limitKey("two"))
	if d, err := s.Allow(ctx, "two", two); err != nil || !d.Allowed {
		t.Fatalf("second event at burst 2: %+v, %v", d, err)
	}
	second, _ := storedTAT(t, raw, s.limitKey("two"))
	if diff := second.Sub(first); diff != time.Hour/7 {
		t.Fatalf("TATs of consecutive events differ by %v, want exactly %v", diff, time.Hour/7)
	}
}

func TestLimiterDisabledAndInvalid(t *testing.T) {
	t.Parallel()
	// No server: Limit 0 never talks to Redis, invalid rates fail first.
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = rdb.Close() })
	s := newStore(t, rdb)
	d, err := s.Allow(context.Background(), "k", ratelimit.Rate{})
	if err != nil || !d.Allowed || d.Remaining != math.MaxInt {
		t.Fatalf("Allow with Limit 0: %+v, %v; want allowed, Remaining MaxInt", d, err)
	}
	for _, r := range []ratelimit.Rate{
		{Limit: -1, Period: time.Second},
		{Limit: 1},
		{Limit: 1, Period: time.Hour, Burst: math.MaxInt},
	} {
		if _, err := s.Allow(context.Background(), "k", r); !errors.Is(err, ratelimit.ErrInvalidRate) {
			t.Errorf("Allow(%+v): got %v, want ratelimit.ErrInvalidRate", r, err)
		}
	}
}
