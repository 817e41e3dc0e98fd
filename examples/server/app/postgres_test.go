package app

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/magiclink-go/magiclink/internal/testpg"
	"github.com/magiclink-go/magiclink/internal/testredis"
)

var pg testpg.Shared

func TestMain(m *testing.M) { os.Exit(pg.Run(m)) }

// userCount counts the users pgstore keeps in the database.
func userCount(t *testing.T, connString, email string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), connString)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM magiclink.users WHERE email = $1", email).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPostgresStore: DATABASE_URL alone migrates the database at start and
// keeps everything there; a sign-in's user is a row in it.
func TestPostgresStore(t *testing.T) {
	t.Parallel()
	db := pg.Database(t)
	ts := start(t, map[string]string{"DATABASE_URL": db.ConnString()})
	b := newBrowser(t, ts.base)
	m := b.requestMail("pg@example.com")
	resp, body := b.confirm(m.Link)
	b.signedIn(resp, body, "pg@example.com", "a sign-in link")
	if n := userCount(t, db.ConnString(), "pg@example.com"); n != 1 {
		t.Fatalf("%d user rows in PostgreSQL, want 1", n)
	}
	resp, body = b.do("GET", "/readyz", nil)
	b.expect(resp, body, 200, `"store":"ok"`)
}

// TestPostgresWithRedis: with both, users live in PostgreSQL and the limits
// in Redis.
func TestPostgresWithRedis(t *testing.T) {
	t.Parallel()
	db := pg.Database(t)
	srv := testredis.Start(t)
	ts := start(t, map[string]string{"DATABASE_URL": db.ConnString(), "REDIS_URL": "redis://" + srv.Addr() + "/0"})
	b := newBrowser(t, ts.base)
	m := b.requestMail("both@example.com")
	resp, body := b.confirm(m.Link)
	b.signedIn(resp, body, "both@example.com", "a sign-in link")
	if n := userCount(t, db.ConnString(), "both@example.com"); n != 1 {
		t.Fatalf("%d user rows in PostgreSQL, want 1", n)
	}
	keys, err := srv.Client(t).Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var limits, users int
	for _, k := range keys {
		switch {
		case strings.HasSuffix(k, ":rl"):
			limits++
		case strings.HasSuffix(k, ":u"), strings.HasSuffix(k, ":ue"):
			users++
		}
	}
	if limits == 0 || users != 0 {
		t.Fatalf("Redis keys %q: want rate-limit keys and no users", keys)
	}
}

// TestPostgresOutbox: with SMTP the mail goes through the PostgreSQL outbox,
// which /readyz checks; a send is accepted while the SMTP server is away.
func TestPostgresOutbox(t *testing.T) {
	t.Parallel()
	db := pg.Database(t)
	ts := start(t, map[string]string{"DATABASE_URL": db.ConnString(), "SMTP_URL": "smtp://127.0.0.1:1?tls=none",
		"MAGICLINK_MAIL_FROM": "login@example.com", "MAGICLINK_SECRET": strings.Repeat("s", 32)})
	b := newBrowser(t, ts.base)
	resp, body := b.do("GET", "/readyz", nil)
	b.expect(resp, body, 200, `"outbox":"ok"`, `"store":"ok"`)
	resp, body = b.do("GET", "/", nil)
	b.expect(resp, body, 200)
	resp, body = b.do("POST", "/signin", url.Values{"email": {"queued@example.com"}})
	b.expect(resp, body, 200, "Check your mail")
	conn, err := pgx.Connect(context.Background(), db.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var queued int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM magiclink.outbox").Scan(&queued); err != nil {
		t.Fatal(err)
	}
	if queued != 1 {
		t.Fatalf("%d mails in the PostgreSQL outbox, want 1 (SMTP is unreachable)", queued)
	}
}
