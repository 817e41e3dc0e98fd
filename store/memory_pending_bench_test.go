package store_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// BenchmarkMemoryCrossDevice is one cross-device sign-in against the memory
// store: issue with a pending request, one waiting poll, the approval and
// the poll that takes it; beside it, the plain issue and consume it
// extends, for the ratio.
func BenchmarkMemoryCrossDevice(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	newToken := func() *store.Token {
		t := &store.Token{Email: "bench@example.com", Origin: "https://app.example.com", Next: "/", CreatedAt: now,
			ExpiresAt: now.Add(15 * time.Minute)}
		_, _ = rand.Read(t.Hash[:])
		return t
	}
	b.Run("plain", func(b *testing.B) {
		m := store.NewMemory(store.WithSweepInterval(0))
		defer m.Close()
		b.ReportAllocs()
		for b.Loop() {
			t := newToken()
			if err := m.PutToken(ctx, t); err != nil {
				b.Fatal(err)
			}
			if _, err := m.ConsumeToken(ctx, t.Hash); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("approved", func(b *testing.B) {
		m := store.NewMemory(store.WithSweepInterval(0))
		defer m.Close()
		b.ReportAllocs()
		for b.Loop() {
			t := newToken()
			p := &store.Pending{LinkHash: t.Hash, Match: 42, UserAgent: "Mozilla/5.0", IP: "192.0.2.1", CreatedAt: now,
				ExpiresAt: t.ExpiresAt, KeepUntil: t.ExpiresAt.Add(2 * time.Minute), Status: store.PendingWaiting}
			_, _ = rand.Read(p.Cookie[:])
			if err := m.PutTokenPending(ctx, t, p); err != nil {
				b.Fatal(err)
			}
			if _, err := m.TakeApproved(ctx, p.Cookie); err != nil {
				b.Fatal(err)
			}
			if _, err := m.DecidePending(ctx, t.Hash, 42); err != nil {
				b.Fatal(err)
			}
			if got, err := m.TakeApproved(ctx, p.Cookie); err != nil || got.Token == nil {
				b.Fatal(got, err)
			}
		}
	})
}
