// Package testredis starts real redis-server processes for tests: a single
// server (Start), a master watched by a Sentinel (StartSentinel) or a
// three-master Cluster (StartCluster), each on free loopback ports in a
// temporary directory, without persistence unless StartWith asks for it,
// stopped by the test's cleanup.
//
// When redis-server (or, for a cluster, redis-cli) is not on PATH the test is
// skipped with a clear message, unless the environment sets
// MAGICLINK_REQUIRE_REDIS=1, as CI does; then it fails.
package testredis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink/internal/testproc"
)

// RequireEnv is the environment variable that turns a missing redis-server
// from a skip into a failure.
const RequireEnv = "MAGICLINK_REQUIRE_REDIS"

// startTimeout bounds how long a server may take to answer PING, and a
// cluster to reach cluster_state:ok.
const startTimeout = 15 * time.Second

// Server is one running redis-server.
type Server struct {
	bin  string
	port int
	// busPort is the cluster bus port, or 0 for a standalone server.
	busPort int
	// monitors is the address of the master this server watches as a
	// Sentinel, or "" for a data server.
	monitors string
	dir      string
	// extra are further redis-server arguments (StartWith).
	extra []string

	mu   sync.Mutex
	proc *process
}

// process is one run of redis-server.
type process = testproc.Process

// Start starts a standalone redis-server on a free loopback port and stops
// it when the test ends. It skips (or fails, under MAGICLINK_REQUIRE_REDIS=1)
// when redis-server is not on PATH.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := lookPath(t, "redis-server")
	return start(t, bin, false)
}

// StartWith is Start with further redis-server arguments, which override
// the defaults: StartWith(t, "--appendonly", "yes") persists to an
// append-only file in the server's directory, which Restart then reloads.
func StartWith(t testing.TB, args ...string) *Server {
	t.Helper()
	bin := lookPath(t, "redis-server")
	return start(t, bin, false, args...)
}

func start(t testing.TB, bin string, cluster bool, extra ...string) *Server {
	t.Helper()
	return startServer(t, func() *Server {
		s := &Server{bin: bin, dir: t.TempDir(), port: freePort(t), extra: extra}
		if cluster {
			s.busPort = freePort(t)
		}
		return s
	})
}

// startServer launches servers made by newServer until one starts: a port
// found free can be taken by another process before the server binds it; a
// few attempts make that race harmless.
func startServer(t testing.TB, newServer func() *Server) *Server {
	t.Helper()
	var lastErr error
	for range 5 {
		s := newServer()
		if lastErr = s.launch(); lastErr == nil {
			t.Cleanup(func() { s.kill() })
			return s
		}
	}
	t.Fatalf("testredis: %v", lastErr)
	return nil
}

// Addr returns the server's address, such as "127.0.0.1:41234".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port returns the server's TCP port.
func (s *Server) Port() int { return s.port }

// Client returns a new client of the server, closed when the test ends. It
// honours context deadlines (ContextTimeoutEnabled), as a store wants.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop kills the server and waits for it to exit. The port stays reserved
// for Restart only in the sense that nothing else of this package uses it.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.kill()
}

// Restart starts the server again on the same port, with an empty dataset
// unless StartWith enabled persistence, and waits until it answers PING.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.kill()
	// The old socket may linger briefly; redis-server sets SO_REUSEADDR,
	// so a retry only covers the rare case of a slow exit.
	if err := testproc.Relaunch(startTimeout, s.launch); err != nil {
		t.Fatalf("testredis: restart on port %d: %v", s.port, err)
	}
}

// launch starts redis-server and waits until it answers PING.
func (s *Server) launch() error {
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", "",
	}
	if s.monitors != "" {
		// Sentinel rewrites its configuration file, so it gets a fresh one
		// on every launch.
		host, port, _ := net.SplitHostPort(s.monitors)
		conf := filepath.Join(s.dir, "sentinel.conf")
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s %s %s 1\n"+
			"sentinel down-after-milliseconds %s 5000\n", s.port, s.dir, SentinelMaster, host, port, SentinelMaster)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			return err
		}
		args = []string{conf, "--sentinel"}
	} else if s.busPort != 0 {
		args = append(args,
			"--cluster-enabled", "yes",
			"--cluster-port", strconv.Itoa(s.busPort),
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000",
		)
	}
	args = append(args, s.extra...)
	p, err := testproc.Start(exec.Command(s.bin, args...))
	if err != nil {
		return err
	}
	if err := p.WaitReady(startTimeout, func() (bool, error) {
		err := probe(s.Addr(), p.Cmd.Process.Pid)
		return !errors.Is(err, errForeign), err
	}); err != nil {
		_ = p.Cmd.Process.Kill()
		<-p.Exited()
		return fmt.Errorf("redis-server on port %d: %w\n%s", s.port, err, p.Out.String())
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

// kill stops the running process, if any, and waits for it.
func (s *Server) kill() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.Cmd.Process.Kill()
	<-p.Exited()
}

