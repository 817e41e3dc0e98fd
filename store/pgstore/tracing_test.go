package pgstore

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/testpg"
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
// and its client children, and returns the children's names in order.
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
		if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanKind() != trace.SpanKindClient {
			t.Fatalf("span %q (kind %v) is not a client child of %s", s.Name(), s.SpanKind(), service)
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
	svc, err := magiclink.New(magiclink.Config{Origins: []string{appOrigin}, Secret: []byte(secret),
		Store: st, Limiter: st, Mailer: mail, TracerProvider: tp, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

// TestVerifySpans: a traced Verify of a first sign-in on a real PostgreSQL
// is a Service span with one client span per statement the store sends
// (counted by pgx's tracer: consume and find-or-create), named by
// statement, with the database attributes and nothing of the address,
// token, code, IP or the token's digest.
func TestVerifySpans(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	rig := newSpanRig()
	st := r.store(t, WithTracerProvider(rig.tp))
	mail := mailer.NewMemory()
	svc := tracedService(t, st, rig.tp, mail)
	ip := netip.MustParseAddr("192.0.2.78")
	const email = "spans.secret@example.com"

	sendSpans := rig.trace(func(ctx context.Context) {
		if err := svc.SendLink(ctx, magiclink.SendRequest{Email: email, CallbackOrigin: appOrigin, ClientIP: ip}); err != nil {
			t.Fatal(err)
		}
	})
	if got := serviceChildren(t, sendSpans, "magiclink.SendLink"); strings.Join(got, ",") != "gcra,put_token" {
		t.Errorf("SendLink store spans %q, want gcra and put_token", got)
	}
	m, ok := mail.Last(email)
	if !ok {
		t.Fatal("no mail")
	}
	token := tokenOf(t, m)
	var digest string
	if err := r.pool.QueryRow(context.Background(), "SELECT encode(hash, 'hex') FROM magiclink.tokens").Scan(&digest); err != nil {
		t.Fatal(err)
	}

	var stmts int64
	verifySpans := rig.trace(func(ctx context.Context) {
		stmts = r.stmts.count(func() {
			if _, err := svc.Verify(ctx, token); err != nil {
				t.Fatal(err)
			}
		})
	})
	got := serviceChildren(t, verifySpans, "magiclink.Verify")
	if strings.Join(got, ",") != "consume_token,find_or_create_user" || int64(len(got)) != stmts {
		t.Fatalf("Verify store spans %q for %d statements; want consume_token and find_or_create_user, one per statement", got, stmts)
	}
	port := strconv.Itoa(r.db.Server().Port())
	for _, s := range verifySpans {
		if s.Name() == "magiclink.Verify" {
			continue
		}
		if attr(s, "db.system.name") != "postgresql" || attr(s, "db.operation.name") != s.Name() ||
			attr(s, "db.namespace") != r.db.Name()+"|magiclink" || attr(s, "server.port") != port || attr(s, "server.address") == "" {
			t.Errorf("span %q attributes %v", s.Name(), s.Attributes())
		}
		if s.Status().Code == codes.Error {
			t.Errorf("span %q failed: %v", s.Name(), s.Status())
		}
	}
	assertNoSecrets(t, append(sendSpans, verifySpans...), []string{email, token, m.Code, ip.String(), digest})
}

// TestNoSpansOutsideATrace: without a recording parent span, and with the
// no-op provider, the store makes no span.
func TestNoSpansOutsideATrace(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	rig := newSpanRig()
	traced := r.store(t, WithTracerProvider(rig.tp))
	if _, err := traced.UserByID(context.Background(), "nobody"); err == nil {
		t.Fatal("found nobody")
	}
	off := r.store(t, WithTracerProvider(noop.NewTracerProvider()))
	spans := rig.trace(func(ctx context.Context) { _, _ = off.UserByID(ctx, "nobody") })
	if n := len(rig.rec.Ended()); n != 1 || len(spans) != 0 {
		t.Fatalf("%d spans ended (%d under the root); want only the root", n, len(spans))
	}
	spans = rig.trace(func(ctx context.Context) { _, _ = traced.UserByID(ctx, "nobody") })
	if len(spans) != 1 || spans[0].Name() != "user_by_id" || spans[0].Status().Code == codes.Error {
		t.Fatalf("spans %v; want one user_by_id that did not fail (no row is no error)", spans)
	}
}

// TestSpansOfKilledServer: with the server SIGKILLed, the store's span and
// the Service span carry an error status, by class only.
func TestSpansOfKilledServer(t *testing.T) {
	t.Parallel()
	srv := testpg.Start(t)
	r := migratedRig(t, srv.Database(t))
	rig := newSpanRig()
	st := r.store(t, WithTracerProvider(rig.tp))
	svc := tracedService(t, st, rig.tp, mailer.NewMemory())
	link, err := svc.CreateLink(context.Background(), magiclink.LinkRequest{Email: "killed@example.com", Origin: appOrigin})
	if err != nil {
		t.Fatal(err)
	}
	srv.Kill(t)
	spans := rig.trace(func(ctx context.Context) {
		if _, err := svc.Verify(ctx, link.Token); err == nil {
			t.Fatal("Verify succeeded with the server down")
		}
	})
	if got := serviceChildren(t, spans, "magiclink.Verify"); strings.Join(got, ",") != "consume_token" {
		t.Fatalf("store spans %q; want consume_token", got)
	}
	for _, s := range spans {
		if s.Status().Code != codes.Error {
			t.Errorf("span %q status %v; want an error", s.Name(), s.Status())
		}
		if s.Name() == "consume_token" && (attr(s, "error.type") == "" || attr(s, "error.type") != s.Status().Description) {
			t.Errorf("error.type %q, status %q; want one class in both", attr(s, "error.type"), s.Status().Description)
		}
	}
	assertNoSecrets(t, spans, []string{"killed@example.com", link.Token})
}

// BenchmarkStatementSpans measures what the spans cost a statement (a
// lookup of a missing user): "none" with the no-op provider, "global" with
// the default global provider and no SDK installed, "recording" inside a
// recording span of an SDK.
func BenchmarkStatementSpans(b *testing.B) {
	r := newRig(b)
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
			st := r.store(b, c.opt)
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
