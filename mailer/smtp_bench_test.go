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

// sinkBackend accepts every mail and keeps nothing, as a real sink does
// (it reads the data and discards it), so the benchmark measures the
// client rather than the server's bookkeeping. A non-zero delay holds the
// replies to MAIL, RCPT and the end of DATA, as a relay that checks each
// command (DNS, policy, a queue write) does; pipelining cannot hide it.
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

// sinkLatency is where a benchmark's server spends its waiting: holding
// replies (reply) or on the network (rtt).
type sinkLatency struct{ reply, rtt time.Duration }

func startSink(b *testing.B, lat sinkLatency) (int, *sinkBackend) {
	be := &sinkBackend{delay: lat.reply}
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	var l net.Listener = raw
	if lat.rtt > 0 {
		l = &latencyListener{Listener: raw, rtt: lat.rtt}
	}
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
	return raw.Addr().(*net.TCPAddr).Port, be
}

// latencyListener gives the server connections on which whatever the
// client sends arrives rtt late, a network round trip: a reply can leave
// no sooner than rtt after the command was sent, however many commands
// travelled together.
type latencyListener struct {
	net.Listener
	rtt time.Duration
}

func (l *latencyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lc := &latencyConn{Conn: c, rtt: l.rtt, arrivals: make(chan arrival, 64)}
	go lc.carry()
	return lc, nil
}

// arrival is one read from the client and the time it may be delivered.
type arrival struct {
	at  time.Time
	b   []byte
	err error
}

type latencyConn struct {
	net.Conn
	rtt      time.Duration
	arrivals chan arrival
	pending  []byte
	err      error
}

// carry reads from the client as bytes come and stamps them; it ends with
// the connection.
func (c *latencyConn) carry() {
	for {
		buf := make([]byte, 32<<10)
		n, err := c.Conn.Read(buf)
		c.arrivals <- arrival{at: time.Now().Add(c.rtt), b: buf[:n], err: err}
		if err != nil {
			return
		}
	}
}

func (c *latencyConn) Read(p []byte) (int, error) {
	if len(c.pending) == 0 && c.err == nil {
		a := <-c.arrivals
		time.Sleep(time.Until(a.at))
		c.pending, c.err = a.b, a.err
	}
	if len(c.pending) == 0 {
		return 0, c.err
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// BenchmarkSMTPSenders sends a rendered sign-in mail from 16 concurrent
// senders (a Dispatcher with 16 workers, or 16 request handlers) to a
// loopback SMTP server, through pools of 1, 4 and 16 connections. The
// figure to compare is mails/s within one run; cpu-µs/mail is the CPU
// time of the whole process (client and sink) per mail.
//
// "reply=0s" is the bare loopback, where client and sink share the
// machine's cores. "reply=…" holds each of the sink's replies to MAIL,
// RCPT and the end of DATA that long; "rtt=…" delays what the client sends
// by a network round trip instead, where pipelining (two round trips per
// mail instead of four) pays.
//
// On a machine with few cores reply=0s is bound by CPU, not by round
// trips: one connection already keeps about one core busy (client and sink
// taking turns), so a pool of 16 can win at most the idle cores left:
// mails/s for 16 is bounded by cores / cpu-µs/mail.
func BenchmarkSMTPSenders(b *testing.B) {
	for _, lat := range []sinkLatency{
		{}, {reply: 200 * time.Microsecond}, {reply: time.Millisecond},
		{rtt: 200 * time.Microsecond}, {rtt: time.Millisecond},
	} {
		name := fmt.Sprintf("reply=%v", lat.reply)
		if lat.rtt > 0 {
			name = fmt.Sprintf("rtt=%v", lat.rtt)
		}
		b.Run(name, func(b *testing.B) { benchmarkSMTPSenders(b, lat) })
	}
}

func benchmarkSMTPSenders(b *testing.B, lat sinkLatency) {
	const senders = 16
	msg, err := DefaultTemplates().Render(LinkData{
		To: "jane@example.com", AppName: "Acme", Origin: "https://app.example.com",
		Link: "https://app.example.com/auth/verify?token_hash=abcDEF123_-x&type=magiclink&next=%2Foverview",
		Code: "123456", TTL: 15 * time.Minute, Locale: "en",
	})
	require.NoError(b, err)
	for _, conns := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			port, be := startSink(b, lat)
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

// BenchmarkSMTPBuild is the client's work per mail before a connection is
// taken: the MIME message (go-mail), its envelope and the DATA bytes.
func BenchmarkSMTPBuild(b *testing.B) {
	msg, err := DefaultTemplates().Render(LinkData{
		To: "jane@example.com", AppName: "Acme", Origin: "https://app.example.com",
		Link: "https://app.example.com/auth/verify?token_hash=abcDEF123_-x&type=magiclink&next=%2Foverview",
		Code: "123456", TTL: 15 * time.Minute, Locale: "en",
	})
	require.NoError(b, err)
	s, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", TLS: TLSNone, From: "Acme <no-reply@acme.example>"})
	require.NoError(b, err)
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		o, err := s.build(msg)
		if err != nil {
			b.Fatal(err)
		}
		s.wire.Put(o.buf)
	}
}
