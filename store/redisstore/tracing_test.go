package redisstore

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/mailer"
)

// spanRig records the spans of a tracer provider.
type spanRig struct {
	rec *tracetest.SpanRecorder
	tp  *sdktrace.TracerProvider
}

func newSpanRig() *spanRig {
	rec := tracetest.NewSpanRecorder()
	return &spanRig{rec: rec, tp: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))}
}

// trace runs f inside a root span, as a host's request middleware would,
// and returns the spans f made under it.
func (r *spanRig) trace(f func(ctx context.Context)) []sdktrace.ReadOnlySpan {
	ctx, root := r.tp.Tracer("test").Start(context.Background(), "request")
	f(ctx)
	root.End()
	var out []sdktrace.ReadOnlySpan
	for _, s := range r.rec.Ended() {
		if s.SpanContext().TraceID() == root.SpanContext().TraceID() && s.SpanContext().SpanID() != root.SpanContext().SpanID() {
			out = append(out, s)
		}
	}
	return out
}

// serviceChildren checks that spans are one Service span named service
// and its children, and returns the children's names in order.
func serviceChildren(t *testing.T, spans []sdktrace.ReadOnlySpan, service string) []string {
	t.Helper()
	var parent sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == service {
			parent = s
		}
	}
	if parent == nil {
		t.Fatalf("no %s span among %d", service, len(spans))
	}
	var names []string
	for _, s := range spans {
		if s == parent {
			continue
		}
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Fatalf("span %q is not a child of %s", s.Name(), service)
		}
		if s.SpanKind() != trace.SpanKindClient {
			t.Errorf("span %q has kind %v, want client", s.Name(), s.SpanKind())
		}
		names = append(names, s.Name())
	}
	return names
}

// assertNoSecrets fails when a span's name, status or any attribute value
// contains one of secrets.
func assertNoSecrets(t *testing.T, spans []sdktrace.ReadOnlySpan, secrets []string) {
	t.Helper()
	for _, s := range spans {
		texts := []string{s.Name(), s.Status().Description}
		for _, a := range s.Attributes() {
			texts = append(texts, a.Value.String())
		}
		for _, e := range s.Events() {
			for _, a := range e.Attributes {
				texts = append(texts, a.Value.String())
			}
		}
		for _, text := range texts {
			for _, secret := range secrets {
				if secret != "" && strings.Contains(strings.ToLower(text), strings.ToLower(secret)) {
					t.Errorf("span %q carries %q in %q", s.Name(), secret, text)
				}
			}
		}
	}
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value.String()
		}
	}
	return ""
}

