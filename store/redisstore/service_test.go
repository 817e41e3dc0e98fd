package redisstore

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/conc"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/ratelimit"
)

// TestServicesShareOneRedis runs two Services — two server instances —
// against one Redis: 200 concurrent sends for one address under a limit of
// 5 per hour (burst 5) yield exactly 5 mails in total, and every mailed link
// works on the other instance, once.
func TestServicesShareOneRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testredis.Start(t)
	prefix := uniquePrefix()
	secret := []byte("0123456789abcdef0123456789abcdef-shared-secret")
	const origin = "https://app.example.com"
	mail := mailer.NewMemory()

	newService := func() *magiclink.Service {
		t.Helper()
		s, err := New(srv.Client(t), WithPrefix(prefix))
		if err != nil {
			t.Fatalf("redisstore.New: %v", err)
		}
		svc, err := magiclink.New(magiclink.Config{
			Origins: []string{origin},
			Secret:  secret,
			Store:   s,
			Limiter: s,
			Mailer:  mail,
			Limits:  magiclink.Limits{SendPerEmail: ratelimit.Rate{Limit: 5, Period: time.Hour, Burst: 5}},
			Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatalf("magiclink.New: %v", err)
		}
		t.Cleanup(func() { _ = svc.Close() })
		return svc
	}
	instances := []*magiclink.Service{newService(), newService()}

	var sent, limited atomic.Int32
	conc.Run(200, func(i int) {
		err := instances[i%2].SendLink(ctx, magiclink.SendRequest{
			Email:          "shared@example.com",
			CallbackOrigin: origin,
			Next:           "/welcome",
			ClientIP:       netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}),
		})
		switch {
		case err == nil:
			sent.Add(1)
		case errors.Is(err, magiclink.ErrRateLimited):
			limited.Add(1)
		default:
			t.Errorf("SendLink: unexpected error %v", err)
		}
	})
	msgs := mail.Messages()
	if sent.Load() != 5 || limited.Load() != 195 || len(msgs) != 5 {
		t.Fatalf("200 concurrent sends over two instances: %d sent, %d rate limited, %d mails; want 5, 195, 5",
			sent.Load(), limited.Load(), len(msgs))
	}

	// Links are shared too: each one verifies on either instance, once.
	for i, m := range msgs {
		u, err := url.Parse(m.Link)
		if err != nil {
			t.Fatalf("mail %d has an unparsable link: %v", i, err)
		}
		token := u.Query().Get("token_hash")
		id, err := instances[(i+1)%2].Verify(ctx, token)
		if err != nil || id.Email != "shared@example.com" || id.Next != "/welcome" {
			t.Fatalf("link %d on the other instance: %+v, %v", i, id, err)
		}
		if _, err := instances[i%2].Verify(ctx, token); !errors.Is(err, magiclink.ErrInvalidToken) {
			t.Fatalf("link %d used twice: %v, want ErrInvalidToken", i, err)
		}
	}
}

