package store_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, clock func() time.Time) storetest.Harness {
		m := store.NewMemory(store.WithClock(clock))
		t.Cleanup(func() { _ = m.Close() })
		return storetest.Harness{Store: m}
	})
}

func TestMemorySweepRemovesOnlyExpired(t *testing.T) {
	t.Parallel()
	c := storetest.NewClock(time.Unix(1_700_000_000, 0))
	m := store.NewMemory(store.WithClock(c.Now), store.WithSweepInterval(0))
	defer m.Close()
	ctx := context.Background()
	for i := range 1000 {
		ttl := time.Minute
		if i%2 == 0 {
			ttl = time.Hour
		}
		tok := &store.Token{Email: "a@example.com", CreatedAt: c.Now(), ExpiresAt: c.Now().Add(ttl)}
		tok.Hash[0], tok.Hash[1], tok.Hash[2] = byte(i), byte(i>>8), 1
		if err := m.PutToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.Sweep(); n != 0 {
		t.Fatalf("sweep before any expiry removed %d tokens, want 0", n)
	}
	c.Advance(time.Minute)
	if n := m.Sweep(); n != 500 {
		t.Fatalf("sweep after the short TTL removed %d tokens, want 500", n)
	}
	if n := m.Len(); n != 500 {
		t.Fatalf("%d tokens left, want 500", n)
	}
}

func TestMemoryBounded(t *testing.T) {
	t.Parallel()
	m := store.NewMemory(store.WithMaxTokens(64), store.WithSweepInterval(0))
	defer m.Close()
	ctx := context.Background()
	var full int
	for i := range 200 {
		tok := &store.Token{ExpiresAt: time.Now().Add(time.Hour)}
		tok.Hash[0], tok.Hash[1] = byte(i), 7
		if err := m.PutToken(ctx, tok); errors.Is(err, store.ErrFull) {
			full++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if m.Len() > 64 || full == 0 {
		t.Fatalf("store holds %d tokens with %d ErrFull; want at most 64 and some ErrFull", m.Len(), full)
	}
}

func TestMemoryCloseStopsSweeper(t *testing.T) {
	before := sweepers()
	m := store.NewMemory(store.WithSweepInterval(time.Millisecond))
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Close returns once the sweeper has signalled it is done; the
	// goroutine itself ends a few instructions later. Yield until it has,
	// within a bound, rather than counting every goroutine in the process
	// (a timer of another test may run at any moment).
	deadline := time.Now().Add(5 * time.Second)
	for sweepers() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d sweepers still running after Close, want %d", sweepers(), before)
		}
		runtime.Gosched()
	}
}

// sweepers counts the goroutines running a Memory's sweep loop.
func sweepers() int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	return strings.Count(string(buf[:n]), "store.(*Memory).sweepLoop(")
}

// Without a clock of its own, Memory judges PutTokenAt and ConsumeTokenAt
// by the time it is passed; with WithClock, by its clock alone.
func TestMemoryTokensAtTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now()
	tok := func(b byte) *store.Token {
		t := &store.Token{Email: "at@example.com", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
		t.Hash[0], t.Hash[31] = b, 1
		return t
	}
	wall := store.NewMemory(store.WithSweepInterval(0))
	defer wall.Close()
	if err := wall.PutTokenAt(ctx, tok(1), now.Add(time.Hour)); err == nil {
		t.Fatal("PutTokenAt judged at a time after ExpiresAt stored the token")
	}
	live := tok(2)
	if err := wall.PutTokenAt(ctx, live, now); err != nil {
		t.Fatalf("PutTokenAt: %v", err)
	}
	if _, err := wall.ConsumeTokenAt(ctx, live.Hash, now.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ConsumeTokenAt judged after ExpiresAt: got %v, want ErrNotFound", err)
	}
	if _, err := wall.ConsumeTokenAt(ctx, live.Hash, now); err != nil {
		t.Fatalf("ConsumeTokenAt judged before ExpiresAt: %v (an expired judgement must not consume)", err)
	}

	fixed := store.NewMemory(store.WithClock(func() time.Time { return now }), store.WithSweepInterval(0))
	defer fixed.Close()
	own := tok(3)
	if err := fixed.PutTokenAt(ctx, own, now.Add(time.Hour)); err != nil {
		t.Fatalf("PutTokenAt with WithClock used the passed time: %v", err)
	}
	if _, err := fixed.ConsumeTokenAt(ctx, own.Hash, now.Add(time.Hour)); err != nil {
		t.Fatalf("ConsumeTokenAt with WithClock used the passed time: %v", err)
	}
}