func tracedService(t *testing.T, st *Store, tp trace.TracerProvider, mail mailer.Mailer) *magiclink.Service {
	t.Helper()
	svc, err := magiclink.New(magiclink.Config{Origins: []string{"https://app.example.com"}, Secret: []byte("0123456789abcdef0123456789abcdef"),
		Store: st, Limiter: st, Mailer: mail, TracerProvider: tp, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

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
	rig := newSpanRig()
	prefix := uniquePrefix()
	st := newStore(t, rdb, WithPrefix(prefix), WithTracerProvider(rig.tp))
	mail := mailer.NewMemory()
	svc := tracedService(t, st, rig.tp, mail)
	ip := netip.MustParseAddr("192.0.2.77")
	const email = "spans.secret@example.com"
	ctx := context.Background()
	// Warm up outside any trace: dial and load the scripts.
	if err := svc.SendLink(ctx, magiclink.SendRequest{Email: "warm@example.com", CallbackOrigin: "https://app.example.com", ClientIP: ip}); err != nil {
		t.Fatal(err)
	}
	warm, _ := mail.Last("warm@example.com")
	if _, err := svc.VerifyCode(ctx, "warm@example.com", warm.Code, magiclink.WithClientIP(ip)); err != nil {
		t.Fatal(err)
	}
	if n := len(rig.rec.Ended()); n != 0 {
		t.Fatalf("%d spans without a parent span; want none", n)
	}

	sendSpans := rig.trace(func(ctx context.Context) {
		if err := svc.SendLink(ctx, magiclink.SendRequest{Email: email, CallbackOrigin: "https://app.example.com", ClientIP: ip}); err != nil {
			t.Fatal(err)
		}
	})
	if got := serviceChildren(t, sendSpans, "magiclink.SendLink"); strings.Join(got, ",") != "EVALSHA gcra,BATCH" {
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
	verifySpans := rig.trace(func(ctx context.Context) {
		trips = rt.count(func() {
			if _, err := svc.Verify(ctx, token); err != nil {
				t.Fatal(err)
			}
		})
	})
	got := serviceChildren(t, verifySpans, "magiclink.Verify")
	if strings.Join(got, ",") != "GETDEL,EVALSHA find_or_create_user" || int64(len(got)) != trips {
		t.Fatalf("Verify store spans %q for %d round trips; want GETDEL and EVALSHA find_or_create_user, one per round trip", got, trips)
	}
	for _, s := range verifySpans {
		if s.Name() == "magiclink.Verify" {
			continue
		}
		port := strings.TrimPrefix(srv.Addr(), "127.0.0.1:")
		if attr(s, "db.system.name") != "redis" || attr(s, "server.address") != "127.0.0.1" || attr(s, "server.port") != port ||
			attr(s, "db.namespace") != "0" || attr(s, "db.operation.name") == "" {
			t.Errorf("span %q attributes %v", s.Name(), s.Attributes())
		}
		if s.Status().Code == codes.Error {
			t.Errorf("span %q failed: %v", s.Name(), s.Status())
		}
	}
	for _, s := range verifySpans {
		if want := map[string]string{"GETDEL": "", "EVALSHA find_or_create_user": "EVALSHA find_or_create_user"}[s.Name()]; attr(s, "db.query.summary") != want {
			t.Errorf("span %q db.query.summary %q, want %q", s.Name(), attr(s, "db.query.summary"), want)
		}
	}

	secrets := []string{email, token, m.Code, ip.String(), prefix + ":"}
	for _, k := range keys {
		tag, _, _ := strings.Cut(strings.TrimPrefix(k, prefix+":{"), "}")
		secrets = append(secrets, k, tag)
	}
	assertNoSecrets(t, append(sendSpans, verifySpans...), secrets)
}

// TestSpansOnlyForOurKeys: the application's own commands on the shared
// client get no span from the store's hook, and a second store (or an
// outbox) hooked onto the same client adds no second span per command.
func TestSpansOnlyForOurKeys(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	rdb := srv.Client(t)
	rig := newSpanRig()
	prefix := uniquePrefix()
	st := newStore(t, rdb, WithPrefix(prefix), WithTracerProvider(rig.tp))
	newStore(t, rdb, WithPrefix(prefix), WithTracerProvider(rig.tp))
	ob, err := NewOutbox(rdb, mailer.NewMemory(), mailer.OutboxOptions{Secret: []byte("0123456789abcdef0123456789abcdef")},
		WithOutboxPrefix(prefix), WithOutboxTracerProvider(rig.tp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Close(context.Background()) })
	spans := rig.trace(func(ctx context.Context) {
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
	rig := newSpanRig()
	st := newStore(t, srv.Client(t), WithTracerProvider(noop.NewTracerProvider()))
	spans := rig.trace(func(ctx context.Context) { _, _ = st.UserByID(ctx, "nobody") })
	if len(spans) != 0 {
		t.Fatalf("%d spans; want none", len(spans))
	}
}

// TestSpansOfKilledServer: with the server SIGKILLed, the store's span and
// the Service span carry an error status, by class only.
func TestSpansOfKilledServer(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	rdb := fastFailClient(t, srv.Addr())
	rig := newSpanRig()
	st := newStore(t, rdb, WithTracerProvider(rig.tp))
	svc := tracedService(t, st, rig.tp, mailer.NewMemory())
	link, err := svc.CreateLink(context.Background(), magiclink.LinkRequest{Email: "killed@example.com", Origin: "https://app.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	spans := rig.trace(func(ctx context.Context) {
		if _, err := svc.Verify(ctx, link.Token); err == nil {
			t.Fatal("Verify succeeded with the server down")
		}
	})
	got := serviceChildren(t, spans, "magiclink.Verify")
	if strings.Join(got, ",") != "GETDEL" {
		t.Fatalf("store spans %q; want GETDEL", got)
	}
	for _, s := range spans {
		if s.Status().Code != codes.Error {
			t.Errorf("span %q status %v; want an error", s.Name(), s.Status())
		}
		if s.Name() == "GETDEL" && (attr(s, "error.type") != "io" || s.Status().Description != "io") {
			t.Errorf("GETDEL error.type %q, status %q; want io", attr(s, "error.type"), s.Status().Description)
		}
	}
	assertNoSecrets(t, spans, []string{"killed@example.com", link.Token})
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
	rig := newSpanRig()
	for _, c := range []struct {
		name string
		opt  Option
		ctx  func() context.Context
	}{
		{"none", WithTracerProvider(noop.NewTracerProvider()), context.Background},
		{"global", WithTracerProvider(nil), context.Background},
		{"recording", WithTracerProvider(rig.tp), func() context.Context {
			ctx, _ := rig.tp.Tracer("bench").Start(context.Background(), "request")
			return ctx
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			st := newStore(b, srv.Client(b), c.opt)
			ctx := c.ctx()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := st.UserByID(ctx, "nobody"); err == nil {
					b.Fatal("found nobody")
				}
			}
		})
	}
}
