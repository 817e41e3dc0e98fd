package store_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// BenchmarkMemoryMillionTokens reports the heap held by one million live
// tokens with realistic field sizes (DESIGN §10: ≤ 300 MB). Run it with
// -benchtime=1x; the figure is the heap-MB metric.
func BenchmarkMemoryMillionTokens(b *testing.B) {
	const n = 1_000_000
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)

		m := store.NewMemory(store.WithSweepInterval(0))
		ctx := context.Background()
		now := time.Now()
		origin, next := "https://app.example.com", "/overview"
		for i := range n {
			t := &store.Token{Origin: origin, Next: next, CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute)}
			_, _ = rand.Read(t.Hash[:])
			_, _ = rand.Read(t.CodeMAC[:])
			var id [8]byte
			binary.BigEndian.PutUint64(id[:], uint64(i))
			// Each token has its own address and user ID, as in real traffic.
			t.Email = "user" + string(rune('a'+i%26)) + hexString(id[:]) + "@example.com"
			t.UserID = "usr_" + hexString(id[:]) + "abcdef"
			if err := m.PutToken(ctx, t); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MB")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/token")
		runtime.KeepAlive(m)
		_ = m.Close()
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

// BenchmarkMemoryPutConsume is the store's share of a sign-in: storing a
// token with its code and consuming its link, at steady state: a fake clock
// advances 1 ms per sign-in, tokens live 1 s, and the sweep that expires
// them is part of the measured cost.
func BenchmarkMemoryPutConsume(b *testing.B) {
	now := time.Unix(1_700_000_000, 0)
	m := store.NewMemory(store.WithSweepInterval(0), store.WithClock(func() time.Time { return now }))
	defer m.Close()
	ctx := context.Background()
	t := &store.Token{UserID: "usr_0123456789abcdef", Email: "ada@example.com", Origin: "https://app.example.com", Next: "/", CodeMAC: store.Digest{1}}
	var i uint64
	b.ReportAllocs()
	for b.Loop() {
		i++
		now = now.Add(time.Millisecond)
		t.CreatedAt, t.ExpiresAt = now, now.Add(time.Second)
		binary.BigEndian.PutUint64(t.Hash[:], i*0x9E3779B97F4A7C15)
		if err := m.PutToken(ctx, t); err != nil {
			b.Fatal(err)
		}
		if _, err := m.ConsumeToken(ctx, t.Hash); err != nil {
			b.Fatal(err)
		}
		if i%1024 == 0 {
			m.Sweep()
		}
	}
}
