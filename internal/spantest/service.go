package spantest

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

// Origin is the one callback origin of Service.
const Origin = "https://app.example.com"

// Store is a store that is its own limiter, as every store under test is.
type Store interface {
	store.Store
	ratelimit.Limiter
}

// Service returns a Service on st traced by the rig's provider, mailing
// through mail, closed when the test ends.
func (r *Rig) Service(t testing.TB, st Store, mail mailer.Mailer) *magiclink.Service {
	t.Helper()
	svc, err := magiclink.New(magiclink.Config{Origins: []string{Origin}, Secret: []byte("spantest secret: 0123456789abcdef"),
		Store: st, Limiter: st, Mailer: mail, TracerProvider: r.Provider, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

// KilledServer creates a link on svc, kills the store's server and
// Verifies the link in a trace: the Service span must have one store span,
// named storeSpan, and both must carry an error status, with nothing of the
// address or token. It returns the store span, for the store's own check
// of its error class.
func (r *Rig) KilledServer(t testing.TB, svc *magiclink.Service, kill func(testing.TB), storeSpan string) sdktrace.ReadOnlySpan {
	t.Helper()
	const email = "killed@example.com"
	link, err := svc.CreateLink(context.Background(), magiclink.LinkRequest{Email: email, Origin: Origin})
	if err != nil {
		t.Fatal(err)
	}
	kill(t)
	spans := r.Trace(func(ctx context.Context) {
		if _, err := svc.Verify(ctx, link.Token); err == nil {
			t.Fatal("Verify succeeded with the server down")
		}
	})
	if got := ServiceChildren(t, spans, "magiclink.Verify"); strings.Join(got, ",") != storeSpan {
		t.Fatalf("store spans %q; want %s", got, storeSpan)
	}
	var child sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Status().Code != codes.Error {
			t.Errorf("span %q status %v; want an error", s.Name(), s.Status())
		}
		if s.Name() == storeSpan {
			child = s
		}
	}
	AssertNoSecrets(t, spans, []string{email, link.Token})
	return child
}
