package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/magiclink-go/magiclink/store"
)

// migrationFiles are the schema's versions, NNN_name.sql, applied in order.
// A file, once released, is never changed: a change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one version of the schema.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("pgstore: migration %s: name must start with a positive version and _", base)
		}
		b, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("pgstore: migrations %s and %s share a version", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// latestVersion is the schema version this package needs.
func latestVersion() int {
	m, err := migrations()
	if err != nil || len(m) == 0 {
		return 0
	}
	return m[len(m)-1].version
}

// Migrate creates the schema (WithSchema; default "magiclink") or brings it
// to the version this package needs, applying each missing migration once,
// all in one transaction: a failure leaves the schema as it was. It is
// idempotent, and safe when several instances run it at once: they queue on
// a transaction-scoped advisory lock derived from the schema name, and each
// applies only what the ones before it did not. Of the options only
// WithSchema matters here; ctx bounds the work.
func Migrate(ctx context.Context, pool *pgxpool.Pool, opts ...Option) error {
	o, err := buildOptions(opts)
	if err != nil {
		return err
	}
	if pool == nil {
		return errors.New("pgstore: nil pool")
	}
	ms, err := migrations()
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return migrate(ctx, tx, o.schema, ms) })
	if err != nil {
		return migrateError(err)
	}
	return nil
}

// migrate applies, inside tx, the migrations the schema lacks.
func migrate(ctx context.Context, tx pgx.Tx, schema string, ms []migration) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(schema)); err != nil {
		return err
	}
	quoted := pgx.Identifier{schema}.Sanitize()
	setup := "CREATE SCHEMA IF NOT EXISTS " + quoted + ";\n" +
		"CREATE TABLE IF NOT EXISTS " + quoted + ".schema_migrations (\n" +
		"    version    integer     PRIMARY KEY,\n" +
		"    name       text        NOT NULL,\n" +
		"    applied_at timestamptz NOT NULL DEFAULT now()\n)"
	if _, err := tx.Exec(ctx, setup); err != nil {
		return err
	}
	current, err := schemaVersion(ctx, tx, quoted)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		if _, err := tx.Exec(ctx, withSchema(m.sql, schema)); err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+quoted+".schema_migrations (version, name) VALUES ($1, $2)",
			m.version, m.name); err != nil {
			return err
		}
	}
	return nil
}

// querier is what schemaVersion needs of a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// schemaVersion returns the highest applied migration of the quoted schema,
// 0 when it has none or no schema_migrations table.
func schemaVersion(ctx context.Context, q querier, quoted string) (int, error) {
	var v *int
	err := q.QueryRow(ctx, "SELECT max(version) FROM "+quoted+".schema_migrations").Scan(&v)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000") { // no table, no schema
		return 0, nil
	}
	if err != nil || v == nil {
		return 0, err
	}
	return *v, nil
}

// lockKey is the advisory lock that serializes migrations of one schema.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("magiclink/pgstore migrate\x00" + schema))
	return int64(h.Sum64())
}

// migrateError classifies a failed migration like store calls are.
func migrateError(err error) error {
	if unavailable(err) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("pgstore: migrate: %w: %w", store.ErrUnavailable, err)
	}
	return fmt.Errorf("pgstore: migrate: %w", err)
}
