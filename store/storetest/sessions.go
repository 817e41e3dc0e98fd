package storetest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/conc"
	"github.com/magiclink-go/magiclink/internal/storefixture"
	"github.com/magiclink-go/magiclink/store"
)

// Session lifetimes the suite uses.
const (
	idleTTL = time.Hour
	maxTTL  = 24 * time.Hour
)

// newSession returns a live session of user with a refresh digest.
func newSession(c *Clock, user string) *store.Session {
	now := c.Now()
	tok := storefixture.Digest()
	return &store.Session{ID: store.SessionID(tok), TokenHash: tok, RefreshHash: storefixture.Digest(),
		UserID: user, OrgID: "org_1", Email: user + "@example.com", Method: "link",
		CreatedAt: now, LastSeenAt: now, IdleExpiresAt: now.Add(idleTTL), ExpiresAt: now.Add(maxTTL),
		IP: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) storetest"}
}

func mustCreate(t *testing.T, s store.Store, sess *store.Session) {
	t.Helper()
	if err := s.CreateSession(context.Background(), sess); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
}

// touchAt is the Service's once-a-minute touch at now.
func touchAt(now time.Time) store.Touch {
	return store.Touch{At: now, IfSeenBefore: now.Add(-time.Minute), IdleExpiresAt: now.Add(idleTTL)}
}

func sameSession(got, want *store.Session) bool {
	return got.ID == want.ID && got.TokenHash == want.TokenHash && got.RefreshHash == want.RefreshHash &&
		got.UserID == want.UserID && got.OrgID == want.OrgID && got.Email == want.Email && got.Method == want.Method &&
		got.CreatedAt.Equal(want.CreatedAt) && got.LastSeenAt.Equal(want.LastSeenAt) &&
		got.IdleExpiresAt.Equal(want.IdleExpiresAt) && got.ExpiresAt.Equal(want.ExpiresAt) &&
		got.IP == want.IP && got.UserAgent == want.UserAgent
}

// wantGone checks that every way to reach sess reports ErrNotFound.
func wantGone(t *testing.T, s store.Store, sess *store.Session, why string) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.SessionByToken(ctx, sess.TokenHash, store.Touch{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SessionByToken %s: got %v, want ErrNotFound", why, err)
	}
	if _, err := s.SessionByID(ctx, sess.ID, store.Touch{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SessionByID %s: got %v, want ErrNotFound", why, err)
	}
	list, err := s.UserSessions(ctx, sess.UserID)
	if err != nil {
		t.Errorf("UserSessions %s: %v", why, err)
	}
	for _, l := range list {
		if l.ID == sess.ID {
			t.Errorf("UserSessions %s still lists the session", why)
		}
	}
}

func wantLive(t *testing.T, s store.Store, sess *store.Session, why string) {
	t.Helper()
	if _, err := s.SessionByID(context.Background(), sess.ID, store.Touch{}); err != nil {
		t.Errorf("SessionByID %s: got %v, want the live session", why, err)
	}
}

func testSessionRoundTrip(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := context.Background()
	sess := newSession(c, "u_round")
	mustCreate(t, s, sess)
	byToken, err := s.SessionByToken(ctx, sess.TokenHash, store.Touch{})
	if err != nil {
		t.Fatalf("SessionByToken of a live session: %v", err)
	}
	byID, err := s.SessionByID(ctx, sess.ID, store.Touch{})
	if err != nil {
		t.Fatalf("SessionByID of a live session: %v", err)
	}
	for _, got := range []*store.Session{byToken, byID} {
		if !sameSession(got, sess) {
			t.Fatalf("session read back as %+v, want the stored %+v", got, sess)
		}
	}
	if err := s.CreateSession(ctx, sess); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateSession of an existing ID: got %v, want ErrExists", err)
	}
}

