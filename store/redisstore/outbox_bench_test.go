package redisstore

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/outboxtest"
)

// countingMailer counts deliveries and closes done at the target.
type countingMailer struct {
	n      atomic.Int64
	target int64
	done   chan struct{}
	next   mailer.Mailer
}

func (c *countingMailer) Send(ctx context.Context, m *mailer.Message) error {
	if c.next != nil {
		if err := c.next.Send(ctx, m); err != nil {
			return err
		}
	}
	if c.n.Add(1) == c.target {
		close(c.done)
	}
	return nil
}

// benchDelivery sends b.N mails through an outbox (or, for comparison, the
// in-memory Dispatcher) from 16 goroutines and waits until next has
// delivered all of them: mails/s is end-to-end throughput, accept to
// delivery.
func benchDelivery(b *testing.B, next mailer.Mailer, workers int, durable bool) {
	rdb := testredis.Start(b).Client(b)
	msg, err := mailer.DefaultTemplates().Render(mailer.LinkData{To: "ada@example.com", AppName: "Acme",
		Origin: "https://app.example", Link: "https://app.example/auth/verify?token_hash=0123456789abcdef0123456789abcdef0123456789a&type=magiclink&next=%2F",
		Code: "123456", TTL: 15 * time.Minute, Locale: "en"})
	if err != nil {
		b.Fatal(err)
	}
	c := &countingMailer{target: int64(b.N), done: make(chan struct{}), next: next}
	var ob interface {
		mailer.Mailer
		Close(context.Context) error
	}
	if durable {
		o, err := NewOutbox(rdb, c, mailer.OutboxOptions{Secret: []byte(outboxtest.Secret), Workers: workers},
			WithOutboxPrefix(uniquePrefix()))
		if err != nil {
			b.Fatal(err)
		}
		ob = o
	} else {
		ob = mailer.NewDispatcher(c, mailer.DispatcherOptions{Workers: workers, QueueSize: b.N + 1})
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(8) // 16 senders on 2 cores
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := ob.Send(ctx, msg); err != nil {
				b.Error(err)
				return
			}
		}
	})
	select {
	case <-c.done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("delivered %d of %d", c.n.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "mails/s")
	b.StopTimer()
	if err := ob.Close(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkOutboxDelivery: accept-to-delivery throughput of the Redis
// outbox against the in-memory Dispatcher, into a discarding mailer and
// into a real SMTP server on loopback (mailer.SMTP).
//
//	go test -run '^$' -bench BenchmarkOutboxDelivery -benchtime=1s -count=3 ./store/redisstore/
func BenchmarkOutboxDelivery(b *testing.B) {
	for _, c := range []struct {
		name    string
		smtp    bool
		durable bool
		workers int
	}{
		{"discard/dispatcher/4", false, false, 4},
		{"discard/outbox/4", false, true, 4},
		{"discard/outbox/16", false, true, 16},
		{"smtp/dispatcher/16", true, false, 16},
		{"smtp/outbox/16", true, true, 16},
	} {
		b.Run(c.name, func(b *testing.B) {
			var next mailer.Mailer
			if c.smtp {
				_, port := startSink(b, sinkAccept)
				m, err := mailer.NewSMTP(mailer.SMTPConfig{Host: "127.0.0.1", Port: port, TLS: mailer.TLSNone,
					From: "Acme <no-reply@acme.example>", HELO: "localhost"})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = m.Close() })
				next = m
			}
			benchDelivery(b, next, c.workers, c.durable)
		})
	}
}

// stalledMailer holds every delivery until its context ends, so that an
// accept benchmark measures the request path alone.
type stalledMailer struct{}

func (stalledMailer) Send(ctx context.Context, _ *mailer.Message) error {
	<-ctx.Done()
	return ctx.Err()
}

// BenchmarkOutboxAccept: what a send costs the request path — sealing and
// one XADD — for a rendered message and for link data the worker renders,
// from 16 goroutines.
//
//	go test -run '^$' -bench BenchmarkOutboxAccept -benchtime=1s -count=3 ./store/redisstore/
func BenchmarkOutboxAccept(b *testing.B) {
	rdb := testredis.Start(b).Client(b)
	templates := mailer.DefaultTemplates()
	data := mailer.LinkData{To: "ada@example.com", AppName: "Acme", Origin: "https://app.example",
		Link: "https://app.example/auth/verify?token_hash=0123456789abcdef0123456789abcdef0123456789a&type=magiclink&next=%2F",
		Code: "123456", TTL: 15 * time.Minute, ExpiresAt: time.Now().Add(time.Hour), Locale: "en"}
	rendered, err := templates.Render(data)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		send func(context.Context, *Outbox) error
	}{
		{"message", func(ctx context.Context, ob *Outbox) error { return ob.Send(ctx, rendered) }},
		{"linkdata", func(ctx context.Context, ob *Outbox) error { return ob.SendLinkMail(ctx, templates, data) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			ob, err := NewOutbox(rdb, stalledMailer{}, mailer.OutboxOptions{Secret: []byte(outboxtest.Secret), Workers: 1,
				Renderer: templates}, WithOutboxPrefix(uniquePrefix()))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.send(ctx, ob); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			done, cancel := context.WithCancel(ctx)
			cancel()
			_ = ob.Close(done)
			_ = rdb.FlushAll(ctx).Err() // this benchmark's own server: drop the stored mails
		})
	}
}
