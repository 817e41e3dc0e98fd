package mailer

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gateBackend wraps a testBackend so that every DATA waits at a gate the
// test opens, and records how many DATA commands were open at once.
type gate struct {
	mu      sync.Mutex
	inData  int
	peak    int
	entered chan struct{}
	open    chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 64), open: make(chan struct{})} }

func (g *gate) hold() {
	g.mu.Lock()
	g.inData++
	g.peak = max(g.peak, g.inData)
	g.mu.Unlock()
	g.entered <- struct{}{}
	<-g.open
	g.mu.Lock()
	g.inData--
	g.mu.Unlock()
}

func (g *gate) waitEntered(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		select {
		case <-g.entered:
		case <-time.After(20 * time.Second):
			t.Fatalf("only %d of %d sends reached DATA", i, n)
		}
	}
}

// TestSMTPPoolSendsConcurrentlyUpToMaxConnections: eight sends through a
// pool of four hold four DATA commands open at once, never more, on four
// connections; the other four wait and then reuse those connections.
func TestSMTPPoolSendsConcurrentlyUpToMaxConnections(t *testing.T) {
	t.Parallel()
	g := newGate()
	be := &testBackend{onData: g.hold}
	port, _ := startSMTP(t, be, plainServer, false)
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone, MaxConnections: 4})
	errs := make(chan error, 8)
	for range 8 {
		go func() { errs <- s.Send(context.Background(), testMessage(t)) }()
	}
	g.waitEntered(t, 4)
	close(g.open)
	for range 8 {
		require.NoError(t, <-errs)
	}
	g.mu.Lock()
	peak := g.peak
	g.mu.Unlock()
	assert.Equal(t, 4, peak, "DATA commands open at once")
	assert.Len(t, be.messages(), 8)
	assert.Equal(t, 4, be.connCount(), "connections opened")
}

// TestSMTPPoolManySendersStartTLSAuth: 16 goroutines send 160 mails over
// STARTTLS with AUTH (PLAIN, and LOGIN, whose exchange has state) through
// a pool of 4: each mail arrives once, each connection is opened and
// authenticated once and then reused.
func TestSMTPPoolManySendersStartTLSAuth(t *testing.T) {
	t.Parallel()
	for _, loginOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("login=%v", loginOnly), func(t *testing.T) {
			t.Parallel()
			be := &testBackend{user: "mailer", pass: "s3cret", loginOnly: loginOnly}
			port, pool := startSMTP(t, be, startTLSServer, false)
			s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSStartTLS, TLSConfig: &tls.Config{RootCAs: pool},
				Username: "mailer", Password: "s3cret", MaxConnections: 4})
			const senders, each = 16, 10
			var wg sync.WaitGroup
			for i := range senders {
				wg.Go(func() {
					for j := range each {
						m := testMessage(t)
						m.ID = fmt.Sprintf("m-%d-%d", i, j)
						assert.NoError(t, s.Send(t.Context(), m))
					}
				})
			}
			wg.Wait()
			assert.Len(t, be.messages(), senders*each)
			assert.LessOrEqual(t, be.connCount(), 4, "connections opened")
			be.mu.Lock()
			auths := be.auths
			be.mu.Unlock()
			assert.Equal(t, be.connCount(), auths, "one AUTH per connection")
		})
	}
}

// TestSMTPCloseWaitsAndEndsEveryConnection: Close lets a send in flight
// finish (it is not cut off mid-DATA), then ends every pooled connection;
// sends waiting for a connection and sends after Close fail with
// ErrClosed.
func TestSMTPCloseWaitsAndEndsEveryConnection(t *testing.T) {
	t.Parallel()
	g := newGate()
	be := &testBackend{onData: g.hold}
	port, _ := startSMTP(t, be, plainServer, false)
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone, MaxConnections: 2})

	// Two connections in the pool, then one send held in DATA and one
	// waiting behind a second held send.
	warm := make(chan error, 2)
	for range 2 {
		go func() { warm <- s.Send(context.Background(), testMessage(t)) }()
	}
	g.waitEntered(t, 2) // both in DATA at once: two connections
	close(g.open)
	for range 2 {
		require.NoError(t, <-warm)
	}

	g2 := newGate()
	be.mu.Lock()
	be.onData = g2.hold
	be.mu.Unlock()
	inFlight := make(chan error, 2)
	for range 2 {
		go func() { inFlight <- s.Send(context.Background(), testMessage(t)) }()
	}
	g2.waitEntered(t, 2)
	waiting := make(chan error, 1)
	go func() { waiting <- s.Send(context.Background(), testMessage(t)) }()

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	assert.ErrorIs(t, <-waiting, ErrClosed, "a send waiting for a connection")
	close(g2.open)
	require.NoError(t, <-closed)
	// The server records a mail before it replies, and the sends release
	// their connections only after the reply: both mails are in by now.
	assert.Len(t, be.messages(), 4, "Close returned before the sends in flight finished")
	for range 2 {
		assert.NoError(t, <-inFlight, "Close cut off a send in flight")
	}
	require.Eventually(t, func() bool { return be.loggedOut() == 2 }, 20*time.Second, time.Millisecond,
		"the server saw %d of 2 sessions end", be.loggedOut())
	assert.ErrorIs(t, s.Send(t.Context(), testMessage(t)), ErrClosed)
	assert.ErrorIs(t, s.Send(t.Context(), testMessage(t)), ErrPermanent)
	assert.NoError(t, s.Close(), "second Close")
}

