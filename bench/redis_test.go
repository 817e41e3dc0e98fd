package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/redisstore"
)

// redisKeys is the key set of the Redis limiter benchmarks: enough keys
// that the server does real hash-table work, few enough to pre-populate fast.
const redisKeys = 10_000

// redisGoroutines is the concurrency of the parallel Redis benchmarks: many
// clients sharing one server, as in a fleet of web servers.
const redisGoroutines = 64

// redisAddr returns REDIS_ADDR when set, or starts a throwaway redis-server
// from PATH on a free loopback port (stopped when b ends). It skips when
// neither is available (fails under MAGICLINK_REQUIRE_REDIS=1).
func redisAddr(b *testing.B) string {
	b.Helper()
	if addr := os.Getenv("REDIS_ADDR"); addr != "" {
		return addr
	}
	return testredis.Start(b).Addr()
}

func newRedisClient(b *testing.B, addr string) *redis.Client {
	b.Helper()
	// One connection per goroutine for both implementations, so neither
	// waits for the pool.
	c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: redisGoroutines, ContextTimeoutEnabled: true})
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// BenchmarkRedisLimiter compares redisstore's GCRA limiter with
// go-redis/redis_rate on the same server, same client settings and the same
// generous policy (nearly every decision is allowed and writes the key).
// Modes: serial (latency of one decision), parallel64 (64 goroutines;
// decisions/s is the throughput figure).
func BenchmarkRedisLimiter(b *testing.B) {
	ctx := context.Background()
	addr := redisAddr(b)
	keys := make([]string, redisKeys)
	for i := range keys {
		keys[i] = "ip:203.0." + strconv.Itoa(i/256%256) + "." + strconv.Itoa(i%256) + "/" + strconv.Itoa(i)
	}

	impls := []struct {
		name  string
		setup func(b *testing.B, rdb *redis.Client) allowFunc
	}{
		{"ours", func(b *testing.B, rdb *redis.Client) allowFunc {
			s, err := redisstore.New(rdb)
			if err != nil {
				b.Fatal(err)
			}
			r := ratelimit.Rate{Limit: benchLimit, Period: benchPeriod, Burst: benchBurst}
			return func(key string) bool {
				d, err := s.Allow(ctx, key, r)
				return err == nil && d.Allowed
			}
		}},
		{"redis_rate", func(b *testing.B, rdb *redis.Client) allowFunc {
			l := redis_rate.NewLimiter(rdb)
			r := redis_rate.Limit{Rate: benchLimit, Period: benchPeriod, Burst: benchBurst}
			return func(key string) bool {
				res, err := l.Allow(ctx, key, r)
				return err == nil && res.Allowed > 0
			}
		}},
	}
	for _, impl := range impls {
		rdb := newRedisClient(b, addr)
		allow := impl.setup(b, rdb)
		// Pre-populate (this also loads the script into the server).
		for _, k := range keys {
			if !allow(k) {
				b.Fatalf("%s: pre-population denied %q", impl.name, k)
			}
		}
		b.Run(impl.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			i, denied := 0, 0
			for b.Loop() {
				if !allow(keys[i]) {
					denied++
				}
				if i++; i == len(keys) {
					i = 0
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
			b.ReportMetric(float64(denied)/float64(b.N), "denied/op")
		})
		b.Run(impl.name+"/parallel64", func(b *testing.B) {
			b.ReportAllocs()
			procs := max(1, redisGoroutines/runtime.GOMAXPROCS(0))
			b.SetParallelism(procs)
			var start, denied atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				i := int(start.Add(7919) % int64(len(keys)))
				d := 0
				for pb.Next() {
					if !allow(keys[i]) {
						d++
					}
					if i++; i == len(keys) {
						i = 0
					}
				}
				denied.Add(int64(d))
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
			b.ReportMetric(float64(denied.Load())/float64(b.N), "denied/op")
		})
	}
}

// BenchmarkRedisConsume is the latency of one sign-in's store work on
// Redis: PutToken (with a code) and ConsumeToken, serially. It has no peer;
// it is here for the absolute figure.
func BenchmarkRedisConsume(b *testing.B) {
	ctx := context.Background()
	s, err := redisstore.New(newRedisClient(b, redisAddr(b)))
	if err != nil {
		b.Fatal(err)
	}
	tok := &store.Token{Email: "bench@example.com", Origin: "https://app.example", Next: "/"}
	b.Run("ours/serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_, _ = rand.Read(tok.Hash[:])
			_, _ = rand.Read(tok.CodeMAC[:])
			tok.Email = "bench" + strconv.Itoa(i%1000) + "@example.com"
			tok.CreatedAt = time.Now()
			tok.ExpiresAt = tok.CreatedAt.Add(15 * time.Minute)
			if err := s.PutToken(ctx, tok); err != nil {
				b.Fatal(err)
			}
			if _, err := s.ConsumeToken(ctx, tok.Hash); err != nil {
				b.Fatal(fmt.Errorf("consume: %w", err))
			}
			i++
		}
	})
}
