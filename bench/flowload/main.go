// Command flowload measures the whole sign-in flow over loopback HTTP: the
// same stack as examples/server (Service, HTTP adapter, a store, a limiter
// and a mailer), driven by N concurrent connections, in phases:
//
//	warm-up        sends to addresses of its own, not measured
//	send-new       sends to addresses that have no user yet
//	verify         verifies every mailed token (POST /auth/verify, JSON)
//	send-existing  sends again to the addresses that just signed in
//	storm          a closed-loop retry storm: 4× the connections, each
//	               retrying a refused send (503, 429) at once, to new
//	               addresses; what counts is accepted sends per second
//
// Every send phase starts with an empty mail queue and is timed until the
// mail it accepted has been delivered: a phase timed alone would be
// credited with the queue's worth of mail it left for the next phase to
// deliver. Each prints that drain, the accepted sends per second over
// phase and drain (the figures the ratios compare) and the process's CPU
// time per send, which varies less than rates on a shared machine.
// An unmeasured warm-up send phase (-warmup, default -duration) runs first,
// so that send-new is not the one phase on a cold process: an empty store
// whose maps grow from nothing, a heap still being mapped in, connections
// still being opened. -profile-dir writes CPU, mutex and block profiles of
// each phase.
//
// With -mail smtp every mail goes through a real SMTP server on loopback
// (in-process emersion/go-smtp) through a Dispatcher and pooled
// connections, and the delivery rate is reported; with -mail capture the
// mailer records links in memory and the figures show the library alone.
//
// Each request carries its own X-Forwarded-For address and e-mail address
// (127.0.0.1 is configured as a trusted proxy), so the default rate limits
// stay on and are exercised as they would be by many real clients.
//
// -store redis starts its own redis-server from PATH on a free loopback
// port; -store postgres starts a throwaway PostgreSQL cluster (initdb and
// postgres from /usr/lib/postgresql/*/bin or PATH, as the postgres user
// when run as root), or with -database-url uses an existing database, in a
// schema of the run's own that is dropped at the end; pgstore is then both
// store and limiter. -store memory uses the in-memory store and limiter.
// -pg-pool sizes its connection pool (default -conns). With -store redis
// -mail smtp, -outbox redis queues the mail in redisstore's durable outbox
// (a Redis stream, sealed payloads) instead of the in-memory Dispatcher,
// as the example server does with REDIS_URL and SMTP_URL. Whatever was
// started is removed on exit, Ctrl-C included.
//
//	go run ./flowload -conns 16 -duration 5s -store redis -mail smtp
//	go run ./flowload -store postgres -database-url postgres://localhost/bench
//	go run ./flowload -store redis -mail smtp -outbox redis
package main

import (
	"bytes"
	"context"
	"errors"
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
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store/redisstore"
	"github.com/redis/go-redis/v9"
)

type options struct {
	conns      int
	stormConns int
	duration   time.Duration
	store      string
	dbURL      string
	pgPool     int
	mail       string
	outbox     string
	warmup     time.Duration
	profileDir string
}

func main() {
	var o options
	flag.IntVar(&o.conns, "conns", 16, "concurrent connections")
	flag.IntVar(&o.stormConns, "storm-conns", 0, "connections of the retry storm (default 4× -conns)")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each phase (verify is also bounded by what was sent)")
	flag.DurationVar(&o.warmup, "warmup", -1, "length of an unmeasured send phase, to addresses of its own, before send-new; 0 for none, negative for -duration")
	flag.StringVar(&o.store, "store", "redis", "store and limiter: memory, redis or postgres")
	flag.StringVar(&o.dbURL, "database-url", "", "with -store postgres: an existing database to use (a schema of the run's own, dropped at the end) instead of a throwaway cluster")
	flag.IntVar(&o.pgPool, "pg-pool", 0, "with -store postgres: connections in the pool (default -conns)")
	flag.StringVar(&o.mail, "mail", "capture", "mail path: capture (in memory) or smtp (real SMTP sink on loopback)")
	flag.StringVar(&o.outbox, "outbox", "memory", "with -mail smtp, what queues the mail: memory (the in-memory Dispatcher) or redis (redisstore's durable outbox, with -store redis)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (server and client) to this file")
	flag.StringVar(&o.profileDir, "profile-dir", "", "write CPU, mutex and block profiles of each phase into this directory (not with -cpuprofile)")
	flag.Parse()
	if *cpuprofile != "" && o.profileDir != "" {
		log.Fatal("-cpuprofile and -profile-dir both want the CPU profiler: choose one")
	}
	if o.stormConns == 0 {
		o.stormConns = 4 * o.conns
	}
	if o.pgPool == 0 {
		o.pgPool = o.conns
	}
	if o.warmup < 0 {
		o.warmup = o.duration
	}
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
	// Ctrl-C ends the phase under way and cleans up (a throwaway cluster
	// included); a second one kills at once. A closed terminal or output
	// pipe (flowload | head) does the same: by default SIGPIPE would end
	// the process before it removed what it started, so once cancelled it
	// is ignored and further output fails quietly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	context.AfterFunc(ctx, func() { signal.Ignore(syscall.SIGPIPE); stop() })
	if err := run(ctx, o); err != nil {
		pprof.StopCPUProfile()
		log.Fatal(err)
	}
}

