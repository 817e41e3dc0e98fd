// Package redisstore implements every magiclink store contract
// (store.Store) and the rate limiter (ratelimit.Limiter) on Redis through
// go-redis v9, so that several instances of a server share sign-in links,
// codes, users and rate limits.
//
// Any redis.UniversalClient works: a standalone *redis.Client, a Sentinel
// failover client or a *redis.ClusterClient. Enable ContextTimeoutEnabled on
// the client so that the per-call deadline of this package (WithTimeout)
// bounds socket reads and writes too, not only the wait for a connection.
// Redis 6.2 or newer is required (GETDEL).
//
// # What it keeps, and what Redis must do
//
// Links and codes live until they expire (minutes). Rate-limit state lives
// one period. Users have no TTL: they are kept for good, and their ID is
// what sessions and the application's own data point to. So the server
// must keep what it is given:
//
//   - persistence: appendonly yes (AOF, best with appendfsync everysec) or
//     RDB snapshots (save); without either a restart empties the server,
//     every session ends and a returning user gets a new user ID;
//   - maxmemory-policy noeviction (the Redis default): any other policy
//     lets Redis delete users, links or sessions under memory pressure
//     (the volatile-* ones those with a TTL, allkeys-* any of them), and
//     a full server then fails writes instead, which this package reports
//     as store.ErrUnavailable.
//
// New checks both with CONFIG GET and logs one warning when either is
// missing; where CONFIG is disabled, as on many managed services, it logs
// that it could not check, and the operator must confirm them with the
// provider. An application that keeps users in its own database
// (magiclink.Config.Users) loses only links and limits to a Redis restart.
//
// # Keys
//
// Every key has the form {prefix}:{tag}:{kind}. The tag between braces is a
// Redis Cluster hash tag; it is always a hex digest or a short string of safe
// characters, never raw user input, so hostile e-mail addresses or limiter
// keys cannot move a key to another slot or collide with another key:
//
//	ml:{<hex sha256 of the link secret>}:t      token record (string)
//	ml:{<hex sha256 of the link secret>}:p      pending sign-in request waiting for that link (hash)
//	ml:{<hex sha256 of the pending cookie>}:pc  the link hash of that cookie's request (string)
//	ml:{<hex sha256(email)>}:c                  the address's active code (hash: m, t, d, n, e)
//	ml:{<hex sha256(org \x00 email)>}:ue        user, looked up by address (string)
//	ml:{<slot tag>}:u:<id tag>                  user, looked up by an ID that ends in its slot tag (string)
//	ml:{<id tag>}:u                             user, looked up by any other ID (string; earlier versions)
//	ml:{<id tag>}:cus                           customer (string)
//	ml:{<hex sha256(limiter key)>}:rl           limiter TAT (string)
//	ml:{outbox:<name>}:s, :r, :ra, :d           mail outbox (see NewOutbox)
//	ml:{<session ID>}:s                         session (hash; the ID is a digest, store.SessionID)
//	ml:{<user ID tag>}:us                       a user's session IDs (sorted set by expiry)
//
// An ID is its own tag when it is 1–64 characters of [A-Za-z0-9_.:@/+=-];
// anything else is replaced by "#" and the hex SHA-256 of it. A user's two
// keys share a slot, so that one script can create a user on a Cluster:
// when it stores a user, the store appends to the ID the caller chose a dot
// and the slot tag of the address key, six octal digits that lie in its
// slot ("usr_3q2-7wEjRl9Vv0bq0uPzRg.041266"); see userkeys.go. Limiter keys
// are always hashed: they hold addresses and IPs. Records are encoded in a
// small versioned binary format.
//
// # Round trips
//
// ConsumeToken: 1 (GETDEL). A limiter decision: 1 (one Lua script), and so
// is a batch of them (AllowBatch: one script over all its keys), except on
// a Cluster when the keys live in several slots (see AllowBatch). PutToken:
// 1 (a pipeline of SET NX PX and, with a code, HSET and PEXPIRE). ConsumeCode:
// 2 — a Lua script on the code key, then one on the token key; the two keys
// live in different cluster slots, so one script cannot hold both. The code
// record carries its encoded token (d), so a code still signs in after its
// link was used, as store.Tokens requires. A wrong code costs 1.
// CreateUser and FindOrCreateUser: 1 (one script over the user's two keys,
// on a Cluster too; only a caller's ID that already ends in another slot's
// tag costs 2 on a Cluster, and FindOrCreateUser of a new user then 3).
// Every lookup: 1 (UserByID of an ID that looks tagged but is stored in the
// old layout: 2). A session lookup, touch included: 1
// (one script); CreateSession and RotateRefresh: 1; RevokeSession: 2;
// RevokeUserSessions: 3; UserSessions: 2. On a Cluster, PutToken's pipeline is split
// between the two nodes that own its keys and sent to both at once, so it
// still costs one round trip of latency.
//
// # Tracing
//
// New adds one go-redis hook to the client that makes an OpenTelemetry
// client span per round trip on the store's keys, inside the caller's
// recording span only, never recording keys or arguments; see
// WithTracerProvider.
//
// # Time
//
// Expiry of tokens and codes is judged by the store's clock (WithClock),
// exactly like store.Memory, so tests can drive it with a fake clock; Redis
// additionally expires every record on its own, with TTLs computed from
// ExpiresAt and the real time. The limiter reads the Redis server's clock
// (TIME), so every instance sharing the server agrees on it.
//
// # Errors
//
// A missing or expired record is store.ErrNotFound. A connection failure,
// timeout, closed client, exhausted pool or a server that is loading, read
// only or down yields an error matching store.ErrUnavailable that keeps the
// go-redis error as its cause; go-redis reconnects by itself when the server
// comes back, and this package keeps no connection state of its own. A
// caller's own cancellation is returned as is. Should go-redis retry a
// GETDEL whose reply was lost (Options.MaxRetries), the retry finds nothing
// and reports store.ErrNotFound: a link can be lost to an outage, never used
// twice.
package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/magiclink-go/magiclink/internal/deadline"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

