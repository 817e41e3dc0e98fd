// Package testpg starts throwaway PostgreSQL clusters for tests: initdb and
// postgres from Debian's postgresql package (under /usr/lib/postgresql/*/bin,
// or on PATH) in a temporary directory, listening on a free loopback port
// only, tuned for speed (no fsync, no full-page writes, minimal WAL).
//
// A test binary shares one cluster and gives each test a fresh database:
//
//	var pg testpg.Shared
//
//	func TestMain(m *testing.M) { os.Exit(pg.Run(m)) }
//
//	func TestSomething(t *testing.T) {
//		pool := pg.Database(t).Pool(t)
//		...
//	}
//
// A test that stops the server (Kill, Freeze) starts its own with Start.
//
// initdb and postgres refuse to run as root; when the tests run as root they
// run as the "postgres" user, which then owns the temporary directory.
//
// When the binaries (or, as root, the postgres user) are missing the test is
// skipped with a clear message, unless the environment sets
// MAGICLINK_REQUIRE_POSTGRES=1, as CI does; then it fails.
package testpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/magiclink-go/magiclink/internal/testproc"
)

// RequireEnv is the environment variable that turns a missing PostgreSQL
// from a skip into a failure.
const RequireEnv = "MAGICLINK_REQUIRE_POSTGRES"

// startTimeout bounds initdb, and a server's start until it answers.
const startTimeout = 60 * time.Second

// Server is one PostgreSQL cluster: a data directory and, while running, a
// postmaster listening on 127.0.0.1:Port.
type Server struct {
	bins bins
	dir  string // temporary directory; the data directory is dir/data
	port int

	mu   sync.Mutex
	proc *process
	dbs  int
}

// process is one run of postgres.
type process struct{ *testproc.Process }

// Start initializes and starts a cluster of the test's own, and removes it
// when the test ends. It skips (or fails, under MAGICLINK_REQUIRE_POSTGRES=1)
// when PostgreSQL is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	b, msg := findBins()
	if msg != "" {
		skipOrFail(t, msg)
	}
	s, err := newServer(b)
	if err != nil {
		t.Fatalf("testpg: %v", err)
	}
	t.Cleanup(s.destroy)
	return s
}

// Launch initializes and starts a cluster outside a test, for a command
// such as bench/flowload; the caller removes it with Destroy. It fails with
// the reason when PostgreSQL is not installed or, as root, there is no
// postgres user.
func Launch() (*Server, error) {
	b, msg := findBins()
	if msg != "" {
		return nil, errors.New("testpg: " + msg)
	}
	return newServer(b)
}

// Destroy kills the server and all its backends and removes its directory.
// It is for a cluster from Launch; Start and Shared clean up on their own.
func (s *Server) Destroy() { s.destroy() }

// newServer runs initdb in a new temporary directory and starts the
// server; on failure it leaves nothing behind.
func newServer(b bins) (*Server, error) {
	dir, err := os.MkdirTemp("", "testpg-")
	if err != nil {
		return nil, err
	}
	s := &Server{bins: b, dir: dir}
	if err := s.initdb(); err != nil {
		s.destroy()
		return nil, err
	}
	// A port found free can be taken by another process before postgres
	// binds it; a few attempts make that race harmless.
	for range 5 {
		s.port, err = testproc.FreePort()
		if err != nil {
			break
		}
		if err = s.launch(); err == nil {
			return s, nil
		}
	}
	s.destroy()
	return nil, err
}

// Port returns the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Addr returns "127.0.0.1:<port>".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// ConnString returns a connection string for database db as the superuser
// "postgres" (trust authentication on loopback).
func (s *Server) ConnString(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", s.Addr(), db)
}

