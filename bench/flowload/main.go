// Command flowload measures the whole sign-in flow over loopback HTTP: the
// same stack as examples/server with REDIS_URL set (Service, HTTP adapter,
// Redis store and Redis limiter, memory mailer), driven by N concurrent
// connections. Phase one sends links; phase two verifies every mailed token
// through POST /auth/verify (JSON). It prints throughput and latency
// percentiles for each phase.
//
// Each request carries its own X-Forwarded-For address and e-mail address
// (127.0.0.1 is configured as a trusted proxy), so the default rate limits
// stay on and are exercised as they would be by many real clients.
//
// It starts its own redis-server from PATH on a free loopback port.
//
//	go run ./flowload -conns 16 -duration 5s
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store/redisstore"
	"github.com/redis/go-redis/v9"
)

func main() {
	conns := flag.Int("conns", 16, "concurrent connections")
	duration := flag.Duration("duration", 5*time.Second, "length of the send phase (the verify phase verifies what was sent, bounded by the same duration)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (server and client) to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*conns, *duration); err != nil {
		pprof.StopCPUProfile()
		log.Fatal(err)
	}
}

func run(conns int, duration time.Duration) error {
	ctx := context.Background()
	addr, stop, err := startRedis()
	if err != nil {
		return err
	}
	defer stop()

	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 4 * conns, ContextTimeoutEnabled: true})
	defer rdb.Close()
	rs, err := redisstore.New(rdb)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	inbox := mailer.NewMemory()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := magiclink.New(magiclink.Config{
		Origins: []string{base}, Secret: bytes.Repeat([]byte("k"), 32),
		Store: rs, Limiter: rs, Mailer: inbox, Logger: quiet,
	})
	if err != nil {
		return err
	}
	defer svc.Close()
	h, err := httpadapter.New(svc, httpadapter.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Logger: quiet})
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown(ctx)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
	var seq atomic.Int64
	fmt.Printf("flowload: %d connections, Redis store and limiter, default rate limits, GOMAXPROCS shared with the server\n", conns)

	send := phase(conns, duration, -1, func() (int, error) {
		n := seq.Add(1)
		body := fmt.Sprintf(`{"email":"load%d@example.com","callback_origin":%q,"callback_next":"/"}`, n, base)
		return post(client, base+"/auth/send-magic-link", body, n)
	})
	send.print("send-magic-link")

	msgs := inbox.Messages()
	tokens := make([]string, 0, len(msgs))
	for _, m := range msgs {
		u, err := url.Parse(m.Link)
		if err != nil {
			return err
		}
		tokens = append(tokens, u.Query().Get("token_hash"))
	}
	var next atomic.Int64
	verify := phase(conns, duration, len(tokens), func() (int, error) {
		i := next.Add(1) - 1
		body := fmt.Sprintf(`{"token_hash":%q,"type":"magiclink"}`, tokens[i])
		return post(client, base+"/auth/verify", body, 1_000_000+i)
	})
	verify.print("verify")
	if send.bad+verify.bad > 0 {
		return fmt.Errorf("%d failed requests", send.bad+verify.bad)
	}
	return nil
}

func post(c *http.Client, u, body string, n int64) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
	// A distinct client address per request, as from many users behind
	// the trusted proxy: 10.x.y.z.
	req.Header.Set("X-Forwarded-For", "10."+strconv.Itoa(int(n>>16&255))+"."+strconv.Itoa(int(n>>8&255))+"."+strconv.Itoa(int(n&255)))
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

type result struct {
	n, bad  int
	elapsed time.Duration
	lat     []time.Duration
	status  map[int]int
}

// phase runs f on conns workers until duration passes or limit calls were
// made (limit < 0: no limit).
func phase(conns int, duration time.Duration, limit int, f func() (int, error)) result {
	var mu sync.Mutex
	res := result{status: map[int]int{}}
	var started atomic.Int64
	deadline := time.Now().Add(duration)
	start := time.Now()
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			status := map[int]int{}
			for time.Now().Before(deadline) {
				if limit >= 0 && started.Add(1) > int64(limit) {
					break
				}
				t0 := time.Now()
				code, err := f()
				lat = append(lat, time.Since(t0))
				if err != nil {
					code = -1
				}
				status[code]++
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			for k, v := range status {
				res.status[k] += v
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.n = len(res.lat)
	for code, v := range res.status {
		if code != http.StatusOK {
			res.bad += v
		}
	}
	sort.Slice(res.lat, func(i, j int) bool { return res.lat[i] < res.lat[j] })
	return res
}

func (r result) print(name string) {
	if r.n == 0 {
		fmt.Printf("%-16s no requests\n", name)
		return
	}
	pct := func(p float64) time.Duration { return r.lat[int(p*float64(r.n-1))] }
	fmt.Printf("%-16s %7d requests in %5.2fs = %7.0f/s   p50 %-9v p99 %-9v max %-9v statuses %v\n",
		name, r.n, r.elapsed.Seconds(), float64(r.n)/r.elapsed.Seconds(),
		pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), r.lat[r.n-1].Round(time.Microsecond), r.status)
}

// startRedis runs redis-server on a free loopback port in a temp dir.
func startRedis() (string, func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, fmt.Errorf("redis-server not found on PATH: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "flowload-redis")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", filepath.Clean(dir))
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); _ = os.RemoveAll(dir) }
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if err := c.Ping(context.Background()).Err(); err == nil {
			return addr, stop, nil
		} else if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("redis-server did not answer: %w", err)
		}
		time.Sleep(20 * time.Millisecond) // readiness poll of an external process
	}
}
