package mailer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	netmail "net/mail"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/magiclink-go/magiclink/internal/leaktest"
)

// smtpMode is what the controllable SMTP backend does with the next DATA.
type smtpMode int32

const (
	smtpAccept smtpMode = iota
	// smtpTempFail answers 451 to DATA (after reading the body) while
	// failLeft > 0, then accepts.
	smtpTempFail
	// smtpHold blocks DATA until hold is closed, then answers 451: the
	// server gave up on a client that stopped waiting, as a real MTA does
	// when the client disconnects before the final reply.
	smtpHold
)

// ctlBackend is a go-smtp backend whose behaviour the test switches at run
// time. It counts accepted mails by Message-ID and by a marker the test
// puts in each body, so a duplicate shows either way.
type ctlBackend struct {
	mode     atomic.Int32
	failLeft atomic.Int32
	// mailFailLeft and rcptFailLeft make MAIL FROM answer 450 and RCPT TO
	// answer 452 that many times, in any mode.
	mailFailLeft atomic.Int32
	rcptFailLeft atomic.Int32

	mu        sync.Mutex
	hold      chan struct{}
	held      chan struct{} // receives one value each time a DATA starts holding
	byID      map[string]int
	byMarker  map[string]int
	accepted  int
	rejected  int
	sessions  int
	conns     []*smtp.Conn
	datasSeen int
}

func newCtlBackend() *ctlBackend {
	return &ctlBackend{hold: make(chan struct{}), held: make(chan struct{}, 64),
		byID: map[string]int{}, byMarker: map[string]int{}}
}

func (b *ctlBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.mu.Lock()
	b.sessions++
	b.conns = append(b.conns, c)
	b.mu.Unlock()
	return &ctlSession{b: b}, nil
}

// dropAll closes every connection from the server side, as a server
// restart or an idle timeout does.
func (b *ctlBackend) dropAll() {
	b.mu.Lock()
	conns := b.conns
	b.conns = nil
	b.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

func (b *ctlBackend) sessionCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sessions
}

// release lets every held DATA finish (with 451) and makes later DATA
// commands go through the current mode.
func (b *ctlBackend) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.hold:
	default:
		close(b.hold)
	}
}

func (b *ctlBackend) counts() (accepted int, byMarker map[string]int, byID map[string]int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := make(map[string]int, len(b.byMarker))
	for k, v := range b.byMarker {
		m[k] = v
	}
	ids := make(map[string]int, len(b.byID))
	for k, v := range b.byID {
		ids[k] = v
	}
	return b.accepted, m, ids
}

type ctlSession struct{ b *ctlBackend }

func (s *ctlSession) Mail(string, *smtp.MailOptions) error {
	if s.b.mailFailLeft.Add(-1) >= 0 {
		return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "mailbox busy"}
	}
	return nil
}

func (s *ctlSession) Rcpt(string, *smtp.RcptOptions) error {
	if s.b.rcptFailLeft.Add(-1) >= 0 {
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "insufficient storage"}
	}
	return nil
}
func (s *ctlSession) Reset()        {}
func (s *ctlSession) Logout() error { return nil }

var errTempFail = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}

