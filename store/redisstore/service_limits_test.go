package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/mailer"
)

// limitedService is a Service on s with the default limits.
func limitedService(t *testing.T, s *Store, mail mailer.Mailer) *magiclink.Service {
	t.Helper()
	svc, err := magiclink.New(magiclink.Config{Origins: []string{"https://app.example.com"}, Secret: []byte("0123456789abcdef0123456789abcdef"),
		Store: s, Limiter: s, Mailer: mail, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

func sendFrom(svc *magiclink.Service, email string, ip netip.Addr) error {
	return svc.SendLink(context.Background(), magiclink.SendRequest{Email: email, CallbackOrigin: "https://app.example.com", ClientIP: ip})
}

// TestSendLockOutByOneIPRedis is finding 16.1 as the outside review
// measured it, on a real Redis with the default limits: one IP sends twice
// for each of 200 victims and is refused after its burst of 10; every
// victim then still gets its mail from its own IP. Before the fix the
// refused sends spent the victims' budgets (burst 2), and 190 of them got
// 429.
func TestSendLockOutByOneIPRedis(t *testing.T) {
	t.Parallel()
	for name, rdb := range map[string]redis.UniversalClient{
		"standalone": testredis.Start(t).Client(t),
		"cluster":    testredis.StartCluster(t).Client(t),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mail := mailer.NewMemory()
			svc := limitedService(t, newStore(t, rdb), mail)
			attacker := netip.MustParseAddr("198.51.100.7")
			refused := 0
			for range 2 {
				for i := range 200 {
					if err := sendFrom(svc, fmt.Sprintf("victim%d@example.com", i), attacker); errors.Is(err, magiclink.ErrRateLimited) {
						refused++
					} else if err != nil {
						t.Fatal(err)
					}
				}
			}
			if refused != 390 {
				t.Fatalf("the flood was refused %d times, want 390 (an IP burst of 10)", refused)
			}
			for i := range 200 {
				own := netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i % 256)})
				if err := sendFrom(svc, fmt.Sprintf("victim%d@example.com", i), own); err != nil {
					t.Fatalf("victim %d from its own IP after the flood: %v", i, err)
				}
				if _, ok := mail.Last(fmt.Sprintf("victim%d@example.com", i)); !ok {
					t.Fatalf("no mail to victim %d", i)
				}
			}
		})
	}
}

// TestNoAddressInRedisKeys is finding 16.8: after sends, code tries and a
// sign-in, no key in Redis holds an address, a local part, a domain or a
// client IP (limiter keys were ml:{send-email:x@example.com}:rl).
func TestNoAddressInRedisKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testredis.Start(t).Client(t)
	prefix := uniquePrefix()
	s, err := New(rdb, WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	mail := mailer.NewMemory()
	svc := limitedService(t, s, mail)
	ip := netip.MustParseAddr("192.0.2.77")
	for _, email := range []string{"secretperson@hidden-domain.example", "secretperson+tag@hidden-domain.example"} {
		if err := sendFrom(svc, email, ip); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = svc.VerifyCode(ctx, "secretperson@hidden-domain.example", "000000", magiclink.WithClientIP(ip))
	m, _ := mail.Last("secretperson@hidden-domain.example")
	if _, err := svc.VerifyCode(ctx, "secretperson@hidden-domain.example", m.Code, magiclink.WithClientIP(ip)); err != nil {
		t.Fatal(err)
	}
	keys, err := rdb.Keys(ctx, prefix+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 4 {
		t.Fatalf("only %d keys (%v): the test wrote less than it meant to", len(keys), keys)
	}
	rl := 0
	for _, k := range keys {
		if strings.HasSuffix(k, ":rl") {
			rl++
		}
		for _, secret := range []string{"secretperson", "hidden-domain", "192.0.2", "send", "code", "verify"} {
			if strings.Contains(k[len(prefix):], secret) {
				t.Errorf("key %q contains %q", k, secret)
			}
		}
	}
	if rl < 3 {
		t.Fatalf("%d limiter keys among %v, want the IP, mailbox and code-try keys", rl, keys)
	}
}
