package store

import (
	"context"
	"crypto/rand"
	"testing"
	"time"
)

// Sweep drops pending requests past KeepUntil, and only those, with their
// link index.
func TestMemorySweepPending(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	m := NewMemory(WithClock(clock), WithSweepInterval(0))
	defer m.Close()
	for i := range 100 {
		ttl := time.Minute
		if i%2 == 0 {
			ttl = time.Hour
		}
		tok := &Token{CreatedAt: now, ExpiresAt: now.Add(ttl)}
		_, _ = rand.Read(tok.Hash[:])
		p := &Pending{LinkHash: tok.Hash, CreatedAt: now, ExpiresAt: tok.ExpiresAt, KeepUntil: tok.ExpiresAt.Add(time.Minute),
			Status: PendingWaiting}
		_, _ = rand.Read(p.Cookie[:])
		if err := m.PutTokenPending(context.Background(), tok, p); err != nil {
			t.Fatal(err)
		}
	}
	m.Sweep()
	if n := len(m.pending.byCookie); n != 100 {
		t.Fatalf("a sweep before any KeepUntil left %d requests, want 100", n)
	}
	now = now.Add(2 * time.Minute)
	m.Sweep()
	if n, l := len(m.pending.byCookie), len(m.pending.byLink); n != 50 || l != 50 {
		t.Fatalf("after the short ones' KeepUntil: %d requests and %d link entries, want 50 and 50", n, l)
	}
	if n := len(m.pending.buckets); n != 1 {
		t.Fatalf("%d expiry buckets left, want the one of the long requests", n)
	}
}

// The table is bounded like the tokens: past MaxTokens requests a browser
// send is refused with ErrFull and stores nothing.
func TestMemoryPendingBounded(t *testing.T) {
	t.Parallel()
	m := NewMemory(WithMaxTokens(10), WithSweepInterval(0))
	defer m.Close()
	var full int
	for range 30 {
		now := time.Now()
		tok := &Token{CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		_, _ = rand.Read(tok.Hash[:])
		p := &Pending{LinkHash: tok.Hash, CreatedAt: now, ExpiresAt: tok.ExpiresAt, KeepUntil: tok.ExpiresAt, Status: PendingWaiting}
		_, _ = rand.Read(p.Cookie[:])
		switch err := m.PutTokenPending(context.Background(), tok, p); err {
		case nil:
		case ErrFull:
			full++
			if _, err := m.ConsumeToken(context.Background(), tok.Hash); err != ErrNotFound {
				t.Fatalf("a refused browser send stored its token (%v)", err)
			}
		default:
			t.Fatal(err)
		}
	}
	if len(m.pending.byCookie) > 10 || full == 0 {
		t.Fatalf("%d requests held with %d refusals, want at most 10 and some refusals", len(m.pending.byCookie), full)
	}
}
