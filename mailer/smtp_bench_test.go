package mailer

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"
)

// sinkBackend accepts every mail and keeps nothing, so the benchmark
// measures the client rather than the server's bookkeeping. A non-zero
// delay holds the replies to MAIL, RCPT and the end of DATA, as a relay
// across a network (or one that checks each command) does; it models a
// round-trip time and synchronizes nothing.
type sinkBackend struct {
	delay     time.Duration
	delivered atomic.Int64
	sessions  atomic.Int64
}

func (b *sinkBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	b.sessions.Add(1)
	return sinkSession{b}, nil
}

type sinkSession struct{ b *sinkBackend }

func (s sinkSession) wait() {
	if s.b.delay > 0 {
		time.Sleep(s.b.delay)
	}
}

func (s sinkSession) Mail(string, *smtp.MailOptions) error { s.wait(); return nil }
func (s sinkSession) Rcpt(string, *smtp.RcptOptions) error { s.wait(); return nil }
func (s sinkSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	s.wait()
	s.b.delivered.Add(1)
	return err
}
func (sinkSession) Reset()        {}
func (sinkSession) Logout() error { return nil }

func startSink(b *testing.B, delay time.Duration) (int, *sinkBackend) {
	be := &sinkBackend{delay: delay}
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The label follows every goroutine the server starts, so a CPU
		// profile splits into server and client: pprof -tagfocus side=sink.
		pprof.Do(context.Background(), pprof.Labels("side", "sink"), func(context.Context) { _ = srv.Serve(l) })
	}()
	b.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return l.Addr().(*net.TCPAddr).Port, be
}

// BenchmarkSMTPSenders sends a rendered sign-in mail from 16 concurrent
// senders (a Dispatcher with 16 workers, or 16 request handlers) to a
// loopback SMTP server, through pools of 1, 4 and 16 connections. The
// figure to compare is mails/s within one run. "rtt=0" is the bare
// loopback, where client and server share the machine's cores; "rtt=1ms"
// holds each of the server's three replies that end a step of the
// transaction for 1ms, as a relay one network hop away would.
//
// On a machine with few cores rtt=0 is bound by CPU, not by round trips:
// client and sink share the cores (the go-smtp sink, with a backend that
// keeps nothing, takes about a third of the CPU per mail), so the pool can
// only win what idle cores are left. rtt=1ms shows what pooling buys
// against a relay that is not on the same machine.
func BenchmarkSMTPSenders(b *testing.B) {
	for _, delay := range []time.Duration{0, time.Millisecond} {
		b.Run(fmt.Sprintf("rtt=%v", delay), func(b *testing.B) { benchmarkSMTPSenders(b, delay) })
	}
}

func benchmarkSMTPSenders(b *testing.B, delay time.Duration) {
	const senders = 16
	msg, err := DefaultTemplates().Render(LinkData{
		To: "jane@example.com", AppName: "Acme", Origin: "https://app.example.com",
		Link: "https://app.example.com/auth/verify?token_hash=abcDEF123_-x&type=magiclink&next=%2Foverview",
		Code: "123456", TTL: 15 * time.Minute, Locale: "en",
	})
	require.NoError(b, err)
	for _, conns := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			port, be := startSink(b, delay)
			s, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: port, TLS: TLSNone, HELO: "localhost",
				From: "Acme <no-reply@acme.example>", MaxConnections: conns})
			require.NoError(b, err)
			defer s.Close()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			cpu0, cpuOK := processCPU()
			var next atomic.Int64
			var wg sync.WaitGroup
			for range senders {
				wg.Go(func() {
					pprof.Do(context.Background(), pprof.Labels("side", "client"), func(ctx context.Context) {
						for next.Add(1) <= int64(b.N) {
							if err := s.Send(ctx, msg); err != nil {
								b.Error(err)
								return
							}
						}
					})
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "mails/s")
			if cpu1, ok := processCPU(); ok && cpuOK {
				// Client and sink together: on a machine with few cores, the
				// bound of the bare loopback case is cores / this.
				b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "cpu-µs/mail")
			}
			b.StopTimer()
			if got := be.delivered.Load(); got != int64(b.N) {
				b.Fatalf("server got %d mails, sent %d", got, b.N)
			}
			if got := be.sessions.Load(); got > int64(conns) {
				b.Fatalf("%d connections for a pool of %d", got, conns)
			}
		})
	}
}
