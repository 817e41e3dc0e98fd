package testpg

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/magiclink-go/magiclink/internal/testproc"
)

var pg Shared

func TestMain(m *testing.M) { os.Exit(pg.Run(m)) }

// TestDatabasesAreFresh pins that two tests never see each other's tables.
func TestDatabasesAreFresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := pg.Database(t), pg.Database(t)
	if a.Name() == b.Name() {
		t.Fatalf("two databases share the name %q", a.Name())
	}
	pa, pb := a.Pool(t), b.Pool(t)
	if _, err := pa.Exec(ctx, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	var n int
	err := pb.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").Scan(&n)
	if err != nil || n != 0 {
		t.Fatalf("database %s sees a table of %s: n=%d, err=%v", b.Name(), a.Name(), n, err)
	}
}

// TestKillRestart pins what outage tests rely on: Kill breaks the
// connection at once, Restart serves the same data on the same port.
func TestKillRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := Start(t)
	port := srv.Port()
	db := srv.Database(t)
	conn, err := pgx.Connect(ctx, db.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}

	srv.Kill(t)
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("a query on a killed server succeeded")
	}

	srv.Restart(t)
	if srv.Port() != port {
		t.Fatalf("restarted on port %d, want %d", srv.Port(), port)
	}
	conn2, err := pgx.Connect(ctx, db.ConnString())
	if err != nil {
		t.Fatalf("connect after restart: %v", err)
	}
	defer conn2.Close(ctx)
	var x int
	if err := conn2.QueryRow(ctx, "SELECT x FROM kept").Scan(&x); err != nil || x != 42 {
		t.Fatalf("committed row after a crash and restart: x=%d, err=%v; want 42", x, err)
	}
}

// TestFreeze pins that a frozen server makes a query wait for its deadline
// and that resuming it serves again.
func TestFreeze(t *testing.T) {
	t.Parallel()
	srv := Start(t)
	pool := srv.Database(t).Pool(t)
	if err := pool.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	resume := srv.Freeze(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err := pool.Exec(ctx, "SELECT 1")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("query on a frozen server: got %v, want a deadline error", err)
	}
	resume()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := pool.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("query after resume: %v", err)
	}
}

// TestLaunchDestroy pins what a command outside a test relies on: Launch
// serves without a testing.TB, and Destroy stops the server and leaves no
// directory behind.
func TestLaunchDestroy(t *testing.T) {
	t.Parallel()
	if _, msg := findBins(); msg != "" {
		skipOrFail(t, msg)
	}
	srv, err := Launch()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, srv.ConnString("postgres"))
	if err != nil {
		srv.Destroy()
		t.Fatalf("connect to a launched server: %v", err)
	}
	srv.Destroy()
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Error("a query on a destroyed server succeeded")
	}
	_ = conn.Close(context.Background())
	if _, err := os.Stat(srv.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory %s after Destroy: %v, want it gone", srv.dir, err)
	}
}

// TestMissingPostgres pins the skip message and the RequireEnv switch.
func TestMissingPostgres(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, msg := findBinsIn(filepath.Join(t.TempDir(), "*", "bin"))
	if !strings.Contains(msg, "not found") || !strings.Contains(msg, RequireEnv+"=1") {
		t.Fatalf("message for a missing PostgreSQL %q must say so and name %s", msg, RequireEnv)
	}
	t.Setenv(RequireEnv, "")
	if skipped, failed := record(t, msg); skipped == "" || failed != "" {
		t.Fatalf("without %s a missing PostgreSQL must skip; skipped %q, failed %q", RequireEnv, skipped, failed)
	}
	t.Setenv(RequireEnv, "1")
	if skipped, failed := record(t, msg); failed == "" {
		t.Fatalf("with %s=1 a missing PostgreSQL must fail; skipped %q", RequireEnv, skipped)
	}
}

// TestFindsDebianLayout pins the lookup under /usr/lib/postgresql: the
// newest version wins.
func TestFindsDebianLayout(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	root := t.TempDir()
	for _, v := range []string{"9", "15", "13"} {
		dir := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"initdb", "postgres"} {
			if err := os.WriteFile(filepath.Join(dir, name), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, _ := findBinsIn(filepath.Join(root, "*", "bin"))
	if want := filepath.Join(root, "15", "bin", "initdb"); b.initdb != want {
		t.Fatalf("initdb = %q, want the newest %q", b.initdb, want)
	}
}

// record runs skipOrFail(msg) and returns what it skipped or failed with.
func record(t *testing.T, msg string) (skipped, failed string) {
	return testproc.Record(t, func(t testing.TB) { skipOrFail(t, msg) })
}
