package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink/internal/outagetest"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

// TestKillAndRestart stops the server while calls are running: every call
// must then fail with store.ErrUnavailable within a bound derived from the
// store's timeout, never hang or panic; after a restart on the same port the
// same store and client work again without any help.
func TestKillAndRestart(t *testing.T) {
	t.Parallel()
	const timeout = 500 * time.Millisecond
	const bound = 3 * timeout
	srv := testredis.Start(t)
	s := newStore(t, srv.Client(t), WithTimeout(timeout))
	ctx := context.Background()
	ops := outagetest.Calls(s)
	outagetest.MustServe(t, ops, "before the outage")

	// Load: workers call continuously while the server is killed.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var slowest time.Duration
	failures := 0
	for name, op := range ops {
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w * 1_000_000; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					start := time.Now()
					err := op(ctx, i)
					took := time.Since(start)
					mu.Lock()
					slowest = max(slowest, took)
					if err != nil {
						failures++
					}
					mu.Unlock()
					if err != nil && !errors.Is(err, store.ErrUnavailable) {
						t.Errorf("%s during the outage: %v, want an error matching store.ErrUnavailable", name, err)
					}
					if took > bound {
						t.Errorf("%s took %v, want under %v", name, took, bound)
					}
				}
			}()
		}
	}
	time.Sleep(100 * time.Millisecond) // let the workers get going before the kill
	srv.Stop(t)

	// With the server gone, every kind of call fails, each within the bound.
	for range 3 {
		outagetest.MustFailFast(t, ops, bound)
	}
	close(stop)
	wg.Wait()
	if failures == 0 {
		t.Fatal("no worker call failed while the server was down")
	}
	t.Logf("outage: %d failed worker calls, slowest call %v (timeout %v)", failures, slowest, timeout)

	srv.Restart(t)
	start := time.Now()
	deadline := start.Add(10 * time.Second)
	for {
		err := ops["Allow"](ctx, 1)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no call succeeded within 10s of the restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("first success %v after the restart", time.Since(start))
	for range 5 {
		outagetest.MustServe(t, ops, "after the restart")
	}
}

func TestClosedClientIsUnavailable(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	s := newStore(t, rdb)
	_ = rdb.Close()
	for name, op := range outagetest.Calls(s) {
		err := op(context.Background(), 0)
		if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, redis.ErrClosed) {
			t.Errorf("%s on a closed client: %v, want store.ErrUnavailable wrapping redis.ErrClosed", name, err)
		}
	}
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		want error
	}{
		{redis.Nil, store.ErrNotFound},
		{redis.ErrClosed, store.ErrUnavailable},
		{redis.ErrPoolTimeout, store.ErrUnavailable},
		{context.DeadlineExceeded, store.ErrUnavailable},
		{errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), store.ErrUnavailable},
		{redisError("LOADING Redis is loading the dataset in memory"), store.ErrUnavailable},
		{redisError("READONLY You can't write against a read only replica."), store.ErrUnavailable},
		{redisError("CLUSTERDOWN The cluster is down"), store.ErrUnavailable},
		{redisError("ERR max number of clients reached"), store.ErrUnavailable},
		{context.Canceled, context.Canceled},
	} {
		got := mapErr("op", c.err)
		if !errors.Is(got, c.want) {
			t.Errorf("mapErr(%v) = %v, want it to match %v", c.err, got, c.want)
		}
		// redis.Nil is an answer, not a cause worth keeping.
		if c.err != redis.Nil && !errors.Is(got, c.err) {
			t.Errorf("mapErr(%v) = %v lost its cause", c.err, got)
		}
	}
	wrong := mapErr("op", redisError("WRONGTYPE Operation against a key holding the wrong kind of value"))
	if errors.Is(wrong, store.ErrUnavailable) {
		t.Errorf("a WRONGTYPE reply is a bug, not an outage: %v", wrong)
	}
	if errors.Is(mapErr("op", context.Canceled), store.ErrUnavailable) {
		t.Error("a caller's cancellation is not an outage")
	}
}

type redisError string

func (e redisError) Error() string { return string(e) }

func (redisError) RedisError() {}

// TestClusterNodeDown stops one of three masters: calls for keys on the
// live masters keep working (until the cluster declares itself down), calls
// for keys on the dead one fail with store.ErrUnavailable, all within the
// bound.
func TestClusterNodeDown(t *testing.T) {
	t.Parallel()
	const timeout = 500 * time.Millisecond
	cl := testredis.StartCluster(t)
	s := newStore(t, cl.Client(t), WithTimeout(timeout))
	ctx := context.Background()
	rate := ratelimit.Rate{Limit: 1000, Period: time.Second, Burst: 1000}
	for i := range 30 {
		if _, err := s.Allow(ctx, fmt.Sprintf("k%d", i), rate); err != nil {
			t.Fatalf("Allow before the outage: %v", err)
		}
	}
	cl.Nodes()[0].Stop(t)
	var ok, down int
	for i := range 30 {
		start := time.Now()
		_, err := s.Allow(ctx, fmt.Sprintf("k%d", i), rate)
		if took := time.Since(start); took > 3*timeout {
			t.Errorf("Allow with a master down took %v, want under %v", took, 3*timeout)
		}
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrUnavailable):
			down++
		default:
			t.Errorf("Allow with a master down: %v, want success or store.ErrUnavailable", err)
		}
	}
	if down == 0 {
		t.Fatalf("no call failed with a master down (%d succeeded)", ok)
	}
	t.Logf("with one of three masters down: %d calls succeeded, %d unavailable", ok, down)
}
