package pgstore

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/magiclink-go/magiclink/internal/testpg"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/outboxtest"
)

func TestOutboxConformance(t *testing.T) {
	t.Parallel()
	db := pg.Database(t)
	var schemas atomic.Int32
	outboxtest.Run(t, func(t *testing.T) outboxtest.Backend {
		// A schema per subtest; every Open shares it, as the instances of
		// a deployment share a database.
		return outboxBackend(t, db, fmt.Sprintf("outbox_%d", schemas.Add(1)))
	})
}

// TestOutboxOutages runs the suite's outage cases on a cluster of their
// own, which they kill and restart.
func TestOutboxOutages(t *testing.T) {
	t.Parallel()
	srv := testpg.Start(t)
	db := srv.Database(t)
	outboxtest.RunOutages(t, func(t *testing.T) outboxtest.Backend {
		b := outboxBackend(t, db, "outbox")
		b.Kill, b.Restart = srv.Kill, srv.Restart
		return b
	})
}

// outboxBackend is the outbox of a store in schema on db.
func outboxBackend(t *testing.T, db *testpg.Database, schema string) outboxtest.Backend {
	pool := db.Pool(t, func(c *pgxpool.Config) { c.MaxConns = 16 })
	if err := Migrate(context.Background(), pool, WithSchema(schema)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	s, err := New(context.Background(), pool, WithSchema(schema), WithSweepInterval(0))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return outboxtest.Backend{
		Open: func(t *testing.T, m mailer.Mailer, o mailer.OutboxOptions) mailer.Outbox {
			ob, err := s.NewOutbox(m, o)
			if err != nil {
				t.Fatalf("NewOutbox: %v", err)
			}
			return ob
		},
		Raw: func(t *testing.T) []byte { return rawOutbox(t, pool, schema) },
	}
}

// rawOutbox returns what the outbox table's rows hold beyond numbers: the
// text columns and the sealed payload as its raw bytes, as a dump would
// show them. The numeric columns (timestamps to the microsecond, claim
// tokens, counters) and the hex form of the payload are left out, as
// outboxtest.Backend.Raw allows: they hold runs of digits that matched
// the test's random 6-digit codes now and then: the row's whole text,
// with the payload in hex, failed the sealed-at-rest test in full runs.
func rawOutbox(t *testing.T, pool *pgxpool.Pool, schema string) []byte {
	t.Helper()
	rows, err := pool.Query(context.Background(), withSchema(
		`SELECT concat_ws(E'\t', name, msg_id, reason), sealed FROM {schema}.outbox`, schema))
	if err != nil {
		t.Fatalf("read the outbox table: %v", err)
	}
	defer rows.Close()
	var out []byte
	for rows.Next() {
		var text string
		var sealed []byte
		if err := rows.Scan(&text, &sealed); err != nil {
			t.Fatal(err)
		}
		out = append(append(append(out, text...), '\n'), sealed...)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOutboxSendStatements: an accepted send is one statement (the INSERT
// that also notifies), with a reservation or without (Reserve sends none),
// so a Service's send with the outbox stays within DESIGN's 3.
func TestOutboxSendStatements(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	s := r.store(t)
	ob, err := s.NewOutbox(newRecorder(), mailer.OutboxOptions{Secret: []byte(outboxtest.Secret)})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close(t.Context())
	for i := range 3 {
		// The fetcher's statements run concurrently; count the INSERTs.
		n := r.stmts.countMatching(isInsert, func() {
			if err := ob.Send(t.Context(), crashMessage(i)); err != nil {
				t.Fatal(err)
			}
		})
		if n != 1 {
			t.Fatalf("Send %d took %d statements, want 1", i, n)
		}
	}
	// A reservation adds none: Reserve sends nothing, its commit the INSERT.
	var res mailer.Reservation
	n := r.stmts.countMatching(notOutboxWork, func() {
		if res, err = ob.Reserve(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
	if c := r.stmts.countMatching(notOutboxWork, func() { err = res.Commit(t.Context(), crashMessage(3)) }); n != 0 || c != 1 || err != nil {
		t.Fatalf("Reserve took %d statements and its Commit %d (%v), want 0 and 1", n, c, err)
	}
	if _, err := s.NewOutbox(newRecorder(), mailer.OutboxOptions{Secret: []byte("short")}); err == nil {
		t.Fatal("NewOutbox accepted a short secret")
	}
	if _, err := s.NewOutbox(newRecorder(), mailer.OutboxOptions{Secret: []byte(outboxtest.Secret)}, WithOutboxName("")); err == nil {
		t.Fatal("NewOutbox accepted an empty name")
	}
}

// TestDeadLetterCap: the sweeper keeps the newest deadLetterCap dead
// letters of each outbox and deletes older ones, leaving queued mail.
func TestDeadLetterCap(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	s := r.store(t)
	ctx := context.Background()
	_, err := r.pool.Exec(ctx, `INSERT INTO magiclink.outbox (name, msg_id, accepted_at, due_at, dead, sealed)
		SELECT name, 'm' || i, now(), now(), i > 5, '\x01'
		FROM generate_series(1, $1) AS i, (VALUES ('mail'), ('other')) AS n(name)`, deadLetterCap+5+7)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.sweepOnce(); err != nil {
		t.Fatal(err)
	}
	var dead, queued, oldest int
	err = r.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE dead), count(*) FILTER (WHERE NOT dead),
		min(substr(msg_id, 2)::int) FILTER (WHERE dead) FROM magiclink.outbox WHERE name = 'mail'`).Scan(&dead, &queued, &oldest)
	if err != nil {
		t.Fatal(err)
	}
	if dead != deadLetterCap || queued != 5 || oldest != 13 {
		t.Fatalf("after the sweep: %d dead letters (oldest m%d), %d queued; want %d (oldest m13), 5", dead, oldest, queued, deadLetterCap)
	}
}

func isInsert(sql string) bool { return strings.Contains(sql, "INSERT INTO") }

// notOutboxWork accepts every statement but an outbox fetcher's or
// worker's own (claim, LISTEN, ack, retry, dead letter), which run
// concurrently with a request.
func notOutboxWork(sql string) bool {
	for _, s := range []string{"WITH ready AS", "LISTEN", "outbox WHERE ref", "outbox SET"} {
		if strings.Contains(sql, s) {
			return false
		}
	}
	return true
}
