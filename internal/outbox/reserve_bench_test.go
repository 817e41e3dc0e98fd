package outbox

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/fakeclock"
	"github.com/magiclink-go/magiclink/mailer"
)

// BenchmarkReserve compares the accept path of a mail sent plainly with
// one sent through a reservation, and prices a refusal while the breaker
// is open, on a queue that keeps nothing (so the store's own cost is left
// out).
func BenchmarkReserve(b *testing.B) {
	msg := &mailer.Message{To: "ada@example.com", Subject: "Sign in", Text: "Open the link"}
	ctx := context.Background()
	open := func(b *testing.B) (*Outbox, *nullQueue, *fakeclock.Clock) {
		clock := fakeclock.New(fakeclock.Start)
		q := &nullQueue{}
		ob, err := New(q, discardMailer{}, "bench", mailer.OutboxOptions{Secret: []byte("reserve bench secret 0123456789abcdef"),
			Now: clock.Now, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = ob.Close(ctx) })
		return ob, q, clock
	}
	b.Run("Send", func(b *testing.B) {
		ob, _, _ := open(b)
		b.ReportAllocs()
		for b.Loop() {
			if err := ob.Send(ctx, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ReserveCommit", func(b *testing.B) {
		ob, _, _ := open(b)
		b.ReportAllocs()
		for b.Loop() {
			res, err := ob.Reserve(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := res.Commit(ctx, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Refused", func(b *testing.B) {
		ob, q, _ := open(b)
		q.down.Store(true)
		_ = ob.Send(ctx, msg) // opens the breaker; the clock never ends its cool-down
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ob.Reserve(ctx); err == nil {
				b.Fatal("Reserve granted with the breaker open")
			}
		}
	})
}

type discardMailer struct{}

func (discardMailer) Send(context.Context, *mailer.Message) error { return nil }

// nullQueue accepts every entry and keeps none, or fails every Add while
// down; its claims find nothing.
type nullQueue struct{ down atomic.Bool }

func (q *nullQueue) Add(context.Context, Entry) error {
	if q.down.Load() {
		return errDown
	}
	return nil
}

func (q *nullQueue) Claim(ctx context.Context, _ int, _ func() time.Time, wait time.Duration) ([]Entry, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, nil
}

func (q *nullQueue) Ack(context.Context, Entry) error              { return nil }
func (q *nullQueue) Retry(context.Context, Entry, time.Time) error { return nil }
func (q *nullQueue) Dead(context.Context, Entry, string) error     { return nil }
func (q *nullQueue) Ping(context.Context) error                    { return nil }
func (q *nullQueue) Stats(context.Context, time.Time) (mailer.OutboxStats, error) {
	return mailer.OutboxStats{}, nil
}
