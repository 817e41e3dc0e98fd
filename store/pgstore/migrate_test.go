package pgstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/conc"
	"github.com/magiclink-go/magiclink/store"
)

// TestMigrateConcurrently: instances starting at once each run Migrate;
// all succeed and every migration is applied exactly once.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	db := pg.Database(t)
	pool := db.Pool(t)
	ctx := context.Background()
	errs := make([]error, 8)
	conc.Run(len(errs), func(i int) { errs[i] = Migrate(ctx, pool) })
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Migrate %d of %d concurrent: %v", i, len(errs), err)
		}
	}
	if err := Migrate(ctx, pool); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	var applied, distinct int
	err := pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT version) FROM magiclink.schema_migrations").Scan(&applied, &distinct)
	if err != nil {
		t.Fatal(err)
	}
	if applied != latestVersion() || distinct != applied {
		t.Fatalf("schema_migrations holds %d rows (%d versions), want each of the %d migrations once", applied, distinct, latestVersion())
	}
}

// TestSchemas: two schemas in one database are two independent stores,
// and New refuses a schema Migrate has not prepared.
func TestSchemas(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	if _, err := New(ctx, r.pool, WithSchema("tenant_b")); err == nil || !strings.Contains(err.Error(), "pgstore.Migrate") {
		t.Fatalf("New on a schema without migrations: got %v, want an error that says to run pgstore.Migrate", err)
	}
	if err := Migrate(ctx, r.pool, WithSchema("tenant_b")); err != nil {
		t.Fatal(err)
	}
	a, b := r.store(t), r.store(t, WithSchema("tenant_b"))
	tok := newToken("schema@example.com", true, time.Minute)
	if err := a.PutToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ConsumeToken(ctx, tok.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a token of schema magiclink consumed through schema tenant_b: %v", err)
	}
	if _, err := a.ConsumeToken(ctx, tok.Hash); err != nil {
		t.Fatalf("ConsumeToken in its own schema: %v", err)
	}
	// A hostile schema name is quoted, not interpreted.
	odd := `x"; DROP SCHEMA magiclink CASCADE; --`
	if err := Migrate(ctx, r.pool, WithSchema(odd)); err != nil {
		t.Fatalf("Migrate with an odd schema name: %v", err)
	}
	if _, err := New(ctx, r.pool, WithSchema(odd), WithSweepInterval(0)); err != nil {
		t.Fatalf("New with an odd schema name: %v", err)
	}
	if _, err := a.UserByID(ctx, "u_none"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("schema magiclink after an odd schema name: %v", err)
	}
}

// TestMigrations pins the embedded files' shape: versions 1..n, in order.
func TestMigrations(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if m.version != i+1 {
			t.Fatalf("migration %s has version %d, want %d (no gaps)", m.name, m.version, i+1)
		}
		if !strings.Contains(m.sql, "{schema}.") {
			t.Fatalf("migration %s names no {schema}: every object must live in the configured schema", m.name)
		}
	}
}

// TestNewOptions: bad options are refused up front; an unreachable
// database is store.ErrUnavailable.
func TestNewOptions(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	for name, opts := range map[string][]Option{
		"empty schema":     {WithSchema("")},
		"dollar in schema": {WithSchema("a$$b")},
		"long schema":      {WithSchema(strings.Repeat("s", 64))},
		"nil clock":        {WithClock(nil)},
		"negative timeout": {WithTimeout(-time.Second)},
		"zero batch":       {WithSweepBatch(0)},
		"negative sweep":   {WithSweepInterval(-time.Second)},
		"nil logger":       {WithLogger(nil)},
	} {
		if _, err := New(ctx, r.pool, opts...); err == nil {
			t.Errorf("New with %s succeeded", name)
		}
	}
	if _, err := New(ctx, nil); err == nil {
		t.Error("New with a nil pool succeeded")
	}
	r.pool.Close()
	if _, err := New(ctx, r.pool); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("New on a closed pool: %v, want store.ErrUnavailable", err)
	}
	if err := Migrate(ctx, r.pool); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Migrate on a closed pool: %v, want store.ErrUnavailable", err)
	}
}
