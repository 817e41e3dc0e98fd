package redisstore

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/conc"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

// TestAllowBatchExactAllOrNothing: under 200 concurrent batches of an IP
// key (burst 5) and an address key (burst 3) exactly 3 are allowed — the
// address refuses the rest, and a refused batch charges the IP nothing.
// With independent decisions (before finding 16.1) the IP key allowed 5.
func TestAllowBatchExactAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testredis.Start(t)
	s, err := New(srv.Client(t), WithPrefix(uniquePrefix()))
	if err != nil {
		t.Fatal(err)
	}
	reqs := []ratelimit.Request{
		{Key: "ip", Rate: ratelimit.Rate{Limit: 5, Period: time.Hour, Burst: 5}},
		{Key: "email", Rate: ratelimit.Rate{Limit: 3, Period: time.Hour, Burst: 3}},
		{Key: "off", Rate: ratelimit.Rate{}},
	}
	var ip, email, off atomic.Int32
	conc.Run(200, func(int) {
		ds, err := s.AllowBatch(ctx, reqs)
		if err != nil || len(ds) != 3 {
			t.Errorf("AllowBatch: %v, %d decisions", err, len(ds))
			return
		}
		for i, c := range []*atomic.Int32{&ip, &email, &off} {
			if ds[i].Allowed {
				c.Add(1)
			}
		}
	})
	if ip.Load() != 3 || email.Load() != 3 || off.Load() != 3 {
		t.Fatalf("allowed ip %d, email %d, off %d; want exactly 3 each", ip.Load(), email.Load(), off.Load())
	}
	ds, err := s.AllowBatch(ctx, reqs[:1])
	if err != nil || !ds[0].Allowed || ds[0].Remaining != 1 {
		t.Fatalf("the IP key after the flood: %+v, %v; want allowed with 1 left (charged 3 times, not 200)", ds, err)
	}
}

// TestAllowBatchOneRoundTrip: two decisions cost one round trip.
func TestAllowBatchOneRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testredis.Start(t)
	rdb := srv.Client(t)
	var rt roundTrips
	rdb.AddHook(&rt)
	s, err := New(rdb, WithPrefix(uniquePrefix()))
	if err != nil {
		t.Fatal(err)
	}
	r := ratelimit.Rate{Limit: 100, Period: time.Minute, Burst: 10}
	reqs := []ratelimit.Request{{Key: "a", Rate: r}, {Key: "b", Rate: r}}
	if _, err := s.AllowBatch(ctx, reqs); err != nil { // loads the script
		t.Fatal(err)
	}
	if n := rt.count(func() {
		if _, err := s.AllowBatch(ctx, reqs); err != nil {
			t.Fatal(err)
		}
	}); n != 1 {
		t.Fatalf("AllowBatch of two keys made %d round trips, want 1", n)
	}
}

// TestAllowBatchAfterScriptFlush: a server without the script gets its
// source, and every key is still counted exactly once.
func TestAllowBatchAfterScriptFlush(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testredis.Start(t)
	rdb := srv.Client(t)
	s, err := New(rdb, WithPrefix(uniquePrefix()))
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	r := ratelimit.Rate{Limit: 5, Period: time.Hour, Burst: 5}
	ds, err := s.AllowBatch(ctx, []ratelimit.Request{{Key: "x", Rate: r}, {Key: "y", Rate: r}})
	if err != nil {
		t.Fatalf("AllowBatch on a flushed script cache: %v", err)
	}
	for i, d := range ds {
		if !d.Allowed || d.Remaining != 4 {
			t.Fatalf("decision %d: %+v; want allowed with 4 remaining (counted once)", i, d)
		}
	}
	d, err := s.Allow(ctx, "x", r)
	if err != nil || d.Remaining != 3 {
		t.Fatalf("next decision on x: %+v, %v; want 3 remaining", d, err)
	}
}

// TestAllowBatchErrors: invalid rates fail like Allow; an unreachable
// server is store.ErrUnavailable; all-disabled rates need no server.
func TestAllowBatchErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testredis.Start(t)
	s, err := New(srv.Client(t), WithPrefix(uniquePrefix()), WithTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AllowBatch(ctx, []ratelimit.Request{{Key: "a", Rate: ratelimit.Rate{Limit: 1}}}); !errors.Is(err, ratelimit.ErrInvalidRate) {
		t.Fatalf("rate without a period: got %v, want ratelimit.ErrInvalidRate", err)
	}
	srv.Stop(t)
	if _, err := s.AllowBatch(ctx, []ratelimit.Request{{Key: "a", Rate: ratelimit.Rate{Limit: 1, Period: time.Second}}}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("server down: got %v, want ErrUnavailable", err)
	}
	ds, err := s.AllowBatch(ctx, []ratelimit.Request{{Key: "a"}, {Key: "b"}})
	if err != nil || !ds[0].Allowed || ds[1].Remaining != math.MaxInt {
		t.Fatalf("disabled rates with the server down: %+v, %v; want allowed without a round trip", ds, err)
	}
}
