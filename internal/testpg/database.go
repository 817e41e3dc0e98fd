package testpg

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Shared is one cluster for a whole test binary, started on first use and
// removed by Run when the tests are done. Its zero value is ready to use;
// declare it in the test package and call Run from TestMain.
type Shared struct {
	once sync.Once
	srv  *Server
	// skip, when not empty, says why there is no server (PostgreSQL not
	// installed); err says why starting it failed.
	skip string
	err  error
}

// Run runs the tests and then removes the cluster, if one was started. It
// returns m.Run's exit code, for os.Exit in TestMain.
func (sh *Shared) Run(m *testing.M) int {
	code := m.Run()
	if sh.srv != nil {
		sh.srv.destroy()
	}
	return code
}

// Server returns the shared cluster, starting it on first use. It skips
// (or fails, under MAGICLINK_REQUIRE_POSTGRES=1) when PostgreSQL is not
// installed. Do not Kill or Freeze it: other tests use it.
func (sh *Shared) Server(t testing.TB) *Server {
	t.Helper()
	sh.once.Do(func() {
		b, msg := findBins()
		if msg != "" {
			sh.skip = msg
			return
		}
		sh.srv, sh.err = newServer(b)
	})
	if sh.skip != "" {
		skipOrFail(t, sh.skip)
	}
	if sh.err != nil {
		t.Fatalf("testpg: %v", sh.err)
	}
	return sh.srv
}

// Database creates a fresh, empty database on the shared cluster for this
// test and drops it when the test ends.
func (sh *Shared) Database(t testing.TB) *Database {
	t.Helper()
	return sh.Server(t).Database(t)
}

// Database is one database of a cluster.
type Database struct {
	srv  *Server
	name string
}

// Database creates a fresh, empty database on s and drops it when the test
// ends.
func (s *Server) Database(t testing.TB) *Database {
	t.Helper()
	s.mu.Lock()
	s.dbs++
	name := fmt.Sprintf("test_%d", s.dbs)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := s.admin(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testpg: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		// FORCE ends sessions a test left open. A test that killed its
		// server has nothing to drop.
		_ = s.admin(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return &Database{srv: s, name: name}
}

// admin runs one statement in the maintenance database.
func (s *Server) admin(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.ConnString("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// Name returns the database's name.
func (d *Database) Name() string { return d.name }

// Server returns the cluster the database lives on.
func (d *Database) Server() *Server { return d.srv }

// ConnString returns a connection string for the database.
func (d *Database) ConnString() string { return d.srv.ConnString(d.name) }

// PoolConfig returns a pool configuration for the database, for a test
// that sets a tracer or pool limits before opening it.
func (d *Database) PoolConfig(t testing.TB) *pgxpool.Config {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(d.ConnString())
	if err != nil {
		t.Fatalf("testpg: %v", err)
	}
	// A dial to a server that is gone fails fast instead of hanging.
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	return cfg
}

// Pool opens a pool on the database, closed when the test ends. configure,
// if given, may change the configuration first.
func (d *Database) Pool(t testing.TB, configure ...func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	cfg := d.PoolConfig(t)
	for _, f := range configure {
		f(cfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("testpg: open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}
