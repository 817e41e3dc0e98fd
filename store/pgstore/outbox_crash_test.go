package pgstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/magiclink-go/magiclink/internal/testpg"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/outboxtest"
)

// The crash child is this test binary re-executed with crashChildEnv set
// to the database's connection string: it accepts crashSends mails into
// the outbox, printing "ACCEPTED <id>" for each, then "DONE", and waits
// to be killed. Its mailer fails every even-numbered mail's attempt
// temporarily (they wait out a backoff) and never finishes the others (its
// workers hold claims).
const crashChildEnv = "MAGICLINK_PGSTORE_OUTBOX_CRASH_CHILD"

const (
	crashSends   = 300
	crashWorkers = 4
)

func crashOptions() mailer.OutboxOptions {
	return mailer.OutboxOptions{Secret: []byte(outboxtest.Secret), Workers: crashWorkers, MaxAttempts: 1000,
		BaseDelay: 2 * time.Second, MaxDelay: 4 * time.Second, VisibilityTimeout: time.Second, PollInterval: 50 * time.Millisecond}
}

func crashMessage(i int) *mailer.Message {
	return &mailer.Message{To: fmt.Sprintf("crash%d@example.com", i), Subject: "Sign in", ID: fmt.Sprintf("crash-%d", i),
		Text: fmt.Sprintf("https://app.example/auth/verify?token_hash=SECRET%dTOKEN code CODE%dX", i, i),
		Link: fmt.Sprintf("https://app.example/auth/verify?token_hash=SECRET%dTOKEN", i), Code: fmt.Sprintf("CODE%dX", i)}
}

