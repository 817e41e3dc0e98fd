package pgstore

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/spantest"
	"github.com/magiclink-go/magiclink/internal/testpg"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store"
)

// TestVerifySpans: a traced Verify of a first sign-in on a real PostgreSQL
// is a Service span with one client span per statement the store sends
// (counted by pgx's tracer: consume and find-or-create), named by
// statement, with the database attributes and nothing of the address,
// token, code, IP or the token's digest.
func TestVerifySpans(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	rig := spantest.NewRig()
	st := r.store(t, WithTracerProvider(rig.Provider))
	mail := mailer.NewMemory()
	svc := rig.Service(t, st, mail)
	ip := netip.MustParseAddr("192.0.2.78")
	const email = "spans.secret@example.com"

	sendSpans := rig.Trace(func(ctx context.Context) {
		if err := svc.SendLink(ctx, magiclink.SendRequest{Email: email, CallbackOrigin: appOrigin, ClientIP: ip}); err != nil {
			t.Fatal(err)
		}
	})
	if got := spantest.ServiceChildren(t, sendSpans, "magiclink.SendLink"); strings.Join(got, ",") != "gcra,put_token" {
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
	verifySpans := rig.Trace(func(ctx context.Context) {
		stmts = r.stmts.count(func() {
			if _, err := svc.Verify(ctx, token); err != nil {
				t.Fatal(err)
			}
		})
	})
	got := spantest.ServiceChildren(t, verifySpans, "magiclink.Verify")
	if strings.Join(got, ",") != "consume_token,find_or_create_user" || int64(len(got)) != stmts {
		t.Fatalf("Verify store spans %q for %d statements; want consume_token and find_or_create_user, one per statement", got, stmts)
	}
	port := strconv.Itoa(r.db.Server().Port())
	for _, s := range verifySpans {
		if s.Name() == "magiclink.Verify" {
			continue
		}
		if spantest.Attr(s, "db.system.name") != "postgresql" || spantest.Attr(s, "db.operation.name") != s.Name() ||
			spantest.Attr(s, "db.namespace") != r.db.Name()+"|magiclink" || spantest.Attr(s, "server.port") != port || spantest.Attr(s, "server.address") == "" {
			t.Errorf("span %q attributes %v", s.Name(), s.Attributes())
		}
		if s.Status().Code == codes.Error {
			t.Errorf("span %q failed: %v", s.Name(), s.Status())
		}
	}
	spantest.AssertNoSecrets(t, append(sendSpans, verifySpans...), []string{email, token, m.Code, ip.String(), digest})
}

// TestNoSpansOutsideATrace: without a recording parent span, and with the
// no-op provider, the store makes no span.
func TestNoSpansOutsideATrace(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	rig := spantest.NewRig()
	traced := r.store(t, WithTracerProvider(rig.Provider))
	if _, err := traced.UserByID(context.Background(), "nobody"); err == nil {
		t.Fatal("found nobody")
	}
	off := r.store(t, WithTracerProvider(noop.NewTracerProvider()))
	spans := rig.Trace(func(ctx context.Context) { _, _ = off.UserByID(ctx, "nobody") })
	if n := len(rig.Recorder.Ended()); n != 1 || len(spans) != 0 {
		t.Fatalf("%d spans ended (%d under the root); want only the root", n, len(spans))
	}
	spans = rig.Trace(func(ctx context.Context) { _, _ = traced.UserByID(ctx, "nobody") })
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
	rig := spantest.NewRig()
	svc := rig.Service(t, r.store(t, WithTracerProvider(rig.Provider)), mailer.NewMemory())
	s := rig.KilledServer(t, svc, srv.Kill, "consume_token")
	if spantest.Attr(s, "error.type") == "" || spantest.Attr(s, "error.type") != s.Status().Description {
		t.Errorf("error.type %q, status %q; want one class in both", spantest.Attr(s, "error.type"), s.Status().Description)
	}
}

// BenchmarkStatementSpans measures what the spans cost a statement (a
// lookup of a missing user): "none" with the no-op provider, "global" with
// the default global provider and no SDK installed, "recording" inside a
// recording span of an SDK.
func BenchmarkStatementSpans(b *testing.B) {
	r := newRig(b)
	spantest.NewRig().BenchmarkLookup(b, func(b *testing.B, tp trace.TracerProvider) store.Users {
		return r.store(b, WithTracerProvider(tp))
	})
}