// errForeign means that another process answered on the server's port.
var errForeign = errors.New("port answered by another process")

// probe dials addr plainly until the port accepts (go-redis would log every
// refused dial), then asks INFO with a fresh client (one whose dials failed
// may hold back new dials for a while) and checks that the answer comes from
// process pid: another process may have bound the port between freePort and
// the server's own bind.
func probe(addr string, pid int) error {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	_ = conn.Close()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond,
		DialerRetries: 1, ReadTimeout: time.Second, PoolSize: 1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "process_id:"+strconv.Itoa(pid)+"\r\n") {
		return fmt.Errorf("%s: %w", addr, errForeign)
	}
	return nil
}

// SentinelMaster is the master name a Sentinel from StartSentinel monitors.
const SentinelMaster = "mymaster"

// Sentinel is a master watched by one Sentinel process.
type Sentinel struct {
	master   *Server
	sentinel *Server
}

// StartSentinel starts a master and a Sentinel that monitors it as
// SentinelMaster, waits until the Sentinel knows the master, and stops both
// when the test ends. It skips (or fails, under MAGICLINK_REQUIRE_REDIS=1)
// when redis-server is not on PATH.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	bin := lookPath(t, "redis-server")
	st := &Sentinel{master: start(t, bin, false)}
	st.sentinel = startServer(t, func() *Server {
		return &Server{bin: bin, dir: t.TempDir(), port: freePort(t), monitors: st.master.Addr()}
	})
	sc := redis.NewSentinelClient(&redis.Options{Addr: st.sentinel.Addr()})
	defer sc.Close()
	deadline := time.Now().Add(startTimeout)
	for backoff := 2 * time.Millisecond; ; backoff = min(backoff*2, 100*time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		addr, err := sc.GetMasterAddrByName(ctx, SentinelMaster).Result()
		cancel()
		if err == nil && len(addr) == 2 && net.JoinHostPort(addr[0], addr[1]) == st.master.Addr() {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("testredis: sentinel does not report the master within %v: %v %v", startTimeout, addr, err)
		}
		time.Sleep(backoff)
	}
}

// Master returns the monitored master.
func (st *Sentinel) Master() *Server { return st.master }

// Addr returns the Sentinel's address.
func (st *Sentinel) Addr() string { return st.sentinel.Addr() }

// Client returns a failover client that finds the master through the
// Sentinel, closed when the test ends. It honours context deadlines.
func (st *Sentinel) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: SentinelMaster,
		SentinelAddrs: []string{st.Addr()}, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Cluster is a running three-master Redis Cluster without replicas.
type Cluster struct {
	nodes []*Server
}

// StartCluster starts three cluster-enabled servers, joins them with
// `redis-cli --cluster create`, waits until every node reports
// cluster_state:ok, and stops them when the test ends. It skips (or fails,
// under MAGICLINK_REQUIRE_REDIS=1) when redis-server or redis-cli is missing.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := lookPath(t, "redis-server")
	cli := lookPath(t, "redis-cli")
	c := &Cluster{}
	for range 3 {
		c.nodes = append(c.nodes, start(t, bin, true))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("testredis: redis-cli --cluster create: %v\n%s", err, out)
	}
	if err := c.waitOK(); err != nil {
		t.Fatalf("testredis: %v", err)
	}
	return c
}

// Addrs returns the addresses of the cluster's masters.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Nodes returns the cluster's servers, for tests that stop one.
func (c *Cluster) Nodes() []*Server { return c.nodes }

// Client returns a new cluster client, closed when the test ends. It honours
// context deadlines (ContextTimeoutEnabled).
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// waitOK polls CLUSTER INFO on every node until each reports
// cluster_state:ok and knows all three masters.
func (c *Cluster) waitOK() error {
	deadline := time.Now().Add(startTimeout)
	backoff := 5 * time.Millisecond
	for _, n := range c.nodes {
		rc := redis.NewClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			info, err := rc.ClusterInfo(ctx).Result()
			cancel()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:3") {
				break
			}
			if time.Now().After(deadline) {
				_ = rc.Close()
				return fmt.Errorf("cluster node %s not ok within %v: %v\n%s", n.Addr(), startTimeout, err, info)
			}
			time.Sleep(backoff)
			backoff = min(backoff*2, 100*time.Millisecond)
		}
		_ = rc.Close()
	}
	return nil
}

// lookPath finds a binary or skips the test (fails under RequireEnv=1).
func lookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := name + " not found on PATH; install redis-server or set " + RequireEnv + "=1 to fail"
	if name == "redis-cli" {
		msg = name + " not found on PATH; install redis-tools or set " + RequireEnv + "=1 to fail"
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// freePort asks the kernel for a free loopback port. The listener is closed
// before the server binds, so the caller retries on a lost race.
func freePort(t testing.TB) int {
	t.Helper()
	port, err := testproc.FreePort()
	if err != nil {
		t.Fatalf("testredis: %v", err)
	}
	return port
}