// initdb creates the cluster in s.dir/data.
func (s *Server) initdb() error {
	if err := s.bins.own(s.dir); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bins.initdb, "-D", s.dataDir(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "-N")
	s.bins.runAs(cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return nil
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// settings are the server's configuration: loopback TCP only, and fast
// rather than durable. synchronous_commit stays on, so a committed row is in
// the kernel's hands when the commit returns and survives a SIGKILL of the
// server (only a machine crash could lose it, and fsync is off anyway).
func (s *Server) settings() []string {
	kv := []string{
		"port=" + strconv.Itoa(s.port),
		"listen_addresses=127.0.0.1",
		"unix_socket_directories=",
		"fsync=off",
		"full_page_writes=off",
		"wal_level=minimal",
		"max_wal_senders=0",
		"checkpoint_timeout=1h",
		"max_connections=300",
		"shared_buffers=32MB",
		"max_parallel_workers_per_gather=0",
		"huge_pages=off",
		"logging_collector=off",
		"log_min_messages=warning",
	}
	args := make([]string, 0, 2*len(kv)+2)
	args = append(args, "-D", s.dataDir())
	for _, v := range kv {
		args = append(args, "-c", v)
	}
	return args
}

// launch starts postgres on s.port and waits until it answers as this
// cluster.
func (s *Server) launch() error {
	// The previous run was killed, so its lock file is stale; its PID may
	// since belong to another process, which would make postgres refuse.
	_ = os.Remove(filepath.Join(s.dataDir(), "postmaster.pid"))
	cmd := exec.Command(s.bins.postgres, s.settings()...)
	s.bins.runAs(cmd)
	tp, err := testproc.Start(cmd)
	if err != nil {
		return err
	}
	p := &process{tp}
	if err := p.WaitReady(startTimeout, s.answers); err != nil {
		p.signal(syscall.SIGKILL)
		<-p.Exited()
		return fmt.Errorf("postgres on port %d: %w\n%s", s.port, err, p.Out.String())
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

// signal sends sig to the postmaster and every backend. Each backend is
// its own session (postgres calls setsid), so a process group would not
// reach them: the postmaster is stopped first, so that it forks no new
// child while its children are found, and resumed last.
func (p *process) signal(sig syscall.Signal) {
	pid := p.Cmd.Process.Pid
	if sig != syscall.SIGCONT {
		_ = syscall.Kill(pid, syscall.SIGSTOP)
	}
	for _, c := range children(pid) {
		_ = syscall.Kill(c, sig)
	}
	_ = syscall.Kill(pid, sig)
}

// children returns the PIDs of the processes whose parent is pid, from
// /proc.
func children(pid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(b[i+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(pid) {
			continue
		}
		if c, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// answers probes the server on s.port for p.WaitReady. The answer must
// name this cluster's data directory: another process may have bound the
// port first.
func (s *Server) answers() (retry bool, err error) {
	dir, err := s.probe()
	if err != nil {
		return true, err
	}
	if dir != s.dataDir() {
		return false, fmt.Errorf("port answered by another cluster (%s)", dir)
	}
	return false, nil
}

// probe returns the data directory of the server on s.port.
func (s *Server) probe() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.ConnString("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	var dir string
	err = conn.QueryRow(ctx, "SHOW data_directory").Scan(&dir)
	return dir, err
}

// Kill sends SIGKILL to the server and all its backends, as a crash would,
// and waits for the postmaster to exit. Clients see their connections
// reset. Restart brings the same cluster back.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.kill()
}

func (s *Server) kill() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	p.signal(syscall.SIGKILL)
	<-p.Exited()
}

// Freeze stops (SIGSTOP) the server and all its backends without closing a
// connection, as a hung machine or a partitioned network would; clients
// wait until their own deadlines. The returned function resumes it; the
// test's cleanup resumes it too.
func (s *Server) Freeze(t testing.TB) (resume func()) {
	t.Helper()
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		t.Fatal("testpg: Freeze of a server that is not running")
	}
	p.signal(syscall.SIGSTOP)
	var once sync.Once
	resume = func() { once.Do(func() { p.signal(syscall.SIGCONT) }) }
	t.Cleanup(resume)
	return resume
}

// Restart kills the server if it runs and starts the same cluster again on
// the same port; what was committed before is still there (crash recovery
// replays the WAL).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.kill()
	if err := testproc.Relaunch(startTimeout, s.launch); err != nil {
		t.Fatalf("testpg: restart on port %d: %v", s.port, err)
	}
}

// Log returns what the running server has logged so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return ""
	}
	return s.proc.Out.String()
}

// destroy kills the server and removes its directory.
func (s *Server) destroy() {
	s.kill()
	_ = os.RemoveAll(s.dir)
}

// bins are the PostgreSQL programs and the user that runs them.
type bins struct {
	initdb, postgres string
	// cred is the postgres user's identity when the tests run as root,
	// else nil (run as ourselves).
	cred *syscall.Credential
}

// runAs prepares cmd to run as the postgres user when needed. If the test
// binary dies without cleaning up (a panic, a timeout), the kernel kills
// the server too (Pdeathsig), so no cluster outlives its tests; its
// backends follow their postmaster.
func (b bins) runAs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: b.cred, Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	if b.cred != nil {
		cmd.Env = append(cmd.Env, "HOME="+os.TempDir(), "USER=postgres")
	}
}

// own makes dir private to the user that runs the server.
func (b bins) own(dir string) error {
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	if b.cred == nil {
		return nil
	}
	return os.Chown(dir, int(b.cred.Uid), int(b.cred.Gid))
}

// debianBins is where Debian's postgresql packages install the server.
const debianBins = "/usr/lib/postgresql/*/bin"

// findBins locates initdb and postgres, from one installation: PATH first,
// then the newest /usr/lib/postgresql/<version>/bin. The message is
// non-empty when they cannot be used.
func findBins() (bins, string) { return findBinsIn(debianBins) }

func findBinsIn(pattern string) (bins, string) {
	var b bins
	if i, err := exec.LookPath("initdb"); err == nil {
		if p, err := exec.LookPath("postgres"); err == nil {
			b.initdb, b.postgres = i, p
		}
	}
	if b.initdb == "" {
		dirs, _ := filepath.Glob(pattern)
		sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
		for _, d := range dirs {
			i, p := filepath.Join(d, "initdb"), filepath.Join(d, "postgres")
			if executable(i) && executable(p) {
				b.initdb, b.postgres = i, p
				break
			}
		}
	}
	if b.initdb == "" {
		return b, "initdb and postgres not found on PATH or under /usr/lib/postgresql/*/bin; " +
			"install postgresql or set " + RequireEnv + "=1 to fail"
	}
	if os.Geteuid() == 0 {
		cred, err := postgresUser()
		if err != nil {
			return b, "running as root, and PostgreSQL refuses root: " + err.Error() +
				"; create the postgres user (the postgresql package does) or set " + RequireEnv + "=1 to fail"
		}
		b.cred = cred
	}
	return b, ""
}

// version is the major version in /usr/lib/postgresql/<version>/bin, or 0.
func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// postgresUser returns the identity of the "postgres" user.
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, err
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// skipOrFail skips the test with msg, or fails it under RequireEnv=1.
func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatal("testpg: " + msg)
	}
	t.Skip("testpg: " + msg)
}
