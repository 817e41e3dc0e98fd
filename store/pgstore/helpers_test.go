package pgstore

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/magiclink-go/magiclink/internal/storefixture"
	"github.com/magiclink-go/magiclink/internal/testpg"
	"github.com/magiclink-go/magiclink/store"
)

// statements counts the SQL statements a pool sends, through pgx's tracer
// hook: one per Exec, Query or QueryRow, however pgx prepares it.
type statements struct {
	n atomic.Int64
	// matched holds the statements match accepts, when set.
	mu      sync.Mutex
	match   func(sql string) bool
	matched []string
}

func (c *statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	c.mu.Lock()
	if c.match != nil && c.match(d.SQL) {
		c.matched = append(c.matched, d.SQL)
	}
	c.mu.Unlock()
	return ctx
}

// countMatching returns how many statements match accepts f sent, for a
// pool that background goroutines use too.
func (c *statements) countMatching(match func(sql string) bool, f func()) int64 {
	return int64(len(c.matching(match, f)))
}

// matching returns the statements match accepts that f sent, in order.
func (c *statements) matching(match func(sql string) bool, f func()) []string {
	c.mu.Lock()
	c.match, c.matched = match, nil
	c.mu.Unlock()
	f()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.match = nil
	return c.matched
}

func (c *statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// count returns the statements f sent.
func (c *statements) count(f func()) int64 {
	before := c.n.Load()
	f()
	return c.n.Load() - before
}

// rig is a migrated database with a counted pool.
type rig struct {
	db    *testpg.Database
	pool  *pgxpool.Pool
	stmts *statements
}

// newRig gives the test a fresh, migrated database on the shared cluster.
func newRig(t testing.TB) *rig {
	t.Helper()
	return migratedRig(t, pg.Database(t))
}

func migratedRig(t testing.TB, db *testpg.Database, configure ...func(*pgxpool.Config)) *rig {
	t.Helper()
	r := &rig{db: db, stmts: &statements{}}
	r.pool = db.Pool(t, append([]func(*pgxpool.Config){func(c *pgxpool.Config) {
		c.ConnConfig.Tracer = r.stmts
	}}, configure...)...)
	if err := Migrate(context.Background(), r.pool); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return r
}

// store opens a Store on the rig, closed when the test ends. The sweeper
// is off unless opts turn it on, so that tests see exactly their own
// statements.
func (r *rig) store(t testing.TB, opts ...Option) *Store {
	t.Helper()
	s, err := New(context.Background(), r.pool, append([]Option{WithSweepInterval(0)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newToken is a fresh token created now, to the microsecond: the finest
// time PostgreSQL keeps, so that a token read back equals the one put.
func newToken(email string, withCode bool, ttl time.Duration) *store.Token {
	return storefixture.Token(time.Now().Truncate(time.Microsecond), email, withCode, ttl)
}
