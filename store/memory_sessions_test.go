package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"
)

// fakeNow is a manual clock for the internal tests (storetest's Clock
// cannot be imported from package store).
type fakeNow struct{ t time.Time }

func (f *fakeNow) now() time.Time { return f.t }

func testSession(now time.Time, user string, idle time.Duration) *Session {
	var tok Digest
	_, _ = rand.Read(tok[:])
	return &Session{ID: SessionID(tok), TokenHash: tok, UserID: user, CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: now.Add(idle), ExpiresAt: now.Add(30 * 24 * time.Hour)}
}

// TestMemorySweepSessions checks that a sweep removes exactly the sessions
// past their deadline, keeps (and files again) the ones touched since, and
// drops the removed ones from their user's index.
func TestMemorySweepSessions(t *testing.T) {
	t.Parallel()
	clk := &fakeNow{t: time.Unix(1_700_000_000, 0)}
	m := NewMemory(WithClock(clk.now), WithSweepInterval(0))
	defer m.Close()
	ctx := context.Background()
	var touched []*Session
	for i := range 300 {
		s := testSession(clk.t, fmt.Sprintf("u_%d", i%7), time.Hour)
		if err := m.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			touched = append(touched, s)
		}
	}
	if n := m.Sweep(); n != 0 {
		t.Fatalf("sweep before any expiry removed %d records, want 0", n)
	}
	clk.t = clk.t.Add(50 * time.Minute)
	for _, s := range touched {
		tc := Touch{At: clk.t, IfSeenBefore: clk.t.Add(-time.Minute), IdleExpiresAt: clk.t.Add(time.Hour)}
		if _, err := m.SessionByID(ctx, s.ID, tc); err != nil {
			t.Fatal(err)
		}
	}
	clk.t = clk.t.Add(10 * time.Minute)
	if n := m.Sweep(); n != 200 {
		t.Fatalf("sweep at the idle expiry removed %d sessions, want the 200 untouched ones", n)
	}
	if n := m.sessionCount(); n != 100 {
		t.Fatalf("%d sessions left, want the 100 touched ones", n)
	}
	listed := 0
	for i := range 7 {
		l, err := m.UserSessions(ctx, fmt.Sprintf("u_%d", i))
		if err != nil {
			t.Fatal(err)
		}
		listed += len(l)
	}
	indexed := 0
	for i := range m.sess.users {
		for _, set := range m.sess.users[i].ids {
			indexed += len(set)
		}
	}
	if listed != 100 || indexed != 100 {
		t.Fatalf("after the sweep %d sessions are listed and %d indexed, want 100 and 100", listed, indexed)
	}
	clk.t = clk.t.Add(50 * time.Minute)
	if n := m.Sweep(); n != 100 {
		t.Fatalf("sweep at the touched sessions' new idle expiry removed %d, want 100", n)
	}
	if n := m.sessionCount(); n != 0 {
		t.Fatalf("%d sessions left after every deadline passed, want 0", n)
	}
}

func TestMemoryMaxSessions(t *testing.T) {
	t.Parallel()
	m := NewMemory(WithMaxSessions(memShards), WithSweepInterval(0))
	defer m.Close()
	ctx := context.Background()
	now := time.Now()
	full := 0
	for range 10 * memShards {
		if err := m.CreateSession(ctx, testSession(now, "u_full", time.Hour)); errors.Is(err, ErrFull) {
			full++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if n := m.sessionCount(); n > memShards || full == 0 {
		t.Fatalf("a store bounded to %d sessions holds %d (%d refused), want at most the bound", memShards, n, full)
	}
}
