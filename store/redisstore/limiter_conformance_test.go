package redisstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/ratelimit/ratelimittest"
)

func TestLimiterConformance(t *testing.T) {
	t.Parallel()
	rdb := testredis.Start(t).Client(t)
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Limiter { return newStore(t, rdb) })
}

// TestLimiterConformanceCluster runs the suite on a three-master Cluster,
// where the keys of one batch live in different slots: the per-slot
// scripts and the refund of a refused batch keep it all-or-nothing.
func TestLimiterConformanceCluster(t *testing.T) {
	t.Parallel()
	rdb := testredis.StartCluster(t).Client(t)
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Limiter { return newStore(t, rdb) },
		ratelimittest.BatchMayRefuseUnderContention())
}

// TestKeySlotMatchesCluster: the slot this package computes for limiter
// keys is the one the server computes (CLUSTER KEYSLOT), so batches are
// grouped as Redis will route them.
func TestKeySlotMatchesCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testredis.StartCluster(t).Client(t)
	s := newStore(t, rdb)
	for i := range 50 {
		for _, key := range []string{s.limitKey(fmt.Sprint("send_email:", i)), fmt.Sprint("plain", i), "{}x", "a{b}c{d}"} {
			want, err := rdb.ClusterKeySlot(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			if got := keySlot(key); int64(got) != want {
				t.Fatalf("keySlot(%q) = %d, Redis says %d", key, got, want)
			}
		}
	}
}

// TestAllowBatchClusterRoundTrips: a batch over two slots costs one round
// trip when allowed, two when refused (the refund), never a charge.
func TestAllowBatchClusterRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testredis.StartCluster(t).Client(t)
	s := newStore(t, rdb)
	a, b := "a", "b"
	for i := 0; keySlot(s.limitKey(a)) == keySlot(s.limitKey(b)); i++ {
		b = fmt.Sprint("b", i)
	}
	one := ratelimit.Rate{Limit: 1, Period: time.Hour, Burst: 1}
	reqs := []ratelimit.Request{{Key: a, Rate: one}, {Key: b, Rate: ratelimit.Rate{Limit: 5, Period: time.Hour, Burst: 5}}}
	if _, err := s.AllowBatch(ctx, reqs); err != nil { // loads the script everywhere
		t.Fatal(err)
	}
	var rt roundTrips
	rdb.AddHook(&rt)
	var ds []ratelimit.Decision
	if n := rt.count(func() {
		var err error
		if ds, err = s.AllowBatch(ctx, reqs); err != nil {
			t.Fatal(err)
		}
	}); n > 2 || ds[0].Allowed {
		t.Fatalf("a refused two-slot batch: %+v in %d round trips, want refused in at most 2", ds, n)
	}
	d, err := s.Allow(ctx, b, reqs[1].Rate)
	if err != nil || d.Remaining != 3 {
		t.Fatalf("b after a refused batch: %+v, %v; want 3 left (charged once, by the first batch)", d, err)
	}
}
