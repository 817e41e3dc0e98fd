package store_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// retainedSends is how many sends BenchmarkMemoryRetained keeps alive: enough
// that the store's fixed overhead (shards, empty maps) is noise.
const retainedSends = 200_000

// BenchmarkMemoryRetained reports what the collector must keep and scan
// for every send the memory store holds, the cost that grows with the
// outstanding sign-ins of a busy server: heap bytes, heap objects and
// scannable bytes per retained record, and the CPU a full collection spends
// per record. "send" is a token with its code and a pending cross-device
// request, as a browser send stores; "session" is the session a verify
// creates. Run it with -benchtime=1x.
func BenchmarkMemoryRetained(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	b.Run("send", func(b *testing.B) {
		for b.Loop() {
			measureRetained(b, func(m *store.Memory, i int) {
				t, p := retainedSend(now, i)
				if err := m.PutTokenPending(ctx, t, p); err != nil {
					b.Fatal(err)
				}
			})
		}
	})
	b.Run("session", func(b *testing.B) {
		for b.Loop() {
			measureRetained(b, func(m *store.Memory, i int) {
				if err := m.CreateSession(ctx, retainedSession(now, i)); err != nil {
					b.Fatal(err)
				}
			})
		}
	})
}

// retainedSend is send i as a browser send makes it: its own address, IP
// and (freshly allocated, as a parsed header is) user agent.
func retainedSend(now time.Time, i int) (*store.Token, *store.Pending) {
	id := uniqueHex(i)
	t := &store.Token{Email: "user" + id + "@example.com", Origin: "https://app.example.com", Next: "/overview",
		CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute)}
	_, _ = rand.Read(t.Hash[:])
	_, _ = rand.Read(t.CodeMAC[:])
	p := &store.Pending{LinkHash: t.Hash, Match: 42, UserAgent: strings.Clone(benchUserAgent),
		IP: "198.51." + id[12:14] + "." + id[14:], CreatedAt: now, ExpiresAt: t.ExpiresAt,
		KeepUntil: t.ExpiresAt.Add(2 * time.Minute), Status: store.PendingWaiting}
	_, _ = rand.Read(p.Cookie[:])
	return t, p
}

// retainedSession is the session verify i creates.
func retainedSession(now time.Time, i int) *store.Session {
	id := uniqueHex(i)
	var th store.Digest
	_, _ = rand.Read(th[:])
	return &store.Session{ID: store.SessionID(th), TokenHash: th, UserID: "usr_" + id, OrgID: "",
		Email: "user" + id + "@example.com", Method: "link", CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: now.Add(24 * time.Hour), ExpiresAt: now.Add(30 * 24 * time.Hour),
		IP: "198.51." + id[12:14] + "." + id[14:], UserAgent: strings.Clone(benchUserAgent)}
}

const benchUserAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

func uniqueHex(i int) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return hexString(b[:])
}

// measureRetained fills a fresh store with retainedSends records by put
// and reports, per record, the live heap bytes and objects it added, the
// scannable heap it added, and the GC CPU of one full collection.
func measureRetained(b *testing.B, put func(m *store.Memory, i int)) {
	before := heapNow()
	m := store.NewMemory(store.WithSweepInterval(0))
	for i := range retainedSends {
		put(m, i)
	}
	after := heapNow()
	runtime.KeepAlive(m)
	per := func(v float64) float64 { return v / retainedSends }
	b.ReportMetric(per(float64(after.bytes-before.bytes)), "B/rec")
	b.ReportMetric(per(float64(after.objects-before.objects)), "objs/rec")
	b.ReportMetric(per(float64(after.scan-before.scan)), "scanB/rec")
	b.ReportMetric(per(1e9*(after.gcCPU-before.gcCPU)), "gc-cpu-ns/rec")
	_ = m.Close()
}

type heapFigures struct {
	bytes, objects, scan uint64
	gcCPU                float64 // seconds of GC CPU the last full collection took
}

// heapNow collects garbage and reads the live heap it left, and the GC CPU
// of the second of two collections (the first may still free garbage).
func heapNow() heapFigures {
	runtime.GC()
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/gc/heap/live:bytes"},
		{Name: "/gc/heap/objects:objects"}, {Name: "/gc/scan/heap:bytes"}}
	metrics.Read(s)
	cpu0 := s[0].Value.Float64()
	runtime.GC()
	metrics.Read(s)
	return heapFigures{bytes: s[1].Value.Uint64(), objects: s[2].Value.Uint64(), scan: s[3].Value.Uint64(),
		gcCPU: s[0].Value.Float64() - cpu0}
}
