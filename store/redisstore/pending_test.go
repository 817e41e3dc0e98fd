package redisstore

import (
	"context"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/storefixture"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store"
)

func newPendingPair(match uint8) (*store.Token, *store.Pending) {
	tok := newToken("pending@example.com", true, time.Minute)
	p := &store.Pending{Cookie: storefixture.Digest(), LinkHash: tok.Hash, Match: match, UserAgent: "UA", IP: "192.0.2.1",
		CreatedAt: tok.CreatedAt, ExpiresAt: tok.ExpiresAt, KeepUntil: tok.ExpiresAt.Add(time.Minute),
		Status: store.PendingWaiting}
	return tok, p
}

// The round-trip budget of cross-device sign-in: a browser send stores
// link, code and request in one; the approving side and a same-device
// verify decide in one; the asking browser's poll costs two.
func TestPendingRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testredis.Start(t).Client(t)
	var rt roundTrips
	rdb.AddHook(&rt)
	s := newStore(t, rdb)

	// Load every script first: the budget is for a warm server (a cold
	// one answers NOSCRIPT once per script).
	warm, warmP := newPendingPair(1)
	if err := s.PutTokenPending(ctx, warm, warmP); err != nil {
		t.Fatal(err)
	}
	_, _ = s.PendingByLink(ctx, warm.Hash)
	_, _ = s.TakeApproved(ctx, warmP.Cookie)
	_, _ = s.ConsumeTokenFrom(ctx, warm.Hash, warmP.Cookie)

	tok, p := newPendingPair(12)
	steps := []struct {
		name string
		want int64
		f    func() error
	}{
		{"PutTokenPending", 1, func() error { return s.PutTokenPending(ctx, tok, p) }},
		{"PendingByLink", 1, func() error { _, err := s.PendingByLink(ctx, tok.Hash); return err }},
		{"TakeApproved (waiting)", 2, func() error { _, err := s.TakeApproved(ctx, p.Cookie); return err }},
		{"DecidePending", 1, func() error { _, err := s.DecidePending(ctx, tok.Hash, 12); return err }},
		{"TakeApproved (approved)", 2, func() error { _, err := s.TakeApproved(ctx, p.Cookie); return err }},
	}
	for _, st := range steps {
		var err error
		if n := rt.count(func() { err = st.f() }); n != st.want || err != nil {
			t.Errorf("%s: %d round trips, error %v; want %d and no error", st.name, n, err, st.want)
		}
	}
	other, otherP := newPendingPair(3)
	if err := s.PutTokenPending(ctx, other, otherP); err != nil {
		t.Fatal(err)
	}
	if n := rt.count(func() { _, _ = s.ConsumeTokenFrom(ctx, other.Hash, otherP.Cookie) }); n != 1 {
		t.Errorf("ConsumeTokenFrom: %d round trips, want 1", n)
	}
}

// A server that lost its scripts (restart, SCRIPT FLUSH) still stores a
// browser send: the pipeline's EVALSHA falls back to EVAL.
func TestPendingPutAfterScriptFlush(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testredis.Start(t)
	s := newStore(t, srv.Client(t))
	for i := range 2 {
		if err := srv.Client(t).ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		tok, p := newPendingPair(40)
		if err := s.PutTokenPending(ctx, tok, p); err != nil {
			t.Fatalf("put %d after SCRIPT FLUSH: %v", i, err)
		}
		if got, err := s.PendingByCookie(ctx, p.Cookie); err != nil || got.Match != 40 {
			t.Fatalf("put %d after SCRIPT FLUSH: read back %+v, %v", i, got, err)
		}
	}
}

// Pending keys carry no secret and sit on the link's slot, and Redis
// drops them by itself.
func TestPendingKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testredis.Start(t)
	raw := srv.Client(t)
	s := newStore(t, srv.Client(t))
	tok, p := newPendingPair(5)
	if err := s.PutTokenPending(ctx, tok, p); err != nil {
		t.Fatal(err)
	}
	linkTag := "{" + hex.EncodeToString(tok.Hash[:]) + "}"
	if k := s.pendingKey(tok.Hash); !strings.Contains(k, linkTag) || !strings.Contains(s.tokenKey(tok.Hash), linkTag) {
		t.Fatalf("pending key %q and token key must share the link's hash tag %s", k, linkTag)
	}
	for _, k := range []string{s.pendingKey(tok.Hash), s.pendingCookieKey(p.Cookie)} {
		pttl, err := raw.PTTL(ctx, k).Result()
		if err != nil || pttl <= time.Minute || pttl > 2*time.Minute {
			t.Fatalf("%s: PTTL %v, %v; want about the request's KeepUntil (2 minutes)", k, pttl, err)
		}
	}
}

// Through the Service, a browser send costs what a plain send costs (the
// request rides in the token's round trip), an approval one limit decision
// and one script, and the asking browser's poll two.
func TestServicePendingRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testredis.Start(t).Client(t)
	var rt roundTrips
	rdb.AddHook(&rt)
	s := newStore(t, rdb)
	mail := mailer.NewMemory()
	svc, err := magiclink.New(magiclink.Config{Origins: []string{"https://app.example.com"}, Secret: []byte("0123456789abcdef0123456789abcdef"),
		Store: s, Limiter: s, Mailer: mail, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	ip := netip.MustParseAddr("192.0.2.11")
	req := magiclink.SendRequest{Email: "pending-budget@example.com", CallbackOrigin: "https://app.example.com", ClientIP: ip}
	// Warm up every script once.
	warm, err := svc.SendLinkPending(ctx, req, "UA")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = svc.Pending(ctx, warm.Cookie)
	_ = svc.Approve(ctx, strings.Repeat("A", 43), "00", magiclink.WithClientIP(ip))

	var ticket *magiclink.PendingTicket
	if n := rt.count(func() { ticket, err = svc.SendLinkPending(ctx, req, "UA") }); n != 2 || err != nil {
		t.Fatalf("SendLinkPending: %d round trips (%v), want 2 like SendLink", n, err)
	}
	if n := rt.count(func() { _, err = svc.Pending(ctx, ticket.Cookie) }); n != 2 || err != nil {
		t.Fatalf("a waiting poll: %d round trips (%v), want 2", n, err)
	}
	m, _ := mail.Last("pending-budget@example.com")
	u, _ := url.Parse(m.Link)
	if n := rt.count(func() { err = svc.Approve(ctx, u.Query().Get("token_hash"), ticket.Match, magiclink.WithClientIP(ip)) }); n != 2 || err != nil {
		t.Fatalf("Approve: %d round trips (%v), want 2 (limit, decide)", n, err)
	}
	// The approved poll also finds or creates the user, in one script;
	// nothing above warmed that script, so its first run here is EVALSHA
	// answered NOSCRIPT and then EVAL: 2 + 2.
	if n := rt.count(func() { _, err = svc.Pending(ctx, ticket.Cookie) }); n != 4 || err != nil {
		t.Fatalf("the approved poll of a first sign-in: %d round trips (%v), want 4 (2 + the find-or-create script, loaded on first use)", n, err)
	}
}
