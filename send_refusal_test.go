package magiclink_test

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/syncbuf"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store/redisstore"
)

// gatedMailer records each mail as it arrives, then holds the delivering
// worker until the gate opens.
type gatedMailer struct {
	gate    chan struct{}
	arrived chan *mailer.Message
}

func newGatedMailer() *gatedMailer {
	return &gatedMailer{gate: make(chan struct{}), arrived: make(chan *mailer.Message, 16)}
}

func (g *gatedMailer) Send(ctx context.Context, m *mailer.Message) error {
	g.arrived <- m
	select {
	case <-g.gate:
		return nil
	case <-ctx.Done():
		return mailer.Temporary(ctx.Err())
	}
}

// oneEach is a send limit of one per hour, burst 1: a second charge of
// the same key is refused.
var oneEach = magiclink.Limits{
	SendPerIP:    ratelimit.Rate{Limit: 1, Period: time.Hour, Burst: 1},
	SendPerEmail: ratelimit.Rate{Limit: 1, Period: time.Hour, Burst: 1},
}

var (
	ipAda    = netip.MustParseAddr("192.0.2.1")
	ipBob    = netip.MustParseAddr("192.0.2.2")
	ipFiller = netip.MustParseAddr("192.0.2.3")
)

func sendFrom(svc *magiclink.Service, email string, ip netip.Addr) error {
	return svc.SendLink(context.Background(), magiclink.SendRequest{Email: email, CallbackOrigin: "https://app.example.com", ClientIP: ip})
}

// issuedFor counts the "issued" log records of one masked address.
func issuedFor(logs *syncbuf.Buffer, masked string) int {
	n := 0
	for line := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(line, "sign-in link issued") && strings.Contains(line, "email="+masked) {
			n++
		}
	}
	return n
}

// TestRefusedSendChangesNothing: with the Dispatcher's queue full, a send
// is refused with ErrMailUnavailable before anything changes: the earlier
// code of the address still signs in, neither the address nor the IP is
// charged (a later send passes a burst of 1), no link is stored and no
// "issued" record is logged.
func TestRefusedSendChangesNothing(t *testing.T) {
	t.Parallel()
	gm := newGatedMailer()
	d := mailer.NewDispatcher(gm, mailer.DispatcherOptions{QueueSize: 1, Workers: 1, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	var gateOnce sync.Once
	openGate := func() { gateOnce.Do(func() { close(gm.gate) }) }
	t.Cleanup(openGate)
	f := newFixture(t, func(c *magiclink.Config) { c.Mailer, c.Limits = d, oneEach })

	if err := sendFrom(f.svc, "ada@example.com", ipAda); err != nil {
		t.Fatalf("first send: %v", err)
	}
	first := <-gm.arrived // the worker holds ada's mail: the queue is empty
	if err := sendFrom(f.svc, "filler@example.com", ipFiller); err != nil {
		t.Fatalf("the send that fills the queue: %v", err)
	}
	tokens := f.store.Len()

	// ada's own limit is spent, so only a refusal decided before the
	// limits answers 503 rather than 429.
	for _, c := range []struct {
		email string
		ip    netip.Addr
	}{{"ada@example.com", ipAda}, {"bob@example.com", ipBob}} {
		err := sendFrom(f.svc, c.email, c.ip)
		if !errors.Is(err, magiclink.ErrMailUnavailable) || !errors.Is(err, mailer.ErrQueueFull) {
			t.Fatalf("send for %s with the queue full: %v, want ErrMailUnavailable caused by ErrQueueFull", c.email, err)
		}
	}
	if got := f.store.Len(); got != tokens {
		t.Fatalf("refused sends stored %d tokens", got-tokens)
	}
	if n := issuedFor(f.logs, mailer.MaskAddress("bob@example.com")); n != 0 {
		t.Fatalf("%d \"issued\" records for a refused send:\n%s", n, f.logs)
	}
	if n := issuedFor(f.logs, mailer.MaskAddress("ada@example.com")); n != 1 {
		t.Fatalf("%d \"issued\" records for ada, want the accepted send's only:\n%s", n, f.logs)
	}
	if id, err := f.svc.VerifyCode(context.Background(), "ada@example.com", first.Code); err != nil || id.Email != "ada@example.com" {
		t.Fatalf("the earlier code after a refused send: %+v, %v", id, err)
	}

	openGate()
	if err := d.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := sendFrom(f.svc, "bob@example.com", ipBob); err != nil {
		t.Fatalf("send after the refusal, under a burst of 1 for the address and the IP: %v", err)
	}
}

// TestRefusedSendStoreDown: the Redis store and limiter are down (the
// server killed): the send is refused, the reservation it held is given
// back, nothing is mailed or logged as issued, and once the server is back
// with its data the earlier code works and the refused address and IP
// were not charged.
func TestRefusedSendStoreDown(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	rdb := srv.Client(t)
	rs, err := redisstore.New(rdb, redisstore.WithTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	inbox := mailer.NewMemory()
	d := mailer.NewDispatcher(inbox, mailer.DispatcherOptions{QueueSize: 1, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	f := newFixture(t, func(c *magiclink.Config) {
		c.Mailer, c.Limits, c.Store, c.Limiter, c.Clock = d, oneEach, rs, rs, nil
	})
	ctx := context.Background()

	if err := sendFrom(f.svc, "ada@example.com", ipAda); err != nil {
		t.Fatalf("first send: %v", err)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	first, ok := inbox.Last("ada@example.com")
	if !ok {
		t.Fatal("no first mail")
	}
	// Keep the data across the kill, as a server with persistence would.
	if err := rdb.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)

	err = sendFrom(f.svc, "bob@example.com", ipBob)
	if !errors.Is(err, magiclink.ErrStoreUnavailable) {
		t.Fatalf("send with the store down: %v, want ErrStoreUnavailable", err)
	}
	// The queue holds one mail: had the refused send kept its
	// reservation, there would be no room now.
	r, err := d.Reserve(ctx)
	if err != nil {
		t.Fatalf("the refused send kept its room in the queue: %v", err)
	}
	r.Cancel()
	if n := issuedFor(f.logs, mailer.MaskAddress("bob@example.com")); n != 0 {
		t.Fatalf("%d \"issued\" records for a refused send:\n%s", n, f.logs)
	}

	srv.Restart(t)
	if id, err := f.svc.VerifyCode(ctx, "ada@example.com", first.Code); err != nil || id.Email != "ada@example.com" {
		t.Fatalf("the earlier code after the outage: %+v, %v", id, err)
	}
	if err := sendFrom(f.svc, "bob@example.com", ipBob); err != nil {
		t.Fatalf("send after the outage, under a burst of 1 for the address and the IP: %v", err)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(inbox.Messages()); got != 2 {
		t.Fatalf("%d mails delivered, want ada's and bob's accepted sends only", got)
	}
}
