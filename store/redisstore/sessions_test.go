package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/storefixture"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/store"
)

func newTestSession(user string) (*store.Session, []byte) {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	var d store.Digest
	copy(d[:], raw) // any digest will do; the store sees only digests
	now := time.Now()
	return &store.Session{ID: store.SessionID(d), TokenHash: d, RefreshHash: storefixture.Digest(), UserID: user,
		Email: user + "@example.com", Method: "link", CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(24 * time.Hour)}, raw
}

// TestSessionRoundTrips pins the round-trip budget: an authenticated
// request's lookup costs one, touch included, by token or by ID.
func TestSessionRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testredis.Start(t).Client(t)
	var rt roundTrips
	rdb.AddHook(&rt)
	s := newStore(t, rdb)
	warm, _ := newTestSession("u_warm")
	// Load every script once, so that no NOSCRIPT retry is counted below.
	if err := s.CreateSession(ctx, warm); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByID(ctx, warm.ID, store.Touch{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateRefresh(ctx, warm.ID, warm.RefreshHash, storefixture.Digest(), store.Touch{}); err != nil {
		t.Fatal(err)
	}

	sess, _ := newTestSession("u_rt")
	later := time.Now().Add(2 * time.Minute)
	due := store.Touch{At: later, IfSeenBefore: later.Add(-time.Minute), IdleExpiresAt: later.Add(time.Hour)}
	steps := []struct {
		name string
		f    func() error
		want int64
	}{
		{"CreateSession", func() error { return s.CreateSession(ctx, sess) }, 1},
		{"SessionByToken with a touch due", func() error { _, err := s.SessionByToken(ctx, sess.TokenHash, due); return err }, 1},
		{"SessionByID with a touch not due", func() error { _, err := s.SessionByID(ctx, sess.ID, due); return err }, 1},
		{"RotateRefresh", func() error {
			_, err := s.RotateRefresh(ctx, sess.ID, sess.RefreshHash, storefixture.Digest(), due)
			return err
		}, 1},
		{"SessionByID of a malformed ID", func() error { _, _ = s.SessionByID(ctx, "not/a/session", due); return nil }, 0},
	}
	for _, st := range steps {
		var err error
		if n := rt.count(func() { err = st.f() }); n != st.want || err != nil {
			t.Errorf("%s: %d round trips (err %v), want %d", st.name, n, err, st.want)
		}
	}
	got, err := s.SessionByID(ctx, sess.ID, store.Touch{})
	if err != nil || !got.LastSeenAt.Equal(later) {
		t.Fatalf("the touch in the one-round-trip lookup was not stored: %+v, %v", got, err)
	}
}

// TestSessionKeysAndTTL checks what lands in Redis: no token or digest in
// any key, the session's TTL following its deadline through touches, the
// user index kept until the latest session's maximum age.
func TestSessionKeysAndTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testredis.Start(t)
	raw := srv.Client(t)
	s := newStore(t, srv.Client(t))
	sess, token := newTestSession("u_keys")
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	keys, err := raw.Keys(ctx, s.prefix+":*").Result()
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys after one session: %v, %v; want the session and the user index", keys, err)
	}
	secrets := []string{hex.EncodeToString(sess.TokenHash[:]), hex.EncodeToString(sess.RefreshHash[:]),
		hex.EncodeToString(token), base64.RawURLEncoding.EncodeToString(token)}
	for _, k := range keys {
		for _, sec := range secrets {
			if strings.Contains(k, sec) {
				t.Fatalf("key %q contains a token or digest", k)
			}
		}
	}
	pttl := func(key string) time.Duration {
		d, err := raw.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := pttl(s.sessionKey(sess.ID)); d < 59*time.Minute || d > time.Hour+time.Second {
		t.Fatalf("session TTL %v, want about its 1h idle expiry", d)
	}
	if d := pttl(s.userSessionsKey(sess.UserID)); d < 23*time.Hour || d > 24*time.Hour+time.Second {
		t.Fatalf("user index TTL %v, want about the 24h maximum age", d)
	}
	now := time.Now()
	touch := store.Touch{At: now.Add(2 * time.Minute), IfSeenBefore: now.Add(time.Minute), IdleExpiresAt: now.Add(3 * time.Hour)}
	if _, err := s.SessionByToken(ctx, sess.TokenHash, touch); err != nil {
		t.Fatal(err)
	}
	if d := pttl(s.sessionKey(sess.ID)); d < 179*time.Minute || d > 3*time.Hour+time.Second {
		t.Fatalf("session TTL after a touch %v, want about the new 3h idle expiry", d)
	}
	touch.IdleExpiresAt = now.Add(48 * time.Hour)
	touch.At, touch.IfSeenBefore = now.Add(5*time.Minute), now.Add(4*time.Minute)
	if _, err := s.SessionByID(ctx, sess.ID, touch); err != nil {
		t.Fatal(err)
	}
	if d := pttl(s.sessionKey(sess.ID)); d > 24*time.Hour+time.Second {
		t.Fatalf("session TTL %v outlives the 24h maximum age", d)
	}
}