// stack is the server under load and what its mailer delivered.
type stack struct {
	base     string
	mails    mailbox
	describe string
	closers  []func()
	rdb      *redis.Client // with -store redis
}

func (s *stack) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// mailbox is where delivered mails end up.
type mailbox interface {
	takeTokens() []string
	// waitFor waits until n mails arrived or ctx is done, and returns the
	// count then.
	waitFor(ctx context.Context, n int) int
	duplicates() int
	// received returns how many mails arrived so far.
	received() int
}

func buildStack(o options) (*stack, error) {
	st := &stack{}
	ok := false
	defer func() {
		if !ok {
			st.close()
		}
	}()
	cfg := magiclink.Config{Secret: bytes.Repeat([]byte("k"), 32), Logger: quiet()}
	if err := buildStore(o, st, &cfg); err != nil {
		return nil, err
	}
	if err := buildMail(o, st, &cfg); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	st.base = "http://" + ln.Addr().String()
	cfg.Origins = []string{st.base}
	svc, err := magiclink.New(cfg)
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, func() { _ = svc.Close() })
	h, err := httpadapter.New(svc, httpadapter.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Logger: quiet()})
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	st.closers = append(st.closers, func() { _ = srv.Shutdown(context.Background()) })
	ok = true
	return st, nil
}

// buildStore sets cfg's store and limiter, starting what -store needs.
func buildStore(o options, st *stack, cfg *magiclink.Config) error {
	if o.dbURL != "" && o.store != "postgres" {
		return errors.New("-database-url needs -store postgres")
	}
	if o.pgPool < 1 || o.pgPool > 10_000 {
		return fmt.Errorf("-pg-pool %d: want 1 to 10000 connections", o.pgPool)
	}
	switch o.store {
	case "memory":
		st.describe = "memory store and limiter"
	case "redis":
		addr, stop, err := startRedis()
		if err != nil {
			return err
		}
		st.closers = append(st.closers, stop)
		rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 4 * o.stormConns, ContextTimeoutEnabled: true})
		st.closers = append(st.closers, func() { _ = rdb.Close() })
		st.rdb = rdb
		rs, err := redisstore.New(rdb)
		if err != nil {
			return err
		}
		cfg.Store, cfg.Limiter = rs, rs
		st.describe = "Redis store and limiter"
	case "postgres":
		// One connection per calm client: the storm's clients queue for
		// them, as behind any bounded pool. On this 2-core machine a pool
		// of 64 (one per storm client) ran the storm slower, with a p99
		// about 3× longer, than one of 16 (flowload -pg-pool compares).
		ps, where, stop, err := startPostgres(o.dbURL, o.pgPool)
		if err != nil {
			return err
		}
		st.closers = append(st.closers, stop)
		cfg.Store, cfg.Limiter = ps, ps
		st.describe = "pgstore as store and limiter, " + where
	default:
		return fmt.Errorf("-store %q: want memory, redis or postgres", o.store)
	}
	return nil
}

