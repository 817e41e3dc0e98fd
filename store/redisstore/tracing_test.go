package redisstore

import (
	"context"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/spantest"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store"
)

// TestVerifySpans: a traced Verify of a first sign-in on a real Redis is a
// Service span with one client span per round trip the store makes
// (counted by a hook: the consume and the find-or-create script), named by
// command and script, with the database attributes and nothing of the
// address, token, code, IP or keys.
func TestVerifySpans(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	rdb := srv.Client(t)
	var rt roundTrips
	rdb.AddHook(&rt)
	rig := spantest.NewRig()
	prefix := uniquePrefix()
	st := newStore(t, rdb, WithPrefix(prefix), WithTracerProvider(rig.Provider))
	mail := mailer.NewMemory()
	svc := rig.Service(t, st, mail)
	ip := netip.MustParseAddr("192.0.2.77")
	const email = "spans.secret@example.com"
	ctx := context.Background()
	// Warm up outside any trace: dial and load the scripts.
	if err := svc.SendLink(ctx, magiclink.SendRequest{Email: "warm@example.com", CallbackOrigin: spantest.Origin, ClientIP: ip}); err != nil {
		t.Fatal(err)
	}
	warm, _ := mail.Last("warm@example.com")
	if _, err := svc.VerifyCode(ctx, "warm@example.com", warm.Code, magiclink.WithClientIP(ip)); err != nil {
		t.Fatal(err)
	}
	if n := len(rig.Recorder.Ended()); n != 0 {
		t.Fatalf("%d spans without a parent span; want none", n)
	}

	sendSpans := rig.Trace(func(ctx context.Context) {
		if err := svc.SendLink(ctx, magiclink.SendRequest{Email: email, CallbackOrigin: spantest.Origin, ClientIP: ip}); err != nil {
			t.Fatal(err)
		}
	})
	if got := spantest.ServiceChildren(t, sendSpans, "magiclink.SendLink"); strings.Join(got, ",") != "EVALSHA gcra,BATCH" {
		t.Errorf("SendLink store spans %q, want the limits' script and the token's pipeline", got)
	}
	m, ok := mail.Last(email)
	if !ok {
		t.Fatal("no mail")
	}
	u, _ := url.Parse(m.Link)
	token := u.Query().Get("token_hash")
	keys, err := rdb.Keys(ctx, prefix+":*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys: %v %v", keys, err)
	}

	var trips int64
	verifySpans := rig.Trace(func(ctx context.Context) {
		trips = rt.count(func() {
			if _, err := svc.Verify(ctx, token); err != nil {
				t.Fatal(err)
			}
		})
	})
	got := spantest.ServiceChildren(t, verifySpans, "magiclink.Verify")
	if strings.Join(got, ",") != "GETDEL,EVALSHA find_or_create_user" || int64(len(got)) != trips {
		t.Fatalf("Verify store spans %q for %d round trips; want GETDEL and EVALSHA find_or_create_user, one per round trip", got, trips)
	}
	for _, s := range verifySpans {
		if s.Name() == "magiclink.Verify" {
			continue
		}
		port := strings.TrimPrefix(srv.Addr(), "127.0.0.1:")
		if spantest.Attr(s, "db.system.name") != "redis" || spantest.Attr(s, "server.address") != "127.0.0.1" || spantest.Attr(s, "server.port") != port ||
			spantest.Attr(s, "db.namespace") != "0" || spantest.Attr(s, "db.operation.name") == "" {
			t.Errorf("span %q attributes %v", s.Name(), s.Attributes())
		}
		if s.Status().Code == codes.Error {
			t.Errorf("span %q failed: %v", s.Name(), s.Status())
		}
	}
	for _, s := range verifySpans {
		if want := map[string]string{"GETDEL": "", "EVALSHA find_or_create_user": "EVALSHA find_or_create_user"}[s.Name()]; spantest.Attr(s, "db.query.summary") != want {
			t.Errorf("span %q db.query.summary %q, want %q", s.Name(), spantest.Attr(s, "db.query.summary"), want)
		}
	}

	secrets := []string{email, token, m.Code, ip.String(), prefix + ":"}
	for _, k := range keys {
		tag, _, _ := strings.Cut(strings.TrimPrefix(k, prefix+":{"), "}")
		secrets = append(secrets, k, tag)
	}
	spantest.AssertNoSecrets(t, append(sendSpans, verifySpans...), secrets)
}

