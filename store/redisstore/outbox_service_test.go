package redisstore

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/outboxtest"
)

// TestOutboxAsServiceMailer: the outbox is a Service's Config.Mailer. A
// send stays within DESIGN §6's budget of three round trips (limits,
// token, XADD), the worker renders the mail, and its code signs in.
func TestOutboxAsServiceMailer(t *testing.T) {
	t.Parallel()
	rdb := testredis.Start(t).Client(t)
	calls := &markedCalls{}
	rdb.AddHook(calls)
	prefix := uniquePrefix()
	s, err := New(rdb, WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	inbox := mailer.NewMemory()
	templates := mailer.DefaultTemplates()
	ob, err := NewOutbox(rdb, inbox, mailer.OutboxOptions{Secret: []byte(outboxtest.Secret), Renderer: templates,
		PollInterval: 20 * time.Millisecond}, WithOutboxPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Close(context.Background()) })
	const origin = "https://app.example.com"
	svc, err := magiclink.New(magiclink.Config{
		Origins: []string{origin}, Secret: []byte(outboxtest.Secret), Store: s, Limiter: s,
		Mailer: ob, Templates: templates, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })

	send := func(ctx context.Context, email string) {
		t.Helper()
		if err := svc.SendLink(ctx, magiclink.SendRequest{Email: email, CallbackOrigin: origin,
			ClientIP: netip.MustParseAddr("192.0.2.1")}); err != nil {
			t.Fatalf("SendLink: %v", err)
		}
	}
	send(t.Context(), "warm-up@example.com") // loads the scripts (EVALSHA, then EVAL)
	send(context.WithValue(t.Context(), sendMark{}, true), "ada@example.com")
	if got := calls.names(); len(got) != 3 || got[len(got)-1] != "xadd" {
		t.Fatalf("a send through the outbox issued %v, want 3 round trips ending with the XADD", got)
	}
	wait, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	m, err := inbox.Wait(wait, "ada@example.com")
	if err != nil {
		t.Fatalf("no mail delivered: %v", err)
	}
	if m.Code == "" || m.ID == "" || m.Subject == "" {
		t.Fatalf("delivered mail not rendered: %+v", m)
	}
	id, err := svc.VerifyCode(t.Context(), "ada@example.com", m.Code)
	if err != nil || id.Email != "ada@example.com" {
		t.Fatalf("the mailed code: %+v, %v", id, err)
	}
}
