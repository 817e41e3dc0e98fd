// Package pgstore implements every magiclink store contract (store.Store:
// tokens and codes, users, customers, sessions), the rate limiter
// (ratelimit.Limiter and BatchLimiter) and a durable mail outbox
// (mailer.Outbox, Store.NewOutbox) on PostgreSQL through pgx v5, so that
// several instances of a server share sign-in links, codes, users,
// sessions, rate limits and queued mail with PostgreSQL alone, and users
// live in SQL beside the application's own data.
//
// Apply the schema with Migrate, then open the store with New:
//
//	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//	...
//	if err := pgstore.Migrate(ctx, pool); err != nil { ... }
//	st, err := pgstore.New(ctx, pool)
//	...
//	defer st.Close()
//
// # Schema
//
// Tables live in their own schema, "magiclink" unless WithSchema says
// otherwise: tokens, codes, users, customers, sessions, outbox, and the
// UNLOGGED rate_limits (a crash empties it, which only gives every key its
// full burst back). The schema is created and upgraded by Migrate from
// versioned SQL files embedded in this package; Migrate is idempotent and
// takes an advisory lock, so several instances may run it at once on
// start. PostgreSQL 13 or newer is required.
//
// # Statements
//
// Every operation is one SQL statement, hence one round trip once pgx has
// prepared it on a connection: PutToken (the token and, with a code, the
// address's active code, in one statement), ConsumeToken (one DELETE …
// RETURNING), ConsumeCode (one UPDATE of the code that also deletes its
// link), each user and customer call, FindOrCreateUser (store.UserEnsurer:
// a verify with a first sign-in is 2 statements), a rate-limit decision for
// any number of keys (one call of a PL/pgSQL function that locks the keys'
// rows, decides and charges all of them or none), PeekToken
// (store.TokenPeeker), each session call (a lookup with its touch is one,
// so an authenticated request costs one round trip; so is a refresh
// rotation) and an outbox send.
//
// # Tracing
//
// Each statement of a store call gets an OpenTelemetry client span named
// after it, inside the caller's recording span only, never recording the
// SQL arguments; see WithTracerProvider.
//
// # Time
//
// Expiry of tokens, codes and sessions is judged by the store's clock
// (WithClock), so tests can drive it with a fake clock. The rate limiter
// and the outbox's visibility timeout read the database server's clock, so
// every instance sharing the database agrees on them. Expired rows are
// deleted in the background, in bounded batches (WithSweepInterval,
// WithSweepBatch), by a goroutine that Close stops.
//
// # Errors
//
// A missing or expired record is store.ErrNotFound, a taken unique key
// store.ErrExists. A connection failure, timeout, closed pool, or a server
// that is shutting down, starting, in recovery, read only or out of
// connections yields an error matching store.ErrUnavailable that keeps the
// pgx error as its cause; the pool reconnects by itself when the server is
// back. A caller's own cancellation is returned as is. If the reply to a
// consuming statement is lost, the link or code may be lost with it, never
// used twice.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"github.com/magiclink-go/magiclink/internal/deadline"
	"github.com/magiclink-go/magiclink/store"
)

// DefaultSchema is the schema used without WithSchema.
const DefaultSchema = "magiclink"

// DefaultTimeout is the per-call deadline used without WithTimeout.
const DefaultTimeout = 2 * time.Second

// Defaults for the background deletion of expired rows.
const (
	DefaultSweepInterval = time.Minute
	DefaultSweepBatch    = 1000
)

// Store is a PostgreSQL-backed store.Store and rate limiter. It is safe for
// concurrent use. It does not own the pool: closing the pool is the
// caller's business, after Close.
type Store struct {
	pool    *pgxpool.Pool
	db      tracedPool // the pool, for statements that get spans
	schema  string
	q       queries
	clock   func() time.Time
	timeout time.Duration
	log     *slog.Logger

	sweep     sweepConfig
	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
}

var (
	_ store.Store       = (*Store)(nil)
	_ store.UserEnsurer = (*Store)(nil)
	_ store.TokenPeeker = (*Store)(nil)
)

// Option configures New and Migrate.
type Option func(*options)

type options struct {
	schema  string
	clock   func() time.Time
	timeout time.Duration
	log     *slog.Logger
	sweep   sweepConfig

	tracerProvider trace.TracerProvider
}

func defaultOptions() options {
	return options{
		schema:  DefaultSchema,
		clock:   time.Now,
		timeout: DefaultTimeout,
		log:     slog.Default(),
		sweep:   sweepConfig{interval: DefaultSweepInterval, batch: DefaultSweepBatch},
	}
}

