package redisstore

import (
	"errors"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/store"
)

// TestPing: one round trip while Redis serves; ErrUnavailable, within the
// store's timeout, once the server is killed; fine again after a restart,
// with the same store and client.
func TestPing(t *testing.T) {
	t.Parallel()
	const timeout = 500 * time.Millisecond
	srv := testredis.Start(t)
	rdb := fastFailClient(t, srv.Addr())
	var trips roundTrips
	rdb.AddHook(&trips)
	s := newStore(t, rdb, WithTimeout(timeout))
	ctx := t.Context()

	if err := s.Ping(ctx); err != nil { // dials: the handshake is counted too
		t.Fatalf("Ping while Redis serves: %v", err)
	}
	if n := trips.count(func() {
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping while Redis serves: %v", err)
		}
	}); n != 1 {
		t.Fatalf("Ping made %d round trips, want 1", n)
	}

	srv.Stop(t)
	begin := time.Now()
	err := s.Ping(ctx)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping with Redis down = %v, want store.ErrUnavailable", err)
	}
	if waited := time.Since(begin); waited > 3*timeout {
		t.Fatalf("Ping with Redis down took %v, want at most %v", waited, 3*timeout)
	}

	srv.Restart(t)
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after the restart: %v", err)
	}
}
