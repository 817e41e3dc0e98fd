package pgstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/magiclink-go/magiclink/internal/storefixture"
	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/storetest"
)

func newTestSession(now time.Time, user string) *store.Session {
	tok := storefixture.Digest()
	return &store.Session{ID: store.SessionID(tok), TokenHash: tok, RefreshHash: storefixture.Digest(), UserID: user,
		Email: user + "@example.com", Method: "link", CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(24 * time.Hour), IP: "192.0.2.1", UserAgent: "test"}
}

// TestSessionStatements pins DESIGN §6: an authenticated request (a lookup
// with its touch) is one statement, and so is every other session call.
func TestSessionStatements(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	clock := storetest.NewClock(time.Now().Truncate(time.Microsecond))
	s := r.store(t, WithClock(clock.Now))
	ctx := context.Background()
	sess := newTestSession(clock.Now(), "u_stmts")
	touch := func() store.Touch {
		now := clock.Now()
		return store.Touch{At: now, IfSeenBefore: now.Add(-time.Minute), IdleExpiresAt: now.Add(time.Hour)}
	}
	next := storefixture.Digest()
	for _, c := range []struct {
		name string
		f    func() error
	}{
		{"CreateSession", func() error { return s.CreateSession(ctx, sess) }},
		{"SessionByToken, touch not due", func() error { _, err := s.SessionByToken(ctx, sess.TokenHash, touch()); return err }},
		{"SessionByToken, touch due", func() error {
			clock.Advance(2 * time.Minute)
			got, err := s.SessionByToken(ctx, sess.TokenHash, touch())
			if err == nil && !got.LastSeenAt.Equal(clock.Now()) {
				err = errors.New("not touched")
			}
			return err
		}},
		{"SessionByID", func() error { _, err := s.SessionByID(ctx, sess.ID, store.Touch{}); return err }},
		{"RotateRefresh", func() error { _, err := s.RotateRefresh(ctx, sess.ID, sess.RefreshHash, next, touch()); return err }},
		{"RotateRefresh, reuse", func() error {
			_, err := s.RotateRefresh(ctx, sess.ID, sess.RefreshHash, storefixture.Digest(), store.Touch{})
			if !errors.Is(err, store.ErrRefreshReused) {
				return err
			}
			return nil
		}},
		{"UserSessions", func() error { _, err := s.UserSessions(ctx, sess.UserID); return err }},
		{"RevokeUserSessions", func() error { _, err := s.RevokeUserSessions(ctx, sess.UserID, ""); return err }},
	} {
		var err error
		if n := r.stmts.count(func() { err = c.f() }); err != nil || n != 1 {
			t.Errorf("%s: %d statements, %v; want 1, nil", c.name, n, err)
		}
	}
}

// TestSessionsSwept: the sweeper deletes idled-out, aged-out and
// reuse-revoked sessions, and keeps live ones.
func TestSessionsSwept(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	clock := storetest.NewClock(time.Now().Truncate(time.Microsecond))
	s := r.store(t, WithClock(clock.Now))
	ctx := context.Background()
	idle, old, reused, live := newTestSession(clock.Now(), "u"), newTestSession(clock.Now(), "u"),
		newTestSession(clock.Now(), "u"), newTestSession(clock.Now(), "u")
	idle.IdleExpiresAt = clock.Now().Add(time.Minute)
	old.ExpiresAt = clock.Now().Add(time.Minute)
	for _, x := range []*store.Session{idle, old, reused, live} {
		if err := s.CreateSession(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RotateRefresh(ctx, reused.ID, reused.RefreshHash, storefixture.Digest(), store.Touch{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateRefresh(ctx, reused.ID, reused.RefreshHash, storefixture.Digest(), store.Touch{}); !errors.Is(err, store.ErrRefreshReused) {
		t.Fatalf("reuse: %v", err)
	}
	clock.Advance(time.Minute)
	if _, err := s.sweepOnce(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	rows, _ := r.pool.Query(ctx, "SELECT id FROM magiclink.sessions")
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != live.ID {
		t.Fatalf("sessions left after the sweep: %v, want only the live one %s", ids, live.ID)
	}
}

// TestMigrateUpgrades: a database at version 1 (before sessions) is
// brought to the latest version, keeping its data.
func TestMigrateUpgrades(t *testing.T) {
	t.Parallel()
	db := pg.Database(t)
	pool := db.Pool(t)
	ctx := context.Background()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return migrate(ctx, tx, DefaultSchema, ms[:1]) }); err != nil {
		t.Fatal(err)
	}
	if _, err := New(ctx, pool); err == nil {
		t.Fatal("New accepted a schema at version 1")
	}
	if _, err := pool.Exec(ctx, "INSERT INTO magiclink.customers VALUES ('cus_old', 'old@example.com', '')"); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, pool); err != nil {
		t.Fatalf("Migrate from version 1: %v", err)
	}
	s, err := New(ctx, pool, WithSweepInterval(0))
	if err != nil {
		t.Fatalf("New after the upgrade: %v", err)
	}
	defer s.Close()
	if c, err := s.CustomerByID(ctx, "cus_old"); err != nil || c.Email != "old@example.com" {
		t.Fatalf("data from version 1 after the upgrade: %+v, %v", c, err)
	}
	if err := s.CreateSession(ctx, newTestSession(time.Now(), "u_new")); err != nil {
		t.Fatalf("CreateSession after the upgrade: %v", err)
	}
}