// TestOutboxSurvivesSIGKILL kills a process holding mail in every state —
// queued, claimed by its workers and waiting out a backoff — and checks
// that the table holds no link, code or address in plaintext, and that a
// second instance delivers every accepted mail, the ones the dead process
// had claimed once their visibility timeout passed, each with its ID.
func TestOutboxSurvivesSIGKILL(t *testing.T) {
	if dsn := os.Getenv(crashChildEnv); dsn != "" {
		crashChild(dsn)
		return
	}
	t.Parallel()
	r := newRig(t)
	s := r.store(t)
	// The queue's own Stats, without an outbox whose workers would claim.
	probe := &rowQueue{s: s, name: DefaultOutboxName, q: newOutboxQueries(s.schema)}
	accepted, kill := startCrashChild(t, r.db)
	held := waitRows(t, r.pool, s.schema, "the child's workers to hold claims and mail to back off", func(rs rowStates) bool {
		// At most crashWorkers: under load an expired claim may be taken
		// again by another of the child's workers before all of them hang.
		return rs.claimed > 0 && rs.claimed <= crashWorkers && rs.retried > 0 && rs.untouched > 0
	})
	kill()
	st, err := probe.Stats(t.Context(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed with %d accepted (%+v): %+v", len(accepted), held, st)
	if len(accepted) != crashSends || st.Queued != crashSends {
		t.Fatalf("accepted %d, queued %d; want %d of each", len(accepted), st.Queued, crashSends)
	}
	raw := rawOutbox(t, r.pool, DefaultSchema)
	for i := range crashSends {
		m := crashMessage(i)
		for what, secret := range map[string]string{"link": m.Link, "code": m.Code, "address": m.To} {
			if bytes.Contains(raw, []byte(secret)) {
				t.Fatalf("the outbox table holds a %s in plaintext", what)
			}
		}
	}

	rec := newRecorder()
	second, err := s.NewOutbox(rec, crashOptions())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(60 * time.Second)
	for !deliveredEvery(t, rec, accepted) {
		select {
		case <-rec.Changed():
		case <-deadline:
			t.Fatalf("the second instance delivered %d of %d mails within 60s", len(rec.Delivered()), len(accepted))
		}
	}
	if err := second.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st, err := second.Stats(t.Context()); err != nil || st.Queued != 0 || st.Dead != 0 {
		t.Fatalf("after delivery: %+v, %v; want nothing queued or dead", st, err)
	}
}

// deliveredEvery reports whether every accepted mail arrived, each only
// with its own ID.
func deliveredEvery(t *testing.T, rec *recorder, accepted map[string]string) bool {
	t.Helper()
	got := rec.Delivered()
	for to, id := range accepted {
		if len(got[to]) == 0 {
			return false
		}
		for _, g := range got[to] {
			if g != id {
				t.Fatalf("%s arrived with ID %s, accepted as %s", to, g, id)
			}
		}
	}
	return true
}

func waitRows(t *testing.T, pool *pgxpool.Pool, schema, what string, cond func(rowStates) bool) rowStates {
	t.Helper()
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		rs, err := readRowStates(t.Context(), pool, schema)
		if err == nil && cond(rs) {
			return rs
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("timed out waiting for %s: %+v, %v", what, rs, err)
		}
	}
}

// rowStates counts the outbox's rows by what the child did with them. The
// counts only grow while the child's workers hang on their claims, so a
// slow poll cannot miss them, as it could Stats' InFlight: a claim counts
// there only until its visibility timeout, 1 s after the claim, which
// under load had passed before the child had accepted all its mail.
type rowStates struct {
	claimed   int // claimed and never released: held by a (hung) worker
	retried   int // released after a failed attempt, waiting out a backoff or due again
	untouched int // never claimed
}

func readRowStates(ctx context.Context, pool *pgxpool.Pool, schema string) (rowStates, error) {
	var rs rowStates
	err := pool.QueryRow(ctx, withSchema(`SELECT
    count(*) FILTER (WHERE claim IS NOT NULL),
    count(*) FILTER (WHERE claim IS NULL AND attempts > 0),
    count(*) FILTER (WHERE claim IS NULL AND attempts = 0)
FROM {schema}.outbox WHERE NOT dead`, schema)).Scan(&rs.claimed, &rs.retried, &rs.untouched)
	return rs, err
}

// startCrashChild runs the child on db and reads its accepted mails (to →
// ID) until DONE. kill SIGKILLs it and waits for it to exit.
func startCrashChild(t *testing.T, db *testpg.Database) (map[string]string, func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOutboxSurvivesSIGKILL$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+db.ConnString())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	kill := func() {
		if !killed {
			killed = true
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
		}
	}
	t.Cleanup(kill)
	accepted := map[string]string{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if line == "DONE" {
			return accepted, kill
		}
		if f := strings.Fields(line); len(f) == 3 && f[0] == "ACCEPTED" {
			accepted[f[1]] = f[2]
		}
	}
	t.Fatalf("the child exited before DONE, after %d mails", len(accepted))
	return nil, nil
}

// crashChild is the child's main: it never returns until killed.
func crashChild(dsn string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		fail(err)
	}
	s, err := New(ctx, pool, WithSweepInterval(0))
	if err != nil {
		fail(err)
	}
	rec := newRecorder()
	rec.block = make(chan struct{}) // never closed: odd mails stay claimed
	m := mailerFunc(func(ctx context.Context, msg *mailer.Message) error {
		var i int
		_, _ = fmt.Sscanf(msg.ID, "crash-%d", &i)
		if i%2 == 0 {
			return mailer.Temporary(errors.New("451 try later"))
		}
		return rec.Send(ctx, msg)
	})
	ob, err := s.NewOutbox(m, crashOptions())
	if err != nil {
		fail(err)
	}
	for i := range crashSends {
		msg := crashMessage(i)
		if err := ob.Send(ctx, msg); err != nil {
			fail(err)
		}
		fmt.Printf("ACCEPTED %s %s\n", msg.To, msg.ID)
	}
	fmt.Println("DONE")
	select {}
}

// mailerFunc is a mailer.Mailer made of a function.
type mailerFunc func(ctx context.Context, m *mailer.Message) error

func (f mailerFunc) Send(ctx context.Context, m *mailer.Message) error { return f(ctx, m) }