// TestServiceRoundTripBudget pins DESIGN §6's budget through the Service on
// a real Redis: a send costs one round trip for both rate-limit decisions
// (pipelined) plus one for the token, and a link verification one for its
// decision plus one to consume plus one script that finds or creates the
// user: the store's part is 2 commands, on a first sign-in too.
func TestServiceRoundTripBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testredis.Start(t)
	rdb := srv.Client(t)
	var rt roundTrips
	rdb.AddHook(&rt)
	s, err := New(rdb, WithPrefix(uniquePrefix()))
	if err != nil {
		t.Fatal(err)
	}
	mail := mailer.NewMemory()
	svc, err := magiclink.New(magiclink.Config{Origins: []string{"https://app.example.com"}, Secret: []byte("0123456789abcdef0123456789abcdef"),
		Store: s, Limiter: s, Mailer: mail, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	ip := netip.MustParseAddr("192.0.2.10")
	send := func() {
		if err := svc.SendLink(ctx, magiclink.SendRequest{Email: "budget@example.com", CallbackOrigin: "https://app.example.com", ClientIP: ip}); err != nil {
			t.Fatal(err)
		}
	}
	// Warm up: the first calls dial, say HELLO and load the scripts.
	if err := svc.SendLink(ctx, magiclink.SendRequest{Email: "warmup@example.com", CallbackOrigin: "https://app.example.com", ClientIP: ip}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.VerifyCode(ctx, "warmup@example.com", "000000", magiclink.WithClientIP(ip)); err != nil && !errors.Is(err, magiclink.ErrInvalidCode) {
		t.Fatal(err)
	}
	if m, ok := mail.Last("warmup@example.com"); !ok {
		t.Fatal("no warm-up mail")
	} else if _, err := svc.VerifyCode(ctx, "warmup@example.com", m.Code, magiclink.WithClientIP(ip)); err != nil {
		t.Fatal(err)
	}
	if n := rt.count(send); n != 2 {
		t.Fatalf("SendLink made %d round trips, want 2 (both limits pipelined, one token)", n)
	}
	m, _ := mail.Last("budget@example.com")
	u, _ := url.Parse(m.Link)
	verify := func() {
		if _, err := svc.Verify(ctx, u.Query().Get("token_hash"), magiclink.WithClientIP(ip)); err != nil {
			t.Fatal(err)
		}
	}
	// First sign-in: limit, consume, and one script finding or creating
	// the user.
	if n := rt.count(verify); n != 3 {
		t.Fatalf("first Verify made %d round trips, want 3 (limit, consume, find-or-create)", n)
	}
	if _, err := s.UserByEmail(ctx, "", "budget@example.com"); err != nil {
		t.Fatalf("the first sign-in stored no user: %v", err)
	}
	send()
	m, _ = mail.Last("budget@example.com")
	u, _ = url.Parse(m.Link)
	if n := rt.count(verify); n != 3 {
		t.Fatalf("Verify of a known user made %d round trips, want 3 (limit, consume, find-or-create)", n)
	}
	// A wrong code: one batch for the per-IP and per-mailbox limits, one
	// script on the code.
	if n := rt.count(func() {
		if _, err := svc.VerifyCode(ctx, "budget@example.com", "000000", magiclink.WithClientIP(ip)); !errors.Is(err, magiclink.ErrInvalidCode) {
			t.Fatal(err)
		}
	}); n != 2 {
		t.Fatalf("a wrong VerifyCode made %d round trips, want 2 (both limits in one script, the code)", n)
	}
}

// TestVerifyStoreCommands counts the store's own commands, without a
// limiter: a link verify of a first sign-in is 2 (consume, find-or-create),
// and the user it creates has no TTL under either key.
func TestVerifyStoreCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testredis.Start(t)
	rdb := srv.Client(t)
	var rt roundTrips
	rdb.AddHook(&rt)
	s := newStore(t, rdb)
	svc, err := magiclink.New(magiclink.Config{Origins: []string{"https://app.example.com"}, Secret: []byte("0123456789abcdef0123456789abcdef"),
		Store: s, Limiter: s, Limits: magiclink.NoLimits(), Mailer: mailer.NewMemory(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	link := func(email string) string {
		l, err := svc.CreateLink(ctx, magiclink.LinkRequest{Email: email, Origin: "https://app.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		return l.Token
	}
	if _, err := svc.Verify(ctx, link("warmup@example.com")); err != nil { // loads the script
		t.Fatal(err)
	}
	token := link("first@example.com")
	var id magiclink.Identity
	if n := rt.count(func() { id, err = svc.Verify(ctx, token) }); err != nil || n != 2 {
		t.Fatalf("first sign-in: %v, %d commands; want 2 (consume, find-or-create)", err, n)
	}
	for _, key := range []string{s.userEmailKey("", "first@example.com"), s.userIDKey(id.UserID)} {
		if ttl, err := rdb.TTL(ctx, key).Result(); err != nil || ttl != -1 {
			t.Fatalf("user key %s has TTL %v (%v); users must not expire", key, ttl, err)
		}
	}
	token = link("first@example.com")
	// CreateLink found the user, so the link names it: the consume is all.
	if n := rt.count(func() { _, err = svc.Verify(ctx, token) }); err != nil || n != 1 {
		t.Fatalf("returning user: %v, %d commands; want 1", err, n)
	}
}