func testSessionCreateRefuses(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := context.Background()
	long := string(make([]byte, store.MaxSessionField+1))
	cases := map[string]func(*store.Session){
		"an ID that is not SessionID(TokenHash)": func(x *store.Session) { x.ID = store.SessionID(storefixture.Digest()) },
		"no token digest":                        func(x *store.Session) { x.TokenHash = store.Digest{}; x.ID = store.SessionID(x.TokenHash) },
		"no user":                                func(x *store.Session) { x.UserID = "" },
		"an idle expiry in the past":             func(x *store.Session) { x.IdleExpiresAt = c.Now() },
		"a maximum age in the past":              func(x *store.Session) { x.ExpiresAt = c.Now().Add(-time.Second) },
		"an oversized User-Agent":                func(x *store.Session) { x.UserAgent = long },
	}
	for name, mutate := range cases {
		sess := newSession(c, "u_bad")
		mutate(sess)
		if err := s.CreateSession(ctx, sess); err == nil {
			t.Errorf("CreateSession with %s succeeded, want an error", name)
		}
		if _, err := s.SessionByID(ctx, sess.ID, store.Touch{}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("after refusing a session with %s: SessionByID got %v, want ErrNotFound", name, err)
		}
	}
	if list, err := s.UserSessions(ctx, "u_bad"); err != nil || len(list) != 0 {
		t.Fatalf("refused sessions were listed: %d, %v", len(list), err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	sess := newSession(c, "u_bad")
	if err := s.CreateSession(cctx, sess); err == nil {
		t.Fatal("CreateSession with a canceled context succeeded")
	}
	wantGone(t, s, sess, "after a canceled CreateSession")
}

func testSessionNotFound(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := context.Background()
	sess := newSession(c, "u_nf")
	mustCreate(t, s, sess)
	if _, err := s.SessionByToken(ctx, storefixture.Digest(), touchAt(c.Now())); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SessionByToken of an unknown digest: got %v, want ErrNotFound", err)
	}
	if _, err := s.SessionByID(ctx, store.SessionID(storefixture.Digest()), touchAt(c.Now())); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SessionByID of an unknown ID: got %v, want ErrNotFound", err)
	}
	// The refresh digest is no session token, and a session ID is no
	// digest: neither finds the session by token.
	if _, err := s.SessionByToken(ctx, sess.RefreshHash, store.Touch{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SessionByToken with the refresh digest: got %v, want ErrNotFound", err)
	}
	if _, err := s.RotateRefresh(ctx, store.SessionID(storefixture.Digest()), sess.RefreshHash, storefixture.Digest(), store.Touch{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RotateRefresh of an unknown session: got %v, want ErrNotFound", err)
	}
	if err := s.RevokeSession(ctx, "u_nf", store.SessionID(storefixture.Digest())); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeSession of an unknown ID: got %v, want ErrNotFound", err)
	}
	if n, err := s.RevokeUserSessions(ctx, "u_nobody", ""); err != nil || n != 0 {
		t.Errorf("RevokeUserSessions of a user without sessions: got %d, %v; want 0, nil", n, err)
	}
	if list, err := s.UserSessions(ctx, "u_nobody"); err != nil || len(list) != 0 {
		t.Errorf("UserSessions of a user without sessions: got %d, %v; want none", len(list), err)
	}
	wantLive(t, s, sess, "after lookups of other sessions")
}

func testSessionTouch(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := context.Background()
	sess := newSession(c, "u_touch")
	mustCreate(t, s, sess)
	c.Advance(30 * time.Second)
	got, err := s.SessionByToken(ctx, sess.TokenHash, touchAt(c.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastSeenAt.Equal(sess.LastSeenAt) || !got.IdleExpiresAt.Equal(sess.IdleExpiresAt) {
		t.Fatalf("a touch 30s after the last one wrote last seen %v (want %v unchanged)", got.LastSeenAt, sess.LastSeenAt)
	}
	c.Advance(31 * time.Second)
	now := c.Now()
	got, err = s.SessionByID(ctx, sess.ID, touchAt(now))
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastSeenAt.Equal(now) || !got.IdleExpiresAt.Equal(now.Add(idleTTL)) {
		t.Fatalf("a touch due after 61s returned last seen %v, idle expiry %v; want %v, %v", got.LastSeenAt, got.IdleExpiresAt, now, now.Add(idleTTL))
	}
	again, err := s.SessionByID(ctx, sess.ID, store.Touch{})
	if err != nil || !again.LastSeenAt.Equal(now) || !again.IdleExpiresAt.Equal(now.Add(idleTTL)) {
		t.Fatalf("the touch was not stored: read back %+v, %v", again, err)
	}
}

func testSessionIdleExpiry(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	sess := newSession(c, "u_idle")
	mustCreate(t, s, sess)
	c.Advance(idleTTL - time.Millisecond)
	wantLive(t, s, sess, "1ms before its idle expiry")
	c.Advance(time.Millisecond)
	wantGone(t, s, sess, "at its idle expiry")
	if _, err := s.RotateRefresh(context.Background(), sess.ID, sess.RefreshHash, storefixture.Digest(), store.Touch{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RotateRefresh of an idled-out session: got %v, want ErrNotFound", err)
	}
	// A touch arriving late cannot revive it.
	if _, err := s.SessionByToken(context.Background(), sess.TokenHash, touchAt(c.Now())); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a touch of an idled-out session: got %v, want ErrNotFound", err)
	}
	wantGone(t, s, sess, "after a late touch")
}

func testSessionMaxAge(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := context.Background()
	sess := newSession(c, "u_max")
	mustCreate(t, s, sess)
	// Used every half hour, the session never idles out...
	for c.Now().Add(30 * time.Minute).Before(sess.ExpiresAt) {
		c.Advance(30 * time.Minute)
		if _, err := s.SessionByToken(ctx, sess.TokenHash, touchAt(c.Now())); err != nil {
			t.Fatalf("session used every 30 min, at %v of %v: %v", c.Now().Sub(sess.CreatedAt), maxTTL, err)
		}
	}
	c.Advance(sess.ExpiresAt.Sub(c.Now()) - time.Millisecond)
	wantLive(t, s, sess, "1ms before its maximum age")
	// ...but ends at its maximum age, idle expiry or not.
	c.Advance(time.Millisecond)
	wantGone(t, s, sess, "at its maximum age")
}

func testRefreshRotation(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := context.Background()
	sess := newSession(c, "u_rot")
	mustCreate(t, s, sess)
	r0, r1, r2 := sess.RefreshHash, storefixture.Digest(), storefixture.Digest()
	c.Advance(2 * time.Minute)
	got, err := s.RotateRefresh(ctx, sess.ID, r0, r1, touchAt(c.Now()))
	if err != nil {
		t.Fatalf("RotateRefresh with the current digest: %v", err)
	}
	if got.RefreshHash != r1 || !got.LastSeenAt.Equal(c.Now()) || got.UserID != sess.UserID {
		t.Fatalf("RotateRefresh returned refresh %x, last seen %v; want %x, %v", got.RefreshHash[:4], got.LastSeenAt, r1[:4], c.Now())
	}
	if _, err := s.RotateRefresh(ctx, sess.ID, r1, r2, store.Touch{}); err != nil {
		t.Fatalf("second rotation: %v", err)
	}
	if _, err := s.RotateRefresh(ctx, sess.ID, r0, storefixture.Digest(), store.Touch{}); !errors.Is(err, store.ErrRefreshReused) {
		t.Fatalf("rotating a rotated-away digest: got %v, want ErrRefreshReused", err)
	}
	wantGone(t, s, sess, "after refresh reuse")
	if _, err := s.RotateRefresh(ctx, sess.ID, r2, storefixture.Digest(), store.Touch{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the newest refresh digest after reuse: got %v, want ErrNotFound (session revoked)", err)
	}
}

func testRefreshUnknown(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := context.Background()
	sess := newSession(c, "u_unk")
	mustCreate(t, s, sess)
	if _, err := s.RotateRefresh(ctx, sess.ID, storefixture.Digest(), storefixture.Digest(), store.Touch{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RotateRefresh with a digest the session never had: got %v, want ErrNotFound", err)
	}
	wantLive(t, s, sess, "after a foreign refresh digest (it must not revoke)")
	cookie := newSession(c, "u_unk")
	cookie.RefreshHash = store.Digest{}
	mustCreate(t, s, cookie)
	if _, err := s.RotateRefresh(ctx, cookie.ID, store.Digest{}, storefixture.Digest(), store.Touch{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RotateRefresh of a session without refresh token: got %v, want ErrNotFound", err)
	}
	if got, err := s.SessionByID(ctx, cookie.ID, store.Touch{}); err != nil || !got.RefreshHash.IsZero() {
		t.Fatalf("a session without refresh token gained one: %+v, %v", got, err)
	}
}

func testRefreshHistory(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := context.Background()
	sess := newSession(c, "u_hist")
	mustCreate(t, s, sess)
	oldest, cur := sess.RefreshHash, sess.RefreshHash
	for i := range store.PreviousRefreshKept {
		next := storefixture.Digest()
		if _, err := s.RotateRefresh(ctx, sess.ID, cur, next, store.Touch{}); err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
		cur = next
	}
	if _, err := s.RotateRefresh(ctx, sess.ID, oldest, storefixture.Digest(), store.Touch{}); !errors.Is(err, store.ErrRefreshReused) {
		t.Fatalf("the digest rotated away %d rotations ago: got %v, want ErrRefreshReused", store.PreviousRefreshKept, err)
	}
	wantGone(t, s, sess, "after reuse of an old refresh digest")
}

func testConcurrentRefresh(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := context.Background()
	sess := newSession(c, "u_race")
	mustCreate(t, s, sess)
	const n = 100
	var wins, reused atomic.Int32
	conc.Run(n, func(int) {
		_, err := s.RotateRefresh(ctx, sess.ID, sess.RefreshHash, storefixture.Digest(), store.Touch{})
		switch {
		case err == nil:
			wins.Add(1)
		case errors.Is(err, store.ErrRefreshReused):
			reused.Add(1)
		case errors.Is(err, store.ErrNotFound):
			// The session was already revoked by another loser's reuse.
		default:
			t.Errorf("RotateRefresh: unexpected error %v", err)
		}
	})
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent rotations of one refresh digest: %d succeeded, want exactly 1", n, wins.Load())
	}
	if reused.Load() < 1 {
		t.Fatalf("%d concurrent rotations: no loser was reported as reuse", n)
	}
	wantGone(t, s, sess, "after concurrent reuse")
}

func testConcurrentTouch(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := context.Background()
	sess := newSession(c, "u_busy")
	mustCreate(t, s, sess)
	c.Advance(2 * time.Minute)
	now := c.Now()
	conc.Run(100, func(i int) {
		var err error
		if i%2 == 0 {
			_, err = s.SessionByToken(ctx, sess.TokenHash, touchAt(now))
		} else {
			_, err = s.SessionByID(ctx, sess.ID, touchAt(now))
		}
		if err != nil {
			t.Errorf("concurrent lookup: %v", err)
		}
	})
	got, err := s.SessionByID(ctx, sess.ID, store.Touch{})
	if err != nil || !got.LastSeenAt.Equal(now) || !got.IdleExpiresAt.Equal(now.Add(idleTTL)) {
		t.Fatalf("after 100 concurrent touches: %+v, %v; want last seen %v", got, err, now)
	}
}

func testRevokeSession(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := context.Background()
	mine, theirs := newSession(c, "u_me"), newSession(c, "u_them")
	mustCreate(t, s, mine)
	mustCreate(t, s, theirs)
	if err := s.RevokeSession(ctx, "u_me", theirs.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoking another user's session: got %v, want ErrNotFound", err)
	}
	wantLive(t, s, theirs, "after another user tried to revoke it")
	if err := s.RevokeSession(ctx, "u_me", mine.ID); err != nil {
		t.Fatalf("RevokeSession of one's own session: %v", err)
	}
	wantGone(t, s, mine, "after RevokeSession")
	if _, err := s.RotateRefresh(ctx, mine.ID, mine.RefreshHash, storefixture.Digest(), store.Touch{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RotateRefresh of a revoked session: got %v, want ErrNotFound", err)
	}
	if err := s.RevokeSession(ctx, "u_me", mine.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoking twice: got %v, want ErrNotFound", err)
	}
	wantLive(t, s, theirs, "after revoking another user's session")
}

func testRevokeAllButOne(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := context.Background()
	var mine []*store.Session
	for range 3 {
		sess := newSession(c, "u_many")
		mustCreate(t, s, sess)
		mine = append(mine, sess)
	}
	other := newSession(c, "u_other")
	mustCreate(t, s, other)
	n, err := s.RevokeUserSessions(ctx, "u_many", mine[1].ID)
	if err != nil || n != 2 {
		t.Fatalf("RevokeUserSessions except one: got %d, %v; want 2, nil", n, err)
	}
	wantGone(t, s, mine[0], "after revoke-others")
	wantGone(t, s, mine[2], "after revoke-others")
	wantLive(t, s, mine[1], "the session kept by revoke-others")
	wantLive(t, s, other, "another user's session after revoke-others")
	list, err := s.UserSessions(ctx, "u_many")
	if err != nil || len(list) != 1 || list[0].ID != mine[1].ID {
		t.Fatalf("UserSessions after revoke-others: %d sessions, %v; want only the kept one", len(list), err)
	}
	n, err = s.RevokeUserSessions(ctx, "u_many", "")
	if err != nil || n != 1 {
		t.Fatalf("RevokeUserSessions of all: got %d, %v; want 1, nil", n, err)
	}
	wantGone(t, s, mine[1], "after revoke-all")
	wantLive(t, s, other, "another user's session after revoke-all")
}

func testListSessions(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := context.Background()
	first := newSession(c, "u_list")
	first.RefreshHash = store.Digest{}
	mustCreate(t, s, first)
	c.Advance(time.Second)
	second := newSession(c, "u_list")
	second.UserAgent, second.IP, second.Method = "curl/8.5.0", "2001:db8::1", "code"
	mustCreate(t, s, second)
	c.Advance(time.Second)
	idle := newSession(c, "u_list")
	idle.IdleExpiresAt = c.Now().Add(time.Minute)
	mustCreate(t, s, idle)
	mustCreate(t, s, newSession(c, "u_list_other"))
	c.Advance(time.Minute)
	list, err := s.UserSessions(ctx, "u_list")
	if err != nil {
		t.Fatalf("UserSessions: %v", err)
	}
	if len(list) != 2 {
		t.Fatalf("UserSessions returned %d sessions, want 2 (the idled-out one and another user's excluded)", len(list))
	}
	if !sameSession(list[0], first) || !sameSession(list[1], second) {
		t.Fatalf("UserSessions returned %+v, %+v; want the two live sessions oldest first", list[0], list[1])
	}
}

func testSessionsUnavailable(t *testing.T, f *fixture) {
	s, c, h := f.st, f.clock, f.harness
	if h.Break == nil {
		t.Skip("storetest: this store cannot be made unavailable")
	}
	ctx := context.Background()
	sess := newSession(c, "u_down")
	mustCreate(t, s, sess)
	h.Break(t)
	calls := map[string]func() error{
		"CreateSession":  func() error { return s.CreateSession(ctx, newSession(c, "u_down")) },
		"SessionByToken": func() error { _, err := s.SessionByToken(ctx, sess.TokenHash, touchAt(c.Now())); return err },
		"SessionByID":    func() error { _, err := s.SessionByID(ctx, sess.ID, touchAt(c.Now())); return err },
		"RotateRefresh": func() error {
			_, err := s.RotateRefresh(ctx, sess.ID, sess.RefreshHash, storefixture.Digest(), store.Touch{})
			return err
		},
		"RevokeSession":      func() error { return s.RevokeSession(ctx, sess.UserID, sess.ID) },
		"RevokeUserSessions": func() error { _, err := s.RevokeUserSessions(ctx, sess.UserID, ""); return err },
		"UserSessions":       func() error { _, err := s.UserSessions(ctx, sess.UserID); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with the backend down: got %v, want an error matching ErrUnavailable", name, err)
		}
	}
}
