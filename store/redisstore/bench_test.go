package redisstore

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/storefixture"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

// The comparison with go-redis/redis_rate lives in the bench module; these
// are the absolute figures, one round trip each, on a loopback server.

func BenchmarkAllow(b *testing.B) {
	ctx := context.Background()
	s := newStore(b, testredis.Start(b).Client(b))
	r := ratelimit.Rate{Limit: 1_000_000_000, Period: time.Hour, Burst: 1_000_000}
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "ip:198.51.100." + strconv.Itoa(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if d, err := s.Allow(ctx, keys[i%len(keys)], r); err != nil || !d.Allowed {
			b.Fatalf("Allow: %+v, %v", d, err)
		}
		i++
	}
}

// BenchmarkAllowBatch decides a send's two limits in one script, against
// BenchmarkAllow's one key per round trip.
func BenchmarkAllowBatch(b *testing.B) {
	ctx := context.Background()
	s := newStore(b, testredis.Start(b).Client(b))
	r := ratelimit.Rate{Limit: 1_000_000_000, Period: time.Hour, Burst: 1_000_000}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		reqs := []ratelimit.Request{{Key: "ip:198.51.100." + strconv.Itoa(i%1024), Rate: r}, {Key: "email:" + strconv.Itoa(i%1024), Rate: r}}
		if ds, err := s.AllowBatch(ctx, reqs); err != nil || !ds[0].Allowed {
			b.Fatalf("AllowBatch: %+v, %v", ds, err)
		}
		i++
	}
}

func BenchmarkPutConsume(b *testing.B) {
	ctx := context.Background()
	s := newStore(b, testredis.Start(b).Client(b))
	tok := &store.Token{Email: "bench@example.com", Origin: "https://app.example", Next: "/"}
	b.ReportAllocs()
	for b.Loop() {
		tok.Hash, tok.CodeMAC = storefixture.Digest(), storefixture.Digest()
		tok.CreatedAt = time.Now()
		tok.ExpiresAt = tok.CreatedAt.Add(15 * time.Minute)
		if err := s.PutToken(ctx, tok); err != nil {
			b.Fatal(err)
		}
		if _, err := s.ConsumeToken(ctx, tok.Hash); err != nil {
			b.Fatal(err)
		}
	}
}
