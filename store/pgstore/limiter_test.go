package pgstore

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

// clockSlack absorbs the time between a test reading the database clock
// and the function reading it, plus scheduling noise under -race.
const clockSlack = 250 * time.Millisecond

func near(got, want, tol time.Duration) bool {
	d := got - want
	return d >= -tol && d <= tol
}

// storedTAT reads a key's raw TAT and the database clock, in Unix
// nanoseconds.
func (r *rig) storedTAT(t *testing.T, key string) (tat, now int64) {
	t.Helper()
	err := r.pool.QueryRow(context.Background(),
		"SELECT tat, (extract(epoch FROM clock_timestamp()) * 1000000000)::bigint FROM magiclink.rate_limits WHERE key = $1",
		key).Scan(&tat, &now)
	if err != nil {
		t.Fatalf("read TAT of %s: %v", key, err)
	}
	return tat, now
}

// TestLimiterExact: 200 concurrent events on a fresh key with burst 5 allow
// exactly 5; a denial charges nothing and says when to retry.
func TestLimiterExact(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	s := r.store(t)
	ctx := context.Background()
	rate := ratelimit.Rate{Limit: 5, Period: time.Hour, Burst: 5}
	const T = 12 * time.Minute
	var allowed atomic.Int32
	conc.Run(200, func(int) {
		d, err := s.Allow(ctx, "email:a@example.com", rate)
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
		t.Fatalf("200 concurrent events at Rate{5, 1h, 5}: %d allowed, want exactly 5", allowed.Load())
	}
	before, now := r.storedTAT(t, "email:a@example.com")
	d, err := s.Allow(ctx, "email:a@example.com", rate)
	if err != nil || d.Allowed {
		t.Fatalf("Allow after the burst: %+v, %v; want denied", d, err)
	}
	if after, _ := r.storedTAT(t, "email:a@example.com"); after != before {
		t.Fatalf("a denial changed the TAT: %d → %d", before, after)
	}
	// allowAt = tat + T − B·T; the burst began about now.
	if want := time.Duration(before - now - 4*int64(T)); !near(d.RetryAfter, want, clockSlack) || !near(d.RetryAfter, T, time.Minute) {
		t.Fatalf("RetryAfter = %v, want %v (≈ 12 min)", d.RetryAfter, want)
	}
	if want := time.Duration(before - now); !near(d.ResetAfter, want, clockSlack) {
		t.Fatalf("ResetAfter = %v, want %v (≈ 60 min)", d.ResetAfter, want)
	}
}

// TestLimiterSequence pins Remaining and ResetAfter event by event, as
// ratelimit.Memory decides them.
func TestLimiterSequence(t *testing.T) {
	t.Parallel()
	s := newRig(t).store(t)
	ctx := context.Background()
	rate := ratelimit.Rate{Limit: 3, Period: time.Hour, Burst: 3}
	const T = 20 * time.Minute
	for i, want := range []int{2, 1, 0} {
		d, err := s.Allow(ctx, "seq", rate)
		if err != nil || !d.Allowed || d.Remaining != want || d.RetryAfter != 0 {
			t.Fatalf("event %d: %+v, %v; want allowed with Remaining %d", i+1, d, err, want)
		}
		if wantReset := time.Duration(i+1) * T; !near(d.ResetAfter, wantReset, clockSlack) {
			t.Fatalf("event %d: ResetAfter %v, want %v", i+1, d.ResetAfter, wantReset)
		}
	}
	d, err := s.Allow(ctx, "seq", rate)
	if err != nil || d.Allowed || !near(d.RetryAfter, T, clockSlack) || !near(d.ResetAfter, 3*T, clockSlack) {
		t.Fatalf("event 4: %+v, %v; want denied, RetryAfter ≈ %v, ResetAfter ≈ %v", d, err, T, 3*T)
	}
	// Limit 0 is off: no statement at all.
	if d, err := s.Allow(ctx, "off", ratelimit.Rate{}); err != nil || !d.Allowed || d.Remaining != math.MaxInt {
		t.Fatalf("disabled rate: %+v, %v", d, err)
	}
	for _, bad := range []ratelimit.Rate{{Limit: -1, Period: time.Second}, {Limit: 1}, {Limit: 1, Period: time.Hour, Burst: math.MaxInt}} {
		if _, err := s.Allow(ctx, "bad", bad); !errors.Is(err, ratelimit.ErrInvalidRate) {
			t.Fatalf("Allow(%+v): %v, want ErrInvalidRate", bad, err)
		}
	}
}

// TestLimiterBatchAllOrNothing: a batch that one key denies charges no
// key — the lock-out of issue 16: from one IP that is over its limit, a
// victim's address keeps its whole budget.
func TestLimiterBatchAllOrNothing(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	s := r.store(t)
	ctx := context.Background()
	ipRate := ratelimit.Rate{Limit: 1, Period: time.Hour, Burst: 1}
	mailRate := ratelimit.Rate{Limit: 2, Period: time.Hour, Burst: 2}
	if d, err := s.Allow(ctx, "ip:attacker", ipRate); err != nil || !d.Allowed {
		t.Fatalf("first event of the IP: %+v, %v", d, err)
	}
	for i := range 10 {
		var ds []ratelimit.Decision
		n := r.stmts.count(func() {
			var err error
			ds, err = s.AllowBatch(ctx, []ratelimit.Request{{Key: "ip:attacker", Rate: ipRate}, {Key: "email:victim", Rate: mailRate}})
			if err != nil {
				t.Fatal(err)
			}
		})
		if n != 1 {
			t.Fatalf("a batch took %d statements, want 1", n)
		}
		if ds[0].Allowed || !ds[1].Allowed {
			t.Fatalf("batch %d: %+v; want the IP denied and the address (alone) allowed", i, ds)
		}
	}
	// Not charged: its TAT is not ahead of the clock (a full burst).
	if tat, now := r.storedTAT(t, "email:victim"); tat > now {
		t.Fatalf("denied batches charged the victim's address: TAT %v ahead", time.Duration(tat-now))
	}
	// The victim, from elsewhere, still has the whole burst.
	for i := range 2 {
		ds, err := s.AllowBatch(ctx, []ratelimit.Request{{Key: fmt.Sprintf("ip:victim%d", i), Rate: ipRate}, {Key: "email:victim", Rate: mailRate}})
		if err != nil || !ds[0].Allowed || !ds[1].Allowed {
			t.Fatalf("victim's send %d: %+v, %v; want allowed", i+1, ds, err)
		}
	}
	if ds, err := s.AllowBatch(ctx, []ratelimit.Request{{Key: "ip:victim9", Rate: ipRate}, {Key: "email:victim", Rate: mailRate}}); err != nil || ds[1].Allowed {
		t.Fatalf("victim's third send: %+v, %v; want the address denied", ds, err)
	}
	if _, err := s.AllowBatch(ctx, []ratelimit.Request{{Key: "k", Rate: ipRate}, {Key: "k", Rate: ipRate}}); err == nil {
		t.Fatal("a batch with one key twice was accepted")
	}
}

// TestLimiterBatchConcurrent: concurrent batches over shared keys, in
// either order, neither deadlock nor over-admit: with burst 20 on the
// shared key exactly 20 batches pass, and every passed batch charged its
// own key too.
func TestLimiterBatchConcurrent(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	s := r.store(t)
	ctx := context.Background()
	shared := ratelimit.Rate{Limit: 20, Period: time.Hour, Burst: 20}
	own := ratelimit.Rate{Limit: 100, Period: time.Hour, Burst: 100}
	var passed atomic.Int32
	conc.Run(100, func(i int) {
		reqs := []ratelimit.Request{{Key: "shared", Rate: shared}, {Key: fmt.Sprintf("own%d", i%5), Rate: own}}
		if i%2 == 1 {
			reqs[0], reqs[1] = reqs[1], reqs[0]
		}
		ds, err := s.AllowBatch(ctx, reqs)
		if err != nil {
			t.Errorf("AllowBatch: %v", err)
			return
		}
		if ds[0].Allowed && ds[1].Allowed {
			passed.Add(1)
		}
	})
	if passed.Load() != 20 {
		t.Fatalf("100 concurrent batches on a shared key with burst 20: %d passed, want 20", passed.Load())
	}
	// The own keys were charged exactly by the passed batches: 100 − 20
	// events left in all.
	left := 0
	for k := range 5 {
		d, err := s.Allow(ctx, fmt.Sprintf("own%d", k), own)
		if err != nil || !d.Allowed {
			t.Fatalf("own%d: %+v, %v", k, d, err)
		}
		left += d.Remaining + 1
	}
	if want := 5*100 - 20; left != want {
		t.Fatalf("own keys have %d events left, want %d: denied batches must not charge them", left, want)
	}
}