func buildMail(o options, st *stack, cfg *magiclink.Config) error {
	if o.outbox != "memory" && (o.outbox != "redis" || o.mail != "smtp" || o.store != "redis") {
		return fmt.Errorf("-outbox %q: want memory, or redis with -mail smtp -store redis", o.outbox)
	}
	switch o.mail {
	case "capture":
		c := newCapture()
		cfg.Mailer, st.mails = c, c
		st.describe += ", mail captured in memory"
	case "smtp":
		k, err := startSink()
		if err != nil {
			return err
		}
		st.closers = append(st.closers, k.close)
		smtpm, err := mailer.NewSMTPFromURL("smtp://"+k.addr()+"?tls=none", "login@example.com")
		if err != nil {
			return err
		}
		st.closers = append(st.closers, func() { _ = smtpm.Close() })
		st.mails = k
		if o.outbox == "redis" {
			return buildRedisOutbox(st, cfg, smtpm)
		}
		d := mailer.NewDispatcher(smtpm, mailer.DispatcherOptions{Workers: 16, Wait: time.Second, Logger: quiet()})
		st.closers = append(st.closers, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = d.Close(ctx)
		})
		cfg.Mailer = d
		st.describe += ", real SMTP to a loopback sink through a Dispatcher (16 workers)"
	default:
		return fmt.Errorf("-mail %q: want capture or smtp", o.mail)
	}
	return nil
}

// buildRedisOutbox delivers through redisstore's durable outbox, set up as
// the example server does with REDIS_URL and SMTP_URL (the workers render,
// with the Service's templates), but with 16 workers like the Dispatcher.
func buildRedisOutbox(st *stack, cfg *magiclink.Config, smtpm *mailer.SMTP) error {
	templates := mailer.DefaultTemplates()
	ob, err := redisstore.NewOutbox(st.rdb, smtpm, mailer.OutboxOptions{Secret: cfg.Secret, Renderer: templates, Workers: 16, Logger: quiet()})
	if err != nil {
		return err
	}
	st.closers = append(st.closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = ob.Close(ctx)
	})
	cfg.Mailer, cfg.Templates = ob, templates
	st.describe += ", real SMTP to a loopback sink through redisstore's outbox (16 workers)"
	return nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// run builds the stack, runs the phases and prints their figures. When ctx
// is cancelled (Ctrl-C) the phase under way stops, the rest finish at once,
// and run returns an error after cleaning up.
func run(ctx context.Context, o options) error {
	st, err := buildStack(o)
	if err != nil {
		return err
	}
	defer st.close()
	prof, err := newPhaseProfiler(o.profileDir)
	if err != nil {
		return err
	}
	r := &runner{ctx: ctx, o: o, st: st, prof: prof,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.stormConns, MaxConnsPerHost: o.stormConns}}}
	fmt.Printf("flowload: %d connections (storm %d), %s, default rate limits, GOMAXPROCS shared with the server\n", o.conns, o.stormConns, st.describe)

	if o.warmup > 0 {
		// Not compared: it fills the store and the heap, so that send-new
		// does not run on an empty store and a small heap (few, cheap
		// collections) while the later phases run on a full one.
		var w atomic.Int64
		r.sendPhase("warm-up", func() result {
			return phase(ctx, o.conns, o.warmup, -1, func() (int, error) { return r.sendTo(w.Add(1) + 30_000_000) })
		})
		st.mails.takeTokens()
	}
	sendNew := r.sendPhase("send-new", func() result {
		return phase(ctx, o.conns, o.duration, -1, func() (int, error) { return r.sendTo(r.seq.Add(1)) })
	})
	verify := r.verifyPhase()
	// The same addresses again: they are users now. The per-address burst
	// (2) leaves each one more send.
	var again atomic.Int64
	sendExisting := r.sendPhase("send-existing", func() result {
		return phase(ctx, o.conns, o.duration, int(r.seq.Load()), func() (int, error) { return r.sendTo(again.Add(1)) })
	})
	var refused int64
	storm := r.sendPhase("storm", func() result {
		var res result
		res, refused = stormPhase(ctx, o.stormConns, o.duration, func() int64 { return r.seq.Add(1) + 10_000_000 }, r.sendTo)
		return res
	})
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}
	fmt.Printf("%-16s %7d refused attempts retried at once (%.0f%% of all attempts)\n", "storm refusals", refused, 100*float64(refused)/float64(refused+int64(storm.res.n)))
	fmt.Printf("ratios: send-existing/send-new %.2f (target ≥ 0.85), storm accepted/calm accepted %.2f (target ≥ 0.80), duplicate Message-IDs %d\n",
		sendExisting.rate()/sendNew.rate(), storm.rate()/sendNew.rate(), st.mails.duplicates())
	fmt.Printf("        (the phases alone, their queued mail not counted: %.2f and %.2f; CPU per send %.0f / %.0f / %.0f µs)\n",
		sendExisting.phaseRate()/sendNew.phaseRate(), storm.phaseRate()/sendNew.phaseRate(),
		sendNew.cpuPerSend(), sendExisting.cpuPerSend(), storm.cpuPerSend())
	if verify.bad > 0 {
		return fmt.Errorf("%d failed verifies", verify.bad)
	}
	if bad := sendNew.res.bad + sendExisting.res.bad; bad > 0 && o.mail == "capture" {
		return fmt.Errorf("%d refused sends with an in-memory mailer", bad)
	}
	return nil
}