// maxIdentifier is PostgreSQL's longest identifier, in bytes.
const maxIdentifier = 63

// WithSchema sets the schema that holds the tables (default "magiclink").
// Several applications can share one database with different schemas. Give
// Migrate and New the same one. Any name of 1-63 bytes without $ or NUL
// works; it is always quoted.
func WithSchema(name string) Option {
	return func(o *options) { o.schema = name }
}

// WithClock sets the clock that judges token and code expiry (default
// time.Now). A token whose ExpiresAt is not after clock() is gone, even if
// its row is still there. The rate limiter uses the database clock.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.clock = now }
}

// WithTimeout sets the deadline applied to each call whose context has none
// (default DefaultTimeout). Zero disables it; then only the pool's own
// timeouts apply.
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// WithLogger sets where failures of the background sweeper are logged
// (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// WithSweepInterval sets how often expired rows are deleted (default one
// minute). Zero turns the sweeper off: expired rows are then never returned
// but stay until something else deletes them.
func WithSweepInterval(d time.Duration) Option {
	return func(o *options) { o.sweep.interval = d }
}

// WithSweepBatch bounds how many rows one deleting statement of the sweeper
// removes (default 1000), so that it never holds many row locks or runs for
// long.
func WithSweepBatch(n int) Option {
	return func(o *options) { o.sweep.batch = n }
}

// New returns a Store on pool. It checks that Migrate has brought the
// schema to the version this package needs, so it fails (with an error
// matching store.ErrUnavailable) when the database cannot be reached. It
// starts the background sweeper; Close stops it.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	if pool == nil {
		return nil, errors.New("pgstore: nil pool")
	}
	if o.clock == nil {
		return nil, errors.New("pgstore: nil clock")
	}
	if o.log == nil {
		return nil, errors.New("pgstore: nil logger")
	}
	if o.sweep.interval < 0 || o.sweep.batch <= 0 {
		return nil, fmt.Errorf("pgstore: sweep interval %v must not be negative and batch %d must be positive",
			o.sweep.interval, o.sweep.batch)
	}
	s := &Store{pool: pool, db: newTracedPool(pool, o.tracerProvider, o.schema), schema: o.schema, q: newQueries(o.schema), clock: o.clock, timeout: o.timeout, log: o.log, sweep: o.sweep}
	if err := s.checkSchema(ctx, o.schema); err != nil {
		return nil, err
	}
	if s.sweep.interval > 0 {
		s.stop = make(chan struct{})
		s.stopped = make(chan struct{})
		go s.sweepLoop()
	}
	return s, nil
}

// buildOptions applies opts to the defaults and checks what New and
// Migrate share.
func buildOptions(opts []Option) (options, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if o.schema == "" || len(o.schema) > maxIdentifier || strings.ContainsAny(o.schema, "$\x00") {
		// $ would end the dollar-quoted function bodies of the migrations.
		return o, fmt.Errorf("pgstore: schema name %q must be 1-%d bytes without $ or NUL", o.schema, maxIdentifier)
	}
	if o.timeout < 0 {
		return o, fmt.Errorf("pgstore: negative timeout %v", o.timeout)
	}
	return o, nil
}

// checkSchema fails unless the schema is at the version this package needs.
func (s *Store) checkSchema(ctx context.Context, schema string) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	v, err := schemaVersion(ctx, s.pool, pgx.Identifier{schema}.Sanitize())
	if err != nil {
		return s.fail(ctx, "check schema", err)
	}
	if want := latestVersion(); v < want {
		return fmt.Errorf("pgstore: schema %q is at version %d, this package needs %d: run pgstore.Migrate", schema, v, want)
	}
	return nil
}

// Close stops the background sweeper and waits for it. It does not close
// the pool. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.stop != nil {
			close(s.stop)
			<-s.stopped
		}
	})
	return nil
}

// withTimeout applies the store's per-call deadline when ctx has none.
func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return deadline.Default(ctx, s.timeout)
}

// nullDigest stores a zero digest as NULL.
func nullDigest(d store.Digest) []byte {
	if d.IsZero() {
		return nil
	}
	return d[:]
}

// digest reads a bytea that holds a digest or NULL.
func digest(b []byte) (store.Digest, error) {
	var d store.Digest
	if b == nil {
		return d, nil
	}
	if len(b) != len(d) {
		return d, fmt.Errorf("pgstore: %w: digest of %d bytes", errCorrupt, len(b))
	}
	copy(d[:], b)
	return d, nil
}

// errCorrupt reports a row this package cannot read.
var errCorrupt = errors.New("corrupt row")
