package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/pgstore"
	"github.com/magiclink-go/magiclink/store/redisstore"
)

// databaseTimeout bounds connecting to PostgreSQL and migrating at start.
const databaseTimeout = 10 * time.Second

// backends are what the environment selects to keep state: the store, the
// limiter (nil: in memory) and a maker of the durable outbox around a
// network mailer (nil: the in-memory Dispatcher).
type backends struct {
	st      store.Store
	limiter ratelimit.Limiter
	outbox  func(m mailer.Mailer, opts mailer.OutboxOptions) (mailer.Mailer, func(context.Context) error, error)
	// outboxVar names the variable that selected the outbox, for errors.
	outboxVar string
	// ready are readiness checks of backends the store cannot ping itself.
	ready []readyCheck
}

// openBackends picks them: memory by default; REDIS_URL → Redis for all;
// DATABASE_URL → PostgreSQL for all (migrated at start); both → PostgreSQL
// for the store and Redis for the limiter and the outbox, the parts that
// are written on every request and need no durability beyond the mail.
func (s *Server) openBackends(ctx context.Context, cfg *Config) (backends, error) {
	var b backends
	if cfg.Database != nil {
		pg, pool, err := s.openPostgres(ctx, cfg.Database)
		if err != nil {
			return b, err
		}
		b.st, b.limiter, b.outboxVar = pg, pg, "DATABASE_URL"
		if _, ok := b.st.(store.Pinger); !ok {
			b.ready = append(b.ready, readyCheck{"store", pool.Ping})
		}
		b.outbox = func(m mailer.Mailer, o mailer.OutboxOptions) (mailer.Mailer, func(context.Context) error, error) {
			ob, err := pg.NewOutbox(m, o)
			if err != nil {
				return nil, nil, errors.New(strings.TrimPrefix(err.Error(), "pgstore: "))
			}
			return ob, ob.Close, nil
		}
	}
	if cfg.Redis != nil {
		rs, rdb, err := s.openRedis(ctx, cfg.Redis)
		if err != nil {
			return b, err
		}
		if b.st == nil {
			b.st = rs
		}
		b.limiter, b.outboxVar = rs, "REDIS_URL"
		b.outbox = func(m mailer.Mailer, o mailer.OutboxOptions) (mailer.Mailer, func(context.Context) error, error) {
			ob, err := redisstore.NewOutbox(rdb, m, o)
			if err != nil {
				return nil, nil, errors.New(strings.TrimPrefix(err.Error(), "redisstore: "))
			}
			return ob, ob.Close, nil
		}
	}
	if b.st == nil {
		mem := store.NewMemory()
		s.closers = append(s.closers, func(context.Context) error { return mem.Close() })
		b.st = mem
	}
	return b, nil
}

// openRedis connects to Redis (with a bounded ping) and makes its store.
func (s *Server) openRedis(ctx context.Context, opts *redis.Options) (*redisstore.Store, *redis.Client, error) {
	rdb := redis.NewClient(opts)
	s.closers = append(s.closers, func(context.Context) error { return rdb.Close() })
	pingCtx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	err := rdb.Ping(pingCtx).Err()
	cancel()
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL: cannot reach Redis at %s: %w", opts.Addr, err)
	}
	rs, err := redisstore.New(rdb, redisstore.WithLogger(s.log))
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	return rs, rdb, nil
}

// openPostgres connects to PostgreSQL, applies the migrations and makes the
// store. Every failure names DATABASE_URL and the server, never the
// password.
func (s *Server) openPostgres(ctx context.Context, pc *pgxpool.Config) (*pgstore.Store, *pgxpool.Pool, error) {
	where := fmt.Sprintf("%s:%d/%s", pc.ConnConfig.Host, pc.ConnConfig.Port, pc.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, nil, fmt.Errorf("DATABASE_URL: %s", scrubPassword(err.Error(), pc.ConnConfig.Password))
	}
	s.closers = append(s.closers, func(context.Context) error { pool.Close(); return nil })
	mctx, cancel := context.WithTimeout(ctx, databaseTimeout)
	defer cancel()
	if err := pgstore.Migrate(mctx, pool); err != nil {
		if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, fmt.Errorf("DATABASE_URL: cannot reach PostgreSQL at %s: %s", where, scrubPassword(err.Error(), pc.ConnConfig.Password))
		}
		return nil, nil, fmt.Errorf("DATABASE_URL: migrating %s: %s", where, scrubPassword(err.Error(), pc.ConnConfig.Password))
	}
	pg, err := pgstore.New(mctx, pool, pgstore.WithLogger(s.log))
	if err != nil {
		return nil, nil, fmt.Errorf("DATABASE_URL: %s", scrubPassword(err.Error(), pc.ConnConfig.Password))
	}
	s.closers = append(s.closers, func(context.Context) error { return pg.Close() })
	return pg, pool, nil
}

// parseDatabaseURL parses DATABASE_URL, a postgres:// or postgresql:// URL,
// without ever repeating its password.
func parseDatabaseURL(raw string) (*pgxpool.Config, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return nil, errors.New("DATABASE_URL must be a postgres://user:password@host:port/database URL")
	}
	pc, err := pgxpool.ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL is invalid: %s", scrub(err.Error(), raw))
	}
	return pc, nil
}

// scrubPassword removes password from msg.
func scrubPassword(msg, password string) string {
	if password == "" {
		return msg
	}
	return strings.ReplaceAll(msg, password, "xxxxx")
}