// runner is what the phases of one run share.
type runner struct {
	ctx    context.Context
	o      options
	st     *stack
	client *http.Client
	prof   *phaseProfiler
	seq    atomic.Int64 // addresses handed out
	// accepted counts the sends accepted by the phases so far.
	accepted int
}

func (r *runner) sendTo(n int64) (int, error) {
	body := fmt.Sprintf(`{"email":"load%d@example.com","callback_origin":%q,"callback_next":"/"}`, n, r.st.base)
	return post(r.client, r.st.base+"/auth/send-magic-link", body, n)
}

// profiled runs the phase f under the phase profiler.
func (r *runner) profiled(name string, f func() result) result {
	if err := r.prof.start(name); err != nil {
		log.Printf("profile of %s: %v", name, err)
	}
	res := f()
	if err := r.prof.stop(name); err != nil {
		log.Printf("profile of %s: %v", name, err)
	}
	return res
}

// sendPhase runs the send phase f, which starts with an empty mail queue,
// and measures it until its mail is delivered (see sendFigures).
func (r *runner) sendPhase(name string, f func() result) sendFigures {
	cpu0 := readCPU()
	res := r.profiled(name, f)
	fig := drained(r.ctx, r.st.mails, name, res, r.accepted, cpu0)
	r.accepted += res.status[http.StatusOK]
	return fig
}

// verifyPhase verifies every token mailed so far.
func (r *runner) verifyPhase() result {
	tokens := r.st.mails.takeTokens()
	var next atomic.Int64
	verify := r.profiled("verify", func() result {
		return phase(r.ctx, r.o.conns, r.o.duration, len(tokens), func() (int, error) {
			i := next.Add(1) - 1
			body := fmt.Sprintf(`{"token_hash":%q,"type":"magiclink"}`, tokens[i])
			return post(r.client, r.st.base+"/auth/verify", body, 1_000_000+i)
		})
	})
	verify.print("verify")
	return verify
}

// stormPhase runs conns closed-loop clients for duration: each sends to a
// new address and, when refused (429, 503 or a network error), sends the
// same request again at once, as a naive client library would. The result
// counts one entry per accepted or finally failed send; refused attempts
// are returned separately.
func stormPhase(ctx context.Context, conns int, duration time.Duration, nextAddr func() int64, send func(int64) (int, error)) (result, int64) {
	deadline := time.Now().Add(duration)
	var refused atomic.Int64
	res := phase(ctx, conns, duration, -1, func() (int, error) {
		n := nextAddr()
		for {
			code, err := send(n)
			retryable := err != nil || code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable
			if !retryable || time.Now().After(deadline) || ctx.Err() != nil {
				return code, err
			}
			refused.Add(1)
		}
	})
	return res, refused.Load()
}

// capture is an in-memory Mailer that keeps only the link's token, so a
// long run holds no rendered mails.
type capture struct {
	mu      sync.Mutex
	tokens  []string
	n       int
	arrived chan struct{}
}

func newCapture() *capture { return &capture{arrived: make(chan struct{})} }

func (c *capture) Send(_ context.Context, m *mailer.Message) error {
	u, err := url.Parse(m.Link)
	if err != nil {
		return mailer.Permanent(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tokens = append(c.tokens, u.Query().Get("token_hash"))
	c.n++
	close(c.arrived)
	c.arrived = make(chan struct{})
	return nil
}

func (c *capture) takeTokens() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tokens
	c.tokens = nil
	return t
}

// waitFor returns at once: capture receives each mail before SendLink
// returns.
func (c *capture) waitFor(context.Context, int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *capture) duplicates() int { return 0 }

func (c *capture) received() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
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

// phase runs f on conns workers until duration passes, limit calls were
// made (limit < 0: no limit) or ctx is done.
func phase(ctx context.Context, conns int, duration time.Duration, limit int, f func() (int, error)) result {
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
			for ctx.Err() == nil && time.Now().Before(deadline) {
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