// DefaultPrefix is the key prefix used without WithPrefix.
const DefaultPrefix = "ml"

// DefaultTimeout is the per-call deadline used without WithTimeout.
const DefaultTimeout = 2 * time.Second

// Store is a Redis-backed store.Store and ratelimit.Limiter. It is safe for
// concurrent use. It does not own the client: closing the client is the
// caller's business.
type Store struct {
	rdb     redis.UniversalClient
	prefix  string
	clock   func() time.Time
	timeout time.Duration

	consumeCode *redis.Script
	takeToken   *redis.Script
	dropCode    *redis.Script
	dropIfEqual *redis.Script
	gcra        *redis.Script
	sessions    sessionScripts
	refund      *redis.Script
	pending     pendingScripts

	findOrCreateUser *redis.Script
	slots            slotTags
}

var (
	_ store.Store            = (*Store)(nil)
	_ store.UserEnsurer      = (*Store)(nil)
	_ ratelimit.BatchLimiter = (*Store)(nil)
)

// Option configures New.
type Option func(*options)

type options struct {
	prefix  string
	clock   func() time.Time
	timeout time.Duration
	logger  *slog.Logger

	tracerProvider trace.TracerProvider
}

// WithPrefix sets the key prefix (default "ml"). Several applications can
// share one Redis with different prefixes. A prefix must be non-empty and
// must not contain braces, spaces or control characters.
func WithPrefix(p string) Option {
	return func(o *options) { o.prefix = p }
}

// WithClock sets the clock that judges token and code expiry (default
// time.Now). A token whose ExpiresAt is not after clock() is gone, even if
// Redis still holds it. Redis TTLs and the rate limiter use real time.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.clock = now }
}