// TestSpansOnlyForOurKeys: the application's own commands on the shared
// client get no span from the store's hook, and a second store (or an
// outbox) hooked onto the same client adds no second span per command.
func TestSpansOnlyForOurKeys(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	rdb := srv.Client(t)
	rig := spantest.NewRig()
	prefix := uniquePrefix()
	st := newStore(t, rdb, WithPrefix(prefix), WithTracerProvider(rig.Provider))
	newStore(t, rdb, WithPrefix(prefix), WithTracerProvider(rig.Provider))
	ob, err := NewOutbox(rdb, mailer.NewMemory(), mailer.OutboxOptions{Secret: []byte("0123456789abcdef0123456789abcdef")},
		WithOutboxPrefix(prefix), WithOutboxTracerProvider(rig.Provider))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Close(context.Background()) })
	spans := rig.Trace(func(ctx context.Context) {
		if err := rdb.Set(ctx, "app:own", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Get(ctx, "app:own")
			p.Incr(ctx, "app:n")
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.UserByID(ctx, "nobody"); err == nil {
			t.Fatal("found a user that does not exist")
		}
	})
	if len(spans) != 1 || spans[0].Name() != "GET" {
		names := make([]string, len(spans))
		for i, s := range spans {
			names[i] = s.Name()
		}
		t.Fatalf("spans %q; want one GET, the store's", names)
	}
	if s := spans[0].Status(); s.Code == codes.Error {
		t.Errorf("a missing user (redis.Nil) marked the span failed: %v", s)
	}
}

// TestNoopProviderAddsNoHook: with the no-op provider the store's commands
// make no span even inside a recording one.
func TestNoopProviderAddsNoHook(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	rig := spantest.NewRig()
	st := newStore(t, srv.Client(t), WithTracerProvider(noop.NewTracerProvider()))
	spans := rig.Trace(func(ctx context.Context) { _, _ = st.UserByID(ctx, "nobody") })
	if len(spans) != 0 {
		t.Fatalf("%d spans; want none", len(spans))
	}
}

// TestSpansOfKilledServer: with the server SIGKILLed, the store's span and
// the Service span carry an error status, by class only.
func TestSpansOfKilledServer(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	rig := spantest.NewRig()
	svc := rig.Service(t, newStore(t, fastFailClient(t, srv.Addr()), WithTracerProvider(rig.Provider)), mailer.NewMemory())
	s := rig.KilledServer(t, svc, srv.Stop, "GETDEL")
	if spantest.Attr(s, "error.type") != "io" || s.Status().Description != "io" {
		t.Errorf("GETDEL error.type %q, status %q; want io", spantest.Attr(s, "error.type"), s.Status().Description)
	}
}

func TestReplyPrefix(t *testing.T) {
	for msg, want := range map[string]string{
		"NOSCRIPT No matching script":     "NOSCRIPT",
		"LOADING Redis is loading":        "LOADING",
		"ERR user_script:1: bad":          "ERR",
		"mine: a script's own message":    "ERR",
		"":                                "ERR",
		strings.Repeat("A", 30) + " long": "ERR",
	} {
		if got := replyPrefix(msg); got != want {
			t.Errorf("replyPrefix(%q) = %q, want %q", msg, got, want)
		}
	}
}

// BenchmarkTracingHook measures what the hook costs a command (a GET of a
// missing user): "none" has no hook (the no-op provider), "global" the
// hook of the default global provider with no SDK installed, "recording"
// the hook inside a recording span of an SDK.
func BenchmarkTracingHook(b *testing.B) {
	srv := testredis.Start(b)
	spantest.NewRig().BenchmarkLookup(b, func(b *testing.B, tp trace.TracerProvider) store.Users {
		return newStore(b, srv.Client(b), WithTracerProvider(tp))
	})
}
