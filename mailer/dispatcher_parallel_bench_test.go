package mailer_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/benchcpu"
	"github.com/magiclink-go/magiclink/mailer"
)

// busyMailer does a fixed amount of work per mail (n SHA-256 sums of
// 1 KiB, about 1 µs each), as rendering and an SMTP transaction do, so that
// a Dispatcher in front of it fills its queue. It is work, not a clock
// spin: a spin measures wall time and stretches whenever the spinning
// goroutine is descheduled.
type busyMailer struct{ n int }

func (m busyMailer) Send(context.Context, *mailer.Message) error {
	var buf [1024]byte
	for range m.n {
		sum := sha256.Sum256(buf[:])
		buf[0] = sum[0]
	}
	return nil
}

type fixedRenderer struct{}

func (fixedRenderer) Render(d mailer.LinkData) (*mailer.Message, error) {
	return &mailer.Message{To: d.To, Subject: "Sign in", Text: d.Link}, nil
}

// BenchmarkDispatcherSenders is Reserve + CommitLink from 16 and from 64
// senders into a Dispatcher of 16 workers whose mailer is the bottleneck
// (about 8 µs of CPU per mail): the queue stays full, senders wait for room,
// and the time per mail should be the mailer's whatever the number of
// senders. More senders costing more per mail would be contention in the
// Dispatcher itself (its lock, wake-ups of waiting senders).
func BenchmarkDispatcherSenders(b *testing.B) {
	for _, senders := range []int{16, 64} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			d := mailer.NewDispatcher(busyMailer{8}, mailer.DispatcherOptions{
				Workers: 16, Wait: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			b.SetParallelism(max(1, senders/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			data := mailer.LinkData{To: "jane@example.com", Link: "https://example.com/auth/confirm?token_hash=x"}
			cpu := benchcpu.Start()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					r, err := d.Reserve(ctx)
					if err != nil {
						b.Error(err)
						return
					}
					if err := r.CommitLink(ctx, fixedRenderer{}, data); err != nil {
						b.Error(err)
						return
					}
				}
			})
			cpu.Report(b)
			if err := d.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
		})
	}
}