// TestSMTPPoolWaitEndsWithContext: a send that finds every connection busy
// gives up when its context ends or its Timeout passes, as a temporary
// failure.
func TestSMTPPoolWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	g := newGate()
	be := &testBackend{onData: g.hold}
	port, _ := startSMTP(t, be, plainServer, false)
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone, MaxConnections: 1})
	first := make(chan error, 1)
	go func() { first <- s.Send(context.Background(), testMessage(t)) }()
	g.waitEntered(t, 1)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.Send(ctx, testMessage(t))
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, ErrTemporary)
	// The mailer's Timeout bounds the wait too.
	short := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone, MaxConnections: 1, Timeout: 50 * time.Millisecond})
	short.pool.slots <- struct{}{} // the only connection is busy
	err = short.Send(context.Background(), testMessage(t))
	<-short.pool.slots
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, ErrTemporary)
	close(g.open)
	require.NoError(t, <-first)
	assert.Len(t, be.messages(), 1)
}

// TestSMTPPoolKeepsConnectionAfterRejection: a 550 for one recipient ends
// that transaction, not the connection; the next mail goes out on the same
// connection. A 421 (server closing) makes the next mail use a new one.
func TestSMTPPoolKeepsConnectionAfterRejection(t *testing.T) {
	t.Parallel()
	be := &testBackend{
		rcptErrs: []error{&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}},
		dataErrs: []error{nil, &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "closing"}},
	}
	port, _ := startSMTP(t, be, plainServer, false)
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone, MaxConnections: 1})
	err := s.Send(t.Context(), testMessage(t))
	assert.ErrorIs(t, err, ErrPermanent)
	require.NoError(t, s.Send(t.Context(), testMessage(t)))
	assert.Equal(t, 1, be.connCount(), "the 550 cost a connection")

	err = s.Send(t.Context(), testMessage(t))
	var se *SendError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 421, se.Code)
	assert.True(t, se.Temporary)
	require.NoError(t, s.Send(t.Context(), testMessage(t)))
	assert.Equal(t, 2, be.connCount(), "a new connection after 421")
	assert.Len(t, be.messages(), 2)
}

// TestSMTPPoolProbesIdleConnection: a connection idle for a while is
// checked with NOOP before use; when the server has dropped it meanwhile,
// the mail goes out once on a new connection and the send succeeds.
func TestSMTPPoolProbesIdleConnection(t *testing.T) {
	t.Parallel()
	be := &testBackend{}
	port, _ := startSMTP(t, be, plainServer, false)
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone, MaxConnections: 1})
	require.NoError(t, s.Send(t.Context(), testMessage(t)))
	ageIdle(s)
	require.NoError(t, s.Send(t.Context(), testMessage(t)), "a live idle connection passes the probe")
	assert.Equal(t, 1, be.connCount())

	ageIdle(s)
	be.dropLast()
	require.NoError(t, s.Send(t.Context(), testMessage(t)))
	assert.Len(t, be.messages(), 3, "one copy per send")
	assert.Equal(t, 2, be.connCount())
}

// TestSMTPPoolTimeoutSparesOtherConnections: a send that times out at MAIL
// FROM on an idle connection fails (temporary) without taking the other
// idle connections with it: past the deadline every connection would fail
// at once and look dead.
func TestSMTPPoolTimeoutSparesOtherConnections(t *testing.T) {
	t.Parallel()
	g := newGate()
	be := &testBackend{onData: g.hold}
	port, _ := startSMTP(t, be, plainServer, false)
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone, MaxConnections: 2, Timeout: 300 * time.Millisecond})
	warm := make(chan error, 2)
	for range 2 {
		go func() { warm <- s.Send(context.Background(), testMessage(t)) }()
	}
	g.waitEntered(t, 2)
	close(g.open)
	for range 2 {
		require.NoError(t, <-warm)
	}

	stalled := make(chan struct{})
	var once sync.Once
	be.mu.Lock()
	be.onMail = func() { once.Do(func() { <-stalled }) }
	be.mu.Unlock()
	err := s.Send(t.Context(), testMessage(t))
	close(stalled)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrTemporary)
	require.NoError(t, s.Send(t.Context(), testMessage(t)))
	assert.Equal(t, 2, be.connCount(), "the timeout closed the other idle connection too")
	assert.Len(t, be.messages(), 3)
}

// ageIdle makes every idle connection look idle for an hour.
func ageIdle(s *SMTP) {
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	for _, c := range s.pool.idle {
		c.idleSince = time.Now().Add(-time.Hour)
	}
}
