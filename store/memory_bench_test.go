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
