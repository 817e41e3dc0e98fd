package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink/internal/storefixture"
	"github.com/magiclink-go/magiclink/store"
)

// uniquePrefix isolates one test's keys on a shared server.
func uniquePrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:])
}

func newStore(t testing.TB, rdb redis.UniversalClient, opts ...Option) *Store {
	t.Helper()
	s, err := New(rdb, append([]Option{WithPrefix(uniquePrefix())}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// fastFailClient is a client that gives up at once when the server is
// gone (no command retries, one dial attempt), so that outage tests need
// not wait for the store's timeout on every call.
func fastFailClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newToken is a fresh token created now, to the nanosecond the store
// keeps.
func newToken(email string, withCode bool, ttl time.Duration) *store.Token {
	return storefixture.Token(time.Now(), email, withCode, ttl)
}

// roundTrips counts what a client sends to the server: one per command
// outside a pipeline, and one per pipeline, or each of its commands with
// eachCommand set (the unit of the DESIGN §6 budget).
type roundTrips struct {
	n           atomic.Int64
	eachCommand bool
}

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.eachCommand {
			h.n.Add(int64(len(cmds)))
		} else {
			h.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

// count returns the round trips (or commands) f made.
func (h *roundTrips) count(f func()) int64 {
	before := h.n.Load()
	f()
	return h.n.Load() - before
}