func (s *ctlSession) Data(r io.Reader) error {
	b := s.b
	b.mu.Lock()
	b.datasSeen++
	hold := b.hold
	b.mu.Unlock()
	switch smtpMode(b.mode.Load()) {
	case smtpHold:
		b.held <- struct{}{}
		<-hold
		_, _ = io.Copy(io.Discard, r)
		b.mu.Lock()
		b.rejected++
		b.mu.Unlock()
		return errTempFail
	case smtpTempFail:
		if b.failLeft.Add(-1) >= 0 {
			_, _ = io.Copy(io.Discard, r)
			b.mu.Lock()
			b.rejected++
			b.mu.Unlock()
			return errTempFail
		}
	}
	msg, err := netmail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		return err
	}
	marker := ""
	if i := strings.Index(string(body), "marker-"); i >= 0 {
		marker = string(body[i:])
		if j := strings.IndexFunc(marker, func(r rune) bool { return !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z') }); j >= 0 {
			marker = marker[:j]
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.accepted++
	b.byID[msg.Header.Get("Message-Id")]++
	b.byMarker[marker]++
	return nil
}

// smtpServer is an in-process SMTP server on a fixed loopback address that
// can be stopped (listener and connections closed) and started again on the
// same port.
type smtpServer struct {
	t    *testing.T
	be   *ctlBackend
	addr string

	mu   sync.Mutex
	srv  *smtp.Server
	l    net.Listener
	done chan struct{}
}

func startSMTPServer(t *testing.T, be *ctlBackend) *smtpServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &smtpServer{t: t, be: be, addr: l.Addr().String()}
	s.serve(l)
	t.Cleanup(s.stop)
	return s
}

func (s *smtpServer) port() int { return s.listenPort() }

func (s *smtpServer) listenPort() int {
	_, p, _ := net.SplitHostPort(s.addr)
	var n int
	_, _ = fmt.Sscan(p, &n)
	return n
}

func (s *smtpServer) serve(l net.Listener) {
	srv := smtp.NewServer(s.be)
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	s.mu.Lock()
	s.srv, s.l, s.done = srv, l, done
	s.mu.Unlock()
}

// stop closes the listener and every connection and waits for Serve to
// return. Sessions blocked in the backend are released first.
func (s *smtpServer) stop() {
	s.mu.Lock()
	srv, l, done := s.srv, s.l, s.done
	s.srv, s.l, s.done = nil, nil, nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	s.be.release()
	// Closing the listener ourselves as well covers a Close that runs
	// before Serve has registered it.
	_ = l.Close()
	_ = srv.Close()
	<-done
}

// restart listens on the same port again. The port was ours a moment ago;
// should another process have taken it, the retry loop (bounded by a
// deadline) waits for the kernel to hand it back.
func (s *smtpServer) restart() {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := net.Listen("tcp", s.addr)
		if err == nil {
			s.serve(l)
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("relisten on %s: %v", s.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countingMailer counts Send calls (delivery attempts) of the inner
type countingMailer struct {
	inner    Mailer
	attempts atomic.Int64
	failures atomic.Int64
}

func (c *countingMailer) Send(ctx context.Context, m *Message) error {
	c.attempts.Add(1)
	err := c.inner.Send(ctx, m)
	if err != nil {
		c.failures.Add(1)
	}
	return err
}

// backoffGate is a DispatcherOptions.After whose waits the test releases:
// each wait announces itself on waits and fires when the test sends on the
// channel it got.
type backoffGate struct {
	waits chan chan time.Time
}

func newBackoffGate() *backoffGate { return &backoffGate{waits: make(chan chan time.Time, 64)} }

func (g *backoffGate) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	g.waits <- ch
	return ch
}

// next waits for the Dispatcher to start a backoff wait.
func (g *backoffGate) next(t *testing.T) chan time.Time {
	t.Helper()
	select {
	case ch := <-g.waits:
		return ch
	case <-time.After(30 * time.Second):
		t.Fatal("the Dispatcher never started a backoff wait")
		return nil
	}
}

// immediate is a DispatcherOptions.After that fires at once.
func immediate(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- time.Now()
	return ch
}

func newSMTPMailer(t *testing.T, port int, timeout time.Duration) *SMTP {
	t.Helper()
	m, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: port, TLS: TLSNone,
		From: "Acme <no-reply@acme.example>", Timeout: timeout, HELO: "localhost"})
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func markedMessage(i int) *Message {
	return &Message{To: fmt.Sprintf("user%d@example.com", i), Subject: "Sign in",
		Text: fmt.Sprintf("Your link. marker-%d\n", i)}
}

// requireExactlyOnce checks that mails 0..n-1 each arrived exactly once and
// that no Message-ID was seen twice.
func requireExactlyOnce(t *testing.T, be *ctlBackend, n int) {
	t.Helper()
	accepted, byMarker, byID := be.counts()
	if accepted != n {
		t.Errorf("server accepted %d mails, want exactly %d", accepted, n)
	}
	for i := range n {
		if c := byMarker[fmt.Sprintf("marker-%d", i)]; c != 1 {
			t.Errorf("mail %d arrived %d times, want exactly once", i, c)
		}
	}
	for id, c := range byID {
		if c != 1 {
			t.Errorf("Message-ID %q arrived %d times", id, c)
		}
	}
}

// TestSMTPDownThenBack: the server's listener is closed when the mail is
// accepted; the first delivery fails with a temporary (network) error, the
// server comes back on the same port during the backoff, and the retry
// delivers the mail exactly once.
func TestSMTPDownThenBack(t *testing.T) {
	base := leaktest.Goroutines()
	be := newCtlBackend()
	srv := startSMTPServer(t, be)
	srv.stop()

	inner := &countingMailer{inner: newSMTPMailer(t, srv.port(), 200*time.Millisecond)}
	gate := newBackoffGate()
	var failed atomic.Int64
	d := NewDispatcher(inner, DispatcherOptions{Workers: 1, MaxAttempts: 5, After: gate.After,
		Logger: discardLogger(), OnFailure: func(*Message, error) { failed.Add(1) }})

	if err := d.Send(context.Background(), markedMessage(0)); err != nil {
		t.Fatalf("Send while the server is down must be accepted (queued): %v", err)
	}
	wait := gate.next(t) // first attempt failed: connection refused
	if a := inner.attempts.Load(); a != 1 {
		t.Fatalf("attempts before the first backoff = %d, want 1", a)
	}
	srv.restart()
	wait <- time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	requireExactlyOnce(t, be, 1)
	if a := inner.attempts.Load(); a != 2 {
		t.Errorf("delivery took %d attempts, want 2 (one refused, one delivered)", a)
	}
	if failed.Load() != 0 {
		t.Errorf("%d mails reported as finally failed", failed.Load())
	}
	t.Logf("SMTP down then back: delivered after %d attempts (policy: at most 5)", inner.attempts.Load())
	srv.stop()
	leaktest.Check(t, base)
}

// TestSMTPSlowBeyondTimeout: the server holds DATA longer than the SMTP
// mailer's 200 ms timeout. The attempt fails as temporary, the server gives
// up on that transaction (451, nothing accepted), and the retry delivers
// exactly one copy.
func TestSMTPSlowBeyondTimeout(t *testing.T) {
	base := leaktest.Goroutines()
	be := newCtlBackend()
	be.mode.Store(int32(smtpHold))
	srv := startSMTPServer(t, be)

	inner := &countingMailer{inner: newSMTPMailer(t, srv.port(), 200*time.Millisecond)}
	gate := newBackoffGate()
	d := NewDispatcher(inner, DispatcherOptions{Workers: 1, MaxAttempts: 5, After: gate.After, Logger: discardLogger()})

	start := time.Now()
	if err := d.Send(context.Background(), markedMessage(0)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	select {
	case <-be.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the server never saw DATA")
	}
	wait := gate.next(t) // the client gave up after its timeout
	elapsed := time.Since(start)
	if elapsed > 10*time.Second {
		t.Errorf("the first attempt took %v; the 200ms SMTP timeout did not bound it", elapsed)
	}
	be.mode.Store(int32(smtpAccept))
	be.release()
	wait <- time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	requireExactlyOnce(t, be, 1)
	if a := inner.attempts.Load(); a != 2 {
		t.Errorf("delivery took %d attempts, want 2", a)
	}
	t.Logf("SMTP slow: first attempt gave up after %v (timeout 200ms), delivered on attempt %d", elapsed.Round(time.Millisecond), inner.attempts.Load())
	srv.stop()
	leaktest.Check(t, base)
}

// TestSMTPTemporaryFailuresThenRecovery: the server answers 4xx to the
// first MAIL, RCPT and DATA commands; every mail is still delivered exactly once, within
// MaxAttempts, and none is reported as failed.
func TestSMTPTemporaryFailuresThenRecovery(t *testing.T) {
	base := leaktest.Goroutines()
	be := newCtlBackend()
	// More attempts than failures: even if one mail drew every 451 it would
	// still be delivered, so the test is deterministic.
	const mails, maxAttempts = 20, 8
	const dataFails, mailFails, rcptFails = 3, 2, 2
	const failures = dataFails + mailFails + rcptFails
	be.mode.Store(int32(smtpTempFail))
	be.failLeft.Store(dataFails)
	be.mailFailLeft.Store(mailFails)
	be.rcptFailLeft.Store(rcptFails)
	srv := startSMTPServer(t, be)

	inner := &countingMailer{inner: newSMTPMailer(t, srv.port(), 2*time.Second)}
	var failed atomic.Int64
	// More workers than pooled connections (4): some sends wait for one.
	d := NewDispatcher(inner, DispatcherOptions{Workers: 6, MaxAttempts: maxAttempts, After: immediate,
		Logger: discardLogger(), OnFailure: func(*Message, error) { failed.Add(1) }})
	for i := range mails {
		if err := d.Send(context.Background(), markedMessage(i)); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if f := failed.Load(); f != 0 {
		t.Errorf("%d mails finally failed although the server recovered", f)
	}
	requireExactlyOnce(t, be, mails)
	if a := inner.attempts.Load(); a != mails+failures {
		t.Errorf("attempts = %d, want %d (one per mail plus one per 4xx)", a, mails+failures)
	}
	t.Logf("SMTP 4xx x%d (MAIL 450, RCPT 452, DATA 451) then recovery: %d mails delivered once each in %d attempts", failures, mails, inner.attempts.Load())
	srv.stop()
	leaktest.Check(t, base)
}

// TestSMTPPoolSurvivesDroppedConnections: the server drops every pooled
// connection between two batches of mail (a restart, an idle timeout).
// The pool notices each dead connection before sending anything on it and
// opens a new one, so the Dispatcher sees no failed attempt, every mail
// arrives exactly once, and no goroutine is left behind.
func TestSMTPPoolSurvivesDroppedConnections(t *testing.T) {
	base := leaktest.Goroutines()
	be := newCtlBackend()
	srv := startSMTPServer(t, be)
	inner := &countingMailer{inner: newSMTPMailer(t, srv.port(), 5*time.Second)}
	d := NewDispatcher(inner, DispatcherOptions{Workers: 8, MaxAttempts: 5, After: immediate, Logger: discardLogger()})
	const batch = 40
	send := func(from int) {
		for i := from; i < from+batch; i++ {
			if err := d.Send(context.Background(), markedMessage(i)); err != nil {
				t.Fatalf("Send %d: %v", i, err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.Flush(ctx); err != nil {
			t.Fatalf("Flush: %v", err)
		}
	}
	send(0)
	first := be.sessionCount()
	be.dropAll()
	send(batch)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	requireExactlyOnce(t, be, 2*batch)
	if a, f := inner.attempts.Load(), inner.failures.Load(); a != 2*batch || f != 0 {
		t.Errorf("%d attempts, %d failed, want %d and 0: a dropped connection surfaced as a failure", a, f, 2*batch)
	}
	if first > 4 || be.sessionCount() > 2*first {
		t.Errorf("connections: %d before the drop, %d in all; want at most 4 per batch", first, be.sessionCount())
	}
	t.Logf("server dropped %d pooled connections: %d mails delivered once each, %d connections in all", first, 2*batch, be.sessionCount())
	if err := inner.inner.(*SMTP).Close(); err != nil {
		t.Errorf("SMTP Close: %v", err)
	}
	srv.stop()
	leaktest.Check(t, base)
}

// TestDispatcherCloseDrainsDuringSends: senders keep sending while Close
// runs; every mail Send accepted is delivered exactly once before Close
// returns, and Send after Close reports ErrClosed.
func TestDispatcherCloseDrainsDuringSends(t *testing.T) {
	base := leaktest.Goroutines()
	be := newCtlBackend()
	be.mode.Store(int32(smtpHold)) // hold the first DATA so the queue fills up
	srv := startSMTPServer(t, be)

	inner := &countingMailer{inner: newSMTPMailer(t, srv.port(), 20*time.Second)}
	// A small queue keeps the senders busy (ErrQueueFull) rather than
	// finished when Close begins.
	d := NewDispatcher(inner, DispatcherOptions{Workers: 2, QueueSize: 64, MaxAttempts: 5, After: immediate,
		Logger: discardLogger()})

	const senders = 8
	var (
		seq      atomic.Int64
		accepted sync.Map // marker index → true
		nAcc     atomic.Int64
		wg       sync.WaitGroup
		sawClose = make(chan struct{}, senders)
	)
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(seq.Add(1) - 1)
				err := d.Send(context.Background(), markedMessage(i))
				switch {
				case err == nil:
					accepted.Store(i, true)
					nAcc.Add(1)
				case errors.Is(err, ErrClosed):
					sawClose <- struct{}{}
					return
				case errors.Is(err, ErrQueueFull):
					// Not accepted; try the next one, without starving the
					// workers of the two cores.
					runtime.Gosched()
				default:
					t.Errorf("Send: %v", err)
					return
				}
			}
		}()
	}
	select {
	case <-be.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the server never saw DATA")
	}
	// The first mail is held (it will be answered 451 and retried). Close
	// while the senders are still sending.
	be.mode.Store(int32(smtpAccept))
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		closed <- d.Close(ctx)
	}()
	select {
	case <-sawClose:
	case <-time.After(30 * time.Second):
		t.Fatal("no Send saw ErrClosed after Close began")
	}
	be.release()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()

	n := int(nAcc.Load())
	acc, byMarker, byID := be.counts()
	if acc != n {
		t.Errorf("server accepted %d mails, Send accepted %d: Close did not drain exactly", acc, n)
	}
	accepted.Range(func(k, _ any) bool {
		if c := byMarker[fmt.Sprintf("marker-%d", k.(int))]; c != 1 {
			t.Errorf("accepted mail %d arrived %d times", k.(int), c)
		}
		return true
	})
	for id, c := range byID {
		if c != 1 {
			t.Errorf("Message-ID %q arrived %d times", id, c)
		}
	}
	if err := d.Send(context.Background(), markedMessage(-1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	t.Logf("Dispatcher.Close during sends: %d mails accepted, %d delivered, each once", n, acc)
	srv.stop()
	leaktest.Check(t, base)
}
