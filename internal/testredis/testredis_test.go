package testredis_test

import (
	"context"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/redis/go-redis/v9"
)

func TestStartStopRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testredis.Start(t)
	c := s.Client(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET on a fresh server: %v", err)
	}
	port := s.Port()

	s.Stop(t)
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	err := c.Ping(cctx).Err()
	cancel()
	if err == nil {
		t.Fatal("PING succeeded after Stop")
	}

	s.Restart(t)
	if s.Port() != port {
		t.Fatalf("Restart moved the server from port %d to %d", port, s.Port())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := c.Exists(ctx, "k").Result()
		if err == nil {
			if n != 0 {
				t.Fatal("a restarted server kept data; it must start empty")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the client did not reconnect after Restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := testredis.StartCluster(t)
	if got := len(cl.Addrs()); got != 3 {
		t.Fatalf("cluster has %d masters, want 3", got)
	}
	c := cl.Client(t)
	// Keys in different slots land on different masters; all must work.
	for _, k := range []string{"a", "b", "c", "{x}1", "{y}2", "{z}3"} {
		if err := c.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatalf("SET %s on the cluster: %v", k, err)
		}
	}
	if err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return m.Ping(ctx).Err() }); err != nil {
		t.Fatalf("PING every master: %v", err)
	}
}

func TestSentinel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := testredis.StartSentinel(t)
	c := st.Client(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET through the Sentinel: %v", err)
	}
	if v, err := st.Master().Client(t).Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("the write did not reach the master: %q, %v", v, err)
	}
}
