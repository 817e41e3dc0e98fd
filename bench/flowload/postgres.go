package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/magiclink-go/magiclink/internal/testpg"
	"github.com/magiclink-go/magiclink/store/pgstore"
)

// pgSetupTimeout bounds connecting, migrating and, at the end, dropping
// the run's schema.
const pgSetupTimeout = 30 * time.Second

// startPostgres returns a pgstore on a schema of this run's own, in the
// database at databaseURL or, when that is empty, in a throwaway cluster
// (initdb and postgres from /usr/lib/postgresql/*/bin or PATH, as the
// postgres user when run as root). The schema is new, so that no user or
// rate-limit state of an earlier run skews the figures; stop drops it, and
// removes the throwaway cluster.
func startPostgres(databaseURL string, maxConns int) (*pgstore.Store, string, func(), error) {
	var closers []func()
	stop := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	where := "PostgreSQL at -database-url"
	if databaseURL == "" {
		srv, err := testpg.Launch()
		if err != nil {
			return nil, "", nil, err
		}
		closers = append(closers, srv.Destroy)
		databaseURL = srv.ConnString("postgres")
		where = "throwaway PostgreSQL cluster"
	}
	pool, err := openPool(databaseURL, maxConns)
	if err != nil {
		stop()
		return nil, "", nil, err
	}
	closers = append(closers, pool.Close)
	schema := "flowload_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	closers = append(closers, func() { dropSchema(pool, schema) })
	ps, err := newPGStore(pool, schema)
	if err != nil {
		stop()
		return nil, "", nil, err
	}
	closers = append(closers, func() { _ = ps.Close() })
	return ps, fmt.Sprintf("%s (pool of %d)", where, maxConns), stop, nil
}

// openPool opens a pool of at most maxConns connections and checks that
// the server answers.
func openPool(databaseURL string, maxConns int) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("-database-url: %w", err)
	}
	cfg.MaxConns = int32(maxConns)
	ctx, cancel := context.WithTimeout(context.Background(), pgSetupTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return pool, nil
}

// newPGStore migrates schema and opens the store on it, quiet, with the
// default timeout and sweeper.
func newPGStore(pool *pgxpool.Pool, schema string) (*pgstore.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), pgSetupTimeout)
	defer cancel()
	if err := pgstore.Migrate(ctx, pool, pgstore.WithSchema(schema)); err != nil {
		return nil, err
	}
	return pgstore.New(ctx, pool, pgstore.WithSchema(schema), pgstore.WithLogger(quiet()))
}

// dropSchema removes the run's schema and everything in it.
func dropSchema(pool *pgxpool.Pool, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), pgSetupTimeout)
	defer cancel()
	_, _ = pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
}
