package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/magiclink-go/magiclink/internal/outagetest"
	"github.com/magiclink-go/magiclink/internal/storefixture"
	"github.com/magiclink-go/magiclink/internal/testpg"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/outboxtest"
	"github.com/magiclink-go/magiclink/store"
)

// outageCalls returns one of each kind of store call, each on fresh data:
// those of every store, and the outbox, sessions and Ping.
func outageCalls(s *Store, ob *Outbox) map[string]outagetest.Call {
	calls := outagetest.Calls(s)
	calls["Outbox Send"] = func(ctx context.Context, i int) error { return ob.Send(ctx, crashMessage(i)) }
	calls["CreateSession+SessionByToken"] = func(ctx context.Context, i int) error {
		sess := newTestSession(time.Now().Truncate(time.Microsecond), fmt.Sprintf("u_s%d", i))
		if err := s.CreateSession(ctx, sess); err != nil {
			return err
		}
		now := time.Now()
		_, err := s.SessionByToken(ctx, sess.TokenHash, store.Touch{At: now, IfSeenBefore: now, IdleExpiresAt: now.Add(time.Hour)})
		return err
	}
	calls["Ping"] = func(ctx context.Context, _ int) error { return s.Ping(ctx) }
	return calls
}

// TestOutage runs a private server through a crash, a hang and a restart:
// every call then fails with store.ErrUnavailable within a bound derived
// from the store's timeout, and the same store and pool serve again on
// their own once the server is back; users survive the crash.
func TestOutage(t *testing.T) {
	t.Parallel()
	srv := testpg.Start(t)
	r := migratedRig(t, srv.Database(t))
	const timeout = 500 * time.Millisecond
	s := r.store(t, WithTimeout(timeout))
	ctx := context.Background()
	ob, err := s.NewOutbox(newRecorder(), mailer.OutboxOptions{Secret: []byte(outboxtest.Secret),
		PollInterval: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ob.Close(ctx); err != nil {
			t.Errorf("outbox Close after the outage: %v", err)
		}
	})
	calls := outageCalls(s, ob)
	user := &store.User{ID: "u_kept", OrgID: "org", Email: "kept@example.com", SecretKeyDigest: storefixture.Digest(),
		CreatedAt: time.Now().Truncate(time.Microsecond)}
	if err := s.CreateUser(ctx, user); err != nil {
		t.Fatal(err)
	}
	outagetest.MustServe(t, calls, "before the outage")

	t.Run("KillMidRequest", func(t *testing.T) { killMidRequest(t, srv, r) })
	t.Run("Down", func(t *testing.T) { outagetest.MustFailFast(t, calls, 2*timeout) })
	srv.Restart(t)
	t.Run("RecoversAfterRestart", func(t *testing.T) {
		waitServing(t, s, calls)
		got, err := s.UserByEmail(ctx, "org", "kept@example.com")
		if err != nil || got.ID != user.ID || got.SecretKeyDigest != user.SecretKeyDigest || !got.CreatedAt.Equal(user.CreatedAt) {
			t.Fatalf("user after a crash and restart: %+v, %v; want %+v", got, err, user)
		}
	})
	t.Run("Frozen", func(t *testing.T) {
		resume := srv.Freeze(t)
		// A hung server answers nothing: each call waits for its deadline.
		outagetest.MustFailFast(t, calls, 3*timeout)
		resume()
		waitServing(t, s, calls)
	})
}

// killMidRequest blocks a ConsumeToken on a row lock held by another
// session, kills the server while it waits, and checks that the call
// returns store.ErrUnavailable long before its own deadline.
func killMidRequest(t *testing.T, srv *testpg.Server, r *rig) {
	ctx := context.Background()
	const deadline = 10 * time.Second
	s := r.store(t, WithTimeout(deadline))
	tok := newToken("held@example.com", false, time.Minute)
	if err := s.PutToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	holder, err := pgx.Connect(ctx, r.db.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1 FROM magiclink.tokens WHERE hash = $1 FOR UPDATE", tok.Hash[:]); err != nil {
		t.Fatal(err)
	}
	type result struct {
		err  error
		took time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		_, err := s.ConsumeToken(ctx, tok.Hash)
		done <- result{err, time.Since(start)}
	}()
	waitLockWait(t, tx)
	srv.Kill(t)
	res := <-done
	if !errors.Is(res.err, store.ErrUnavailable) {
		t.Fatalf("ConsumeToken when the server died under it: %v, want an error matching store.ErrUnavailable", res.err)
	}
	if res.took >= deadline {
		t.Fatalf("ConsumeToken took %v to notice the crash, want well under its %v deadline", res.took, deadline)
	}
}

// waitLockWait returns once some session waits for a lock, as the blocked
// ConsumeToken does; the holder's transaction asks the server.
func waitLockWait(t *testing.T, tx pgx.Tx) {
	t.Helper()
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(5 * time.Millisecond) {
		var n int
		err := tx.QueryRow(context.Background(),
			"SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()").Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
	}
	t.Fatal("ConsumeToken never waited for the held row lock")
}

// waitServing waits until the store serves again by itself (the pool
// replaces broken connections), then checks every kind of call.
func waitServing(t *testing.T, s *Store, calls map[string]outagetest.Call) {
	t.Helper()
	start := time.Now()
	for {
		_, err := s.UserByID(context.Background(), "u_none")
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("the store did not serve again within 30s of the server's return: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("serving again %v after the server returned", time.Since(start))
	for range 3 {
		outagetest.MustServe(t, calls, "after the server returned")
	}
}
