package store_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/benchcpu"
	"github.com/magiclink-go/magiclink/store"
)

// BenchmarkMemoryPutTokenPendingParallel is the store's part of every
// browser send (a token with its pending cross-device request) from 16 and
// from 64 goroutines, as flowload's calm phase and its storm drive it: the
// cost per send should not grow with the number of senders.
func BenchmarkMemoryPutTokenPendingParallel(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	for _, senders := range []int{16, 64} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			m := store.NewMemory(store.WithSweepInterval(0))
			defer m.Close()
			b.SetParallelism(max(1, senders/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			cpu := benchcpu.Start()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					t := &store.Token{Email: "bench@example.com", Origin: "https://app.example.com", Next: "/", CreatedAt: now,
						ExpiresAt: now.Add(15 * time.Minute), CodeMAC: store.Digest{1}}
					_, _ = rand.Read(t.Hash[:])
					p := &store.Pending{LinkHash: t.Hash, Match: 42, UserAgent: "Mozilla/5.0", IP: "192.0.2.1", CreatedAt: now,
						ExpiresAt: t.ExpiresAt, KeepUntil: t.ExpiresAt.Add(2 * time.Minute), Status: store.PendingWaiting}
					_, _ = rand.Read(p.Cookie[:])
					if err := m.PutTokenPending(ctx, t, p); err != nil {
						b.Fatal(err)
					}
				}
			})
			cpu.Report(b)
		})
	}
}
