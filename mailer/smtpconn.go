package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/textproto"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gosmtp "github.com/wneessen/go-mail/smtp"
)

// probeIdleAfter is how long a connection may sit idle before a send checks
// it with NOOP first. Busy connections skip the round trip; one that the
// server closed sooner is caught at MAIL FROM and replaced (see staleConn).
const probeIdleAfter = 2 * time.Second

// quitTimeout bounds the QUIT that Close sends on each connection.
const quitTimeout = 5 * time.Second

// smtpConn is one pooled connection: greeted, encrypted and authenticated.
type smtpConn struct {
	raw    *deadlineConn
	client *gosmtp.Client // dialed, greeted, encrypted and authenticated by go-mail
	info   sessionInfo
	// idleSince is when the connection went back to the pool, zero for a
	// new one.
	idleSince time.Time
	// broken is set when the connection cannot be trusted with another
	// transaction (its context interrupted it, or the network failed).
	broken bool
}

// staleError is the failed NOOP of an idle connection.
type staleError struct{ err error }

func (e *staleError) Error() string { return "idle connection is dead: " + e.err.Error() }
func (e *staleError) Unwrap() error { return e.err }

// transact sends o on c within deadline. The connection's I/O stops at
// the deadline or when ctx ends, whichever comes first.
func (c *smtpConn) transact(ctx context.Context, o *outgoing, deadline time.Time) error {
	c.raw.setLimit(deadline)
	stop := context.AfterFunc(ctx, c.raw.expire)
	err := c.probe()
	if err == nil {
		err = c.mail(o)
	}
	if !stop() {
		c.broken = true // expire ran or is running: the deadline is garbage
	}
	if err != nil && replyCode(err) == 0 {
		c.broken = true
	}
	if err == nil && !c.broken {
		c.raw.setLimit(time.Time{})
	}
	return err
}

// probe checks an idle connection with NOOP when it has been idle a while.
func (c *smtpConn) probe() error {
	if c.idleSince.IsZero() || time.Since(c.idleSince) < probeIdleAfter {
		return nil
	}
	if err := c.client.Noop(); err != nil {
		return &staleError{err: err}
	}
	return nil
}

// reusableAfter reports whether c may serve another mail after err: yes
// after an SMTP reply that ended the transaction (the server is fine and
// said no to this mail), once RSET confirms the session is clean; no after
// network errors and 421 (the server is closing the connection).
func (c *smtpConn) reusableAfter(err error) bool {
	if c.broken {
		return false
	}
	if code := replyCode(err); code < 400 || code == 421 {
		return false
	}
	if c.client.Reset() != nil {
		return false
	}
	c.raw.setLimit(time.Time{})
	return true
}

// close drops the connection without QUIT.
func (c *smtpConn) close() {
	_ = c.client.Close()
	_ = c.raw.Close()
}

// quit ends the connection politely. A connection the server already
// closed is not an error.
func (c *smtpConn) quit() error {
	c.raw.setLimit(time.Now().Add(quitTimeout))
	err := c.client.Quit()
	c.close()
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return nil
	}
	return err
}

// staleConn reports whether err shows a reused connection that was dead
// before the transaction began: its NOOP failed, or MAIL FROM, the first
// command, met a closed connection or 421. Nothing was sent, so the mail
// may go out on a new connection.
func staleConn(err error) bool {
	var se *staleError
	if errors.As(err, &se) {
		return true
	}
	var st *stepError
	if !errors.As(err, &st) || st.step != stepMail {
		return false
	}
	code := replyCode(err)
	return code == 0 || code == 421
}

// replyCode returns the SMTP reply code in err, 0 when there is none.
func replyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// dialedKey carries, in the dial context, where dial leaves the connection
// it opened, so that connect can close it when the setup after the dial
// fails (go-mail does not).
type dialedKey struct{}

// connect opens a new connection: dial and greeting, STARTTLS (go-mail),
// then AUTH.
func (s *SMTP) connect(ctx context.Context, deadline time.Time) (*smtpConn, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var dialed atomic.Pointer[deadlineConn]
	stop := context.AfterFunc(ctx, func() {
		if c := dialed.Load(); c != nil {
			c.expire()
		}
	})
	client, err := s.client.DialToSMTPClientWithContext(context.WithValue(ctx, dialedKey{}, &dialed))
	if err == nil && s.creds.username != "" {
		if err = client.Auth(s.creds.auth()); err != nil {
			_ = client.Close()
		}
	}
	interrupted := !stop()
	raw := dialed.Load()
	if err == nil && interrupted {
		_ = client.Close()
		err = ctx.Err()
	}
	if err != nil {
		if raw != nil {
			_ = raw.Close()
		}
		return nil, err
	}
	has := func(ext string) bool { ok, _ := client.Extension(ext); return ok }
	return &smtpConn{raw: raw, client: client, info: newSessionInfo(has)}, nil
}

// dial is go-mail's DialContextFunc: it wraps the connection in a
// deadlineConn, hands it to connect, and speaks implicit TLS itself.
func (s *SMTP) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	dc := &deadlineConn{Conn: raw}
	if deadline, ok := ctx.Deadline(); ok {
		dc.setLimit(deadline)
	}
	if slot, ok := ctx.Value(dialedKey{}).(*atomic.Pointer[deadlineConn]); ok {
		slot.Store(dc)
	}
	if ctx.Err() != nil {
		dc.expire() // connect's AfterFunc may have run before the Store
	}
	if s.tlsMode != TLSImplicit {
		return dc, nil
	}
	tc := tls.Client(dc, s.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, err
	}
	return tc, nil
}

// deadlineConn caps every deadline go-mail sets at the current send's limit
// and lets a context cancellation interrupt blocked reads and writes.
type deadlineConn struct {
	net.Conn
	mu    sync.Mutex
	limit time.Time
}

func (c *deadlineConn) cap(t time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.limit.IsZero() && (t.IsZero() || c.limit.Before(t)) {
		return c.limit
	}
	return t
}

// SetDeadline implements net.Conn.
func (c *deadlineConn) SetDeadline(t time.Time) error { return c.Conn.SetDeadline(c.cap(t)) }

// SetReadDeadline implements net.Conn.
func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.cap(t))
}

// SetWriteDeadline implements net.Conn.
func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.cap(t))
}

// setLimit sets the limit and applies it; the zero time clears both.
func (c *deadlineConn) setLimit(t time.Time) {
	c.mu.Lock()
	c.limit = t
	c.mu.Unlock()
	_ = c.Conn.SetDeadline(t)
}

// expire makes every pending and future I/O fail at once.
func (c *deadlineConn) expire() { c.setLimit(time.Unix(1, 0)) }