// WithTimeout sets the deadline applied to each call whose context has none
// (default DefaultTimeout). Zero disables it; then only the client's own
// timeouts apply.
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// WithLogger sets where New reports the server's persistence and eviction
// settings (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// New returns a Store on rdb. It reads the server's persistence and
// eviction settings (CONFIG GET save, appendonly, maxmemory-policy; one
// round trip, bounded by the store's timeout) and logs one warning when
// users and sessions would not survive a restart or could be evicted; a
// server that refuses CONFIG, or cannot be reached, is logged at info as
// unchecked. Unless WithTracerProvider says otherwise, it adds a tracing
// hook to rdb (see WithTracerProvider). It succeeds while Redis is down; calls then fail with
// store.ErrUnavailable until it is back.
func New(rdb redis.UniversalClient, opts ...Option) (*Store, error) {
	o := options{prefix: DefaultPrefix, clock: time.Now, timeout: DefaultTimeout, logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if rdb == nil {
		return nil, errors.New("redisstore: nil client")
	}
	if err := checkPrefix(o.prefix); err != nil {
		return nil, err
	}
	if o.clock == nil {
		return nil, errors.New("redisstore: nil clock")
	}
	if o.timeout < 0 {
		return nil, fmt.Errorf("redisstore: negative timeout %v", o.timeout)
	}
	if o.logger == nil {
		return nil, errors.New("redisstore: nil logger")
	}
	s := &Store{
		rdb:         rdb,
		prefix:      o.prefix,
		clock:       o.clock,
		timeout:     o.timeout,
		consumeCode: redis.NewScript(consumeCodeScript),
		takeToken:   redis.NewScript(takeTokenScript),
		dropCode:    redis.NewScript(dropCodeScript),
		dropIfEqual: redis.NewScript(dropIfEqualScript),
		gcra:        redis.NewScript(gcraScript),
		sessions:    newSessionScripts(),
		refund:      redis.NewScript(refundScript),
		pending:     newPendingScripts(),

		findOrCreateUser: redis.NewScript(findOrCreateUserScript),
		slots:            newSlotTags(),
	}
	traceClient(rdb, o.tracerProvider, o.prefix)
	s.checkDurability(o.logger)
	return s, nil
}

func checkPrefix(p string) error {
	if p == "" {
		return errors.New("redisstore: empty key prefix")
	}
	for _, r := range p {
		if r == '{' || r == '}' || r <= ' ' || r == 0x7f {
			return fmt.Errorf("redisstore: key prefix %q must not contain braces, spaces or control characters", p)
		}
	}
	return nil
}

// withTimeout applies the store's per-call deadline when ctx has none.
func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return deadline.Default(ctx, s.timeout)
}

// key builds "{prefix}:{tag}:{kind}".
func (s *Store) key(tag, kind string) string {
	var b strings.Builder
	b.Grow(len(s.prefix) + len(tag) + len(kind) + 4)
	b.WriteString(s.prefix)
	b.WriteString(":{")
	b.WriteString(tag)
	b.WriteString("}:")
	b.WriteString(kind)
	return b.String()
}

func (s *Store) tokenKey(h store.Digest) string { return s.key(hex.EncodeToString(h[:]), "t") }

func (s *Store) codeKey(email string) string { return s.key(hashTag(email), "c") }

func (s *Store) customerKey(id string) string { return s.key(idTag(id), "cus") }

// limitKey hashes every limiter key, like the code and user keys: a
// limiter key may hold an address (finding 16.8), which must not be
// readable in Redis.
func (s *Store) limitKey(key string) string { return s.key(hashTag(key), "rl") }

// hashTag is the hex SHA-256 of v.
func hashTag(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// maxRawTag is the longest ID used verbatim as a hash tag.
const maxRawTag = 64

// idTag returns v itself when it is short and made of characters that are
// harmless in a key and a hash tag, which keeps keys readable for operators;
// otherwise "#" and its SHA-256. "#" never occurs in a verbatim tag, so the
// two forms cannot collide.
func idTag(v string) string {
	if len(v) == 0 || len(v) > maxRawTag {
		return "#" + hashTag(v)
	}
	for i := 0; i < len(v); i++ {
		if !tagByte(v[i]) {
			return "#" + hashTag(v)
		}
	}
	return v
}

func tagByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("_.:@/+=-", c) >= 0
}

// mapErr classifies a go-redis error: redis.Nil becomes store.ErrNotFound;
// anything that means the server cannot be reached or cannot serve becomes
// an error matching store.ErrUnavailable that keeps err as its cause; a
// caller's cancellation and genuine command errors are returned wrapped.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisstore: %s: %w", op, store.ErrNotFound)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if unavailable(err) {
		return fmt.Errorf("redisstore: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// unavailable reports whether err means that the server cannot serve now:
// every client-side error (dial and I/O errors, timeouts, redis.ErrClosed,
// pool timeouts) and the error replies of a server that is loading, read
// only, down, out of memory, busy or refusing the connection. Other error
// replies are bugs or foreign data under our keys, which retrying will not
// fix.
func unavailable(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return true
	}
	msg := strings.TrimPrefix(rerr.Error(), "ERR ")
	for _, p := range [...]string{
		"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY",
		"NOREPLICAS", "OOM", "MISCONF", "NOAUTH", "WRONGPASS", "NOPERM",
		"max number of clients reached",
	} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// errCorrupt reports a record this package cannot decode.
var errCorrupt = errors.New("redisstore: corrupt record")
