package redisflow

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/leaktest"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/ratelimit"
)

// TestLoadTwoInstancesOneRedis: two magiclinktest harnesses, each with
// its own Service, handler and HTTP server, share one Redis. 64 clients hammer both for a bounded
// time: a hot address with SendPerEmail {5/h, burst 5} gets exactly 5
// mails in total across both instances, a hot client IP exactly its burst,
// no answer is a 5xx, and every verify succeeds exactly once.
func TestLoadTwoInstancesOneRedis(t *testing.T) {
	rs := testredis.Start(t)
	base := leaktest.Goroutines()
	duration, maxRequests := 4*time.Second, 40_000
	if testing.Short() {
		duration, maxRequests = time.Second, 5_000
	}
	const clients = 64
	const hotEmail = "hot@example.com"
	const emailBurst = 5

	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true, PoolSize: 128, PoolTimeout: 10 * time.Second})
	limits := magiclink.Limits{
		SendPerIP:       ratelimit.Rate{Limit: 1_000_000, Period: time.Second, Burst: 1_000_000},
		SendPerEmail:    ratelimit.Rate{Limit: emailBurst, Period: time.Hour, Burst: emailBurst},
		VerifyPerIP:     ratelimit.Rate{Limit: 1_000_000, Period: time.Second, Burst: 1_000_000},
		CreatePerAPIKey: ratelimit.Rate{Limit: 600, Period: time.Minute, Burst: 100},
		AdminPerSubject: ratelimit.Rate{Limit: 600, Period: time.Minute, Burst: 100},
	}
	prefix := fmt.Sprintf("load%d", time.Now().UnixNano())
	var mails [2]*mailer.Memory
	var srvs [2]*server
	// The hot address's mails are counted as they are sent: the memory
	// mailer keeps a bounded ring, and this run sends more mails than it
	// holds.
	var hotMails atomic.Int64
	countHot := func(m mailer.Mailer) mailer.Mailer {
		return mailerFunc(func(ctx context.Context, msg *mailer.Message) error {
			if msg.To == hotEmail {
				hotMails.Add(1)
			}
			return m.Send(ctx, msg)
		})
	}
	for i := range srvs {
		// A generous store timeout: under -race on two shared cores a
		// request can wait long for the CPU, and a timeout there would be a
		// correct 503 but a false alarm here.
		srvs[i] = newServer(t, rdb, serverOptions{prefix: prefix, limits: limits, timeout: 10 * time.Second, mailer: countHot})
		mails[i] = srvs[i].Mailer
	}

	var (
		sent, verifies, hotOK, hot429 atomic.Int64
		requests                      atomic.Int64
		lat                           latencies
		mu                            sync.Mutex
		bad                           []string
		verified                      = map[string]int{}
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(bad) < 20 {
			bad = append(bad, fmt.Sprintf(format, args...))
		}
	}
	timed := func(s *server, path string, body any) reply {
		start := time.Now()
		rp := s.postJSON(path, body)
		lat.add(time.Since(start))
		requests.Add(1)
		return rp
	}

	deadline := time.Now().Add(duration)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline) && requests.Load() < int64(maxRequests); i++ {
				s := srvs[(c+i)%2]
				// Every fourth request of every client goes to the hot
				// address, through alternating instances.
				if i%4 == 0 {
					rp := timed(s, sendPath, map[string]string{"email": hotEmail, "callback_origin": appOrigin})
					switch {
					case rp.status == http.StatusOK:
						hotOK.Add(1)
					case rp.status == http.StatusTooManyRequests && rp.code == "RATE_LIMITED" && rp.retryAfter != "":
						hot429.Add(1)
					default:
						fail("hot send: %d %v %s", rp.status, rp.err, rp.body)
					}
					continue
				}
				email := fmt.Sprintf("c%d-%d@example.com", c, i)
				rp := timed(s, sendPath, map[string]string{"email": email, "callback_origin": appOrigin})
				if rp.status != http.StatusOK {
					fail("send: %d %v %s", rp.status, rp.err, rp.body)
					continue
				}
				sent.Add(1)
				m, ok := mails[(c+i)%2].Last(email)
				if !ok {
					fail("no mail to %s", email)
					continue
				}
				// Verify on the other instance: the token lives in Redis.
				tok := tokenOf(m.Link)
				rp = timed(srvs[(c+i+1)%2], verifyPath, map[string]string{"token_hash": tok, "type": "magiclink"})
				if rp.status != http.StatusOK {
					fail("verify: %d %v %s", rp.status, rp.err, rp.body)
					continue
				}
				verifies.Add(1)
				mu.Lock()
				verified[tok]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	for _, b := range bad {
		t.Error(b)
	}
	if hotOK.Load() != emailBurst || hotMails.Load() != emailBurst {
		t.Errorf("hot address: %d sends answered 200 and %d mails went out across both instances; want exactly %d",
			hotOK.Load(), hotMails.Load(), emailBurst)
	}
	for tok, n := range verified {
		if n != 1 {
			t.Errorf("token %.8s… verified %d times", tok, n)
		}
	}
	n := requests.Load()
	t.Logf("load: 2 instances, 1 Redis, %d clients, %v: %d requests (%.0f req/s), %d sends + %d verifies, hot address %d×200 / %d×429 (limit %d/h across instances)",
		clients, elapsed.Round(time.Millisecond), n, float64(n)/elapsed.Seconds(), sent.Load(), verifies.Load(), hotOK.Load(), hot429.Load(), emailBurst)
	t.Logf("load latency: p50 %v, p99 %v, max %v over %d requests",
		lat.percentile(50).Round(time.Microsecond), lat.percentile(99).Round(time.Microsecond), lat.percentile(100).Round(time.Microsecond), lat.len())

	for _, s := range srvs {
		s.close()
	}
	_ = rdb.Close()
	leaktest.Check(t, base)
}

// mailerFunc is a mailer.Mailer from a function.
type mailerFunc func(context.Context, *mailer.Message) error

func (f mailerFunc) Send(ctx context.Context, m *mailer.Message) error { return f(ctx, m) }
