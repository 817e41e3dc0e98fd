package mailer

import (
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	mail "github.com/wneessen/go-mail"
)

// TLSMode says how an SMTP connection is encrypted.
type TLSMode int

const (
	// TLSDefault is the zero value: implicit TLS on port 465, mandatory
	// STARTTLS on any other port.
	TLSDefault TLSMode = iota
	// TLSNone sends in plain text, for local development relays only.
	TLSNone
	// TLSStartTLS upgrades with STARTTLS and fails when the server does not
	// offer it.
	TLSStartTLS
	// TLSOpportunistic upgrades with STARTTLS when the server offers it and
	// sends in plain text otherwise.
	TLSOpportunistic
	// TLSImplicit speaks TLS from the first byte ("SMTPS", port 465).
	TLSImplicit
)

// String returns the name used in SMTP URLs: "none", "starttls",
// "opportunistic" or "implicit" ("default" for TLSDefault).
func (m TLSMode) String() string {
	switch m {
	case TLSDefault:
		return "default"
	case TLSNone:
		return "none"
	case TLSStartTLS:
		return "starttls"
	case TLSOpportunistic:
		return "opportunistic"
	case TLSImplicit:
		return "implicit"
	}
	return "TLSMode(" + strconv.Itoa(int(m)) + ")"
}

// DefaultSMTPTimeout bounds one SMTP send (waiting for a connection,
// connect, greeting, TLS, AUTH and the whole transaction) when
// SMTPConfig.Timeout is zero.
const DefaultSMTPTimeout = 30 * time.Second

// defaultSMTPMaxConnections is SMTPConfig.MaxConnections when zero. It
// matches the default number of Dispatcher workers, so each worker has its
// own connection.
const defaultSMTPMaxConnections = 4

// DKIMConfig configures DKIM signing of outgoing mail.
type DKIMConfig struct {
	// Domain is the signing domain (d=) and Selector the DNS selector (s=);
	// the public key is published at {Selector}._domainkey.{Domain}.
	Domain   string
	Selector string
	// Key is an RSA or Ed25519 private key.
	Key crypto.Signer
}

// SMTPConfig configures an SMTP mailer. Host and From are required; zero
// values of the other fields mean good defaults.
type SMTPConfig struct {
	// Host is the SMTP server's host name or IP address.
	Host string
	// Port defaults to 465 with TLSImplicit, 25 with TLSNone and 587
	// otherwise.
	Port int
	// TLS selects the encryption; see TLSMode.
	TLS TLSMode
	// TLSConfig overrides the TLS client configuration (for example RootCAs
	// for a private CA). It is cloned; ServerName defaults to Host and
	// MinVersion to TLS 1.2.
	TLSConfig *tls.Config

	// Username and Password enable SMTP AUTH (PLAIN, or LOGIN when the server
	// offers only that). Credentials are only ever sent over TLS unless
	// AllowInsecureAuth is set.
	Username string
	Password string
	// AllowInsecureAuth permits AUTH over an unencrypted connection. Use it
	// only for a development relay on a trusted network.
	AllowInsecureAuth bool

	// From is the sender, such as "Acme <no-reply@acme.example>" (required).
	From string
	// ReplyTo is an optional Reply-To address.
	ReplyTo string
	// HELO is the name sent in EHLO; it defaults to the local host name.
	HELO string

	// Timeout bounds each Send (default DefaultSMTPTimeout). A deadline on
	// the context passed to Send shortens it further.
	Timeout time.Duration

	// MaxConnections bounds the connections kept open to the server
	// (default 4, a Dispatcher's default number of workers): each
	// concurrent Send uses one, and a Send beyond the bound waits for a
	// connection to come free.
	MaxConnections int

	// DKIM, when set, signs every message.
	DKIM *DKIMConfig
}

// SMTP delivers mail to an SMTP server with github.com/wneessen/go-mail.
//
// It keeps a pool of up to MaxConnections connections, one per concurrent
// Send: a connection is opened (TLS and AUTH included) when no idle one is
// left, is reused for later mails, and is replaced when the server dropped
// it. An SMTP is safe for concurrent use; Close ends every connection.
//
// go-mail dials, greets, upgrades with STARTTLS, authenticates and writes
// (and DKIM-signs) the MIME message, before a connection is taken; the
// transaction itself is SMTP's own: when the server offers PIPELINING
// (RFC 2920), MAIL FROM, RCPT TO and DATA go out in one write and the
// message in a second, two round trips per mail; without it, four. No RSET
// follows a delivered mail, and an idle connection is checked with NOOP
// only after a pause.
//
// Errors are classified for a Dispatcher or an outbox: SMTP 4xx replies,
// network errors and timeouts are temporary (ErrTemporary), 5xx replies,
// certificate errors and refused credentials permanent (ErrPermanent).
type SMTP struct {
	client  *mail.Client // dials; its options hold STARTTLS and timeouts
	tlsMode TLSMode
	tls     *tls.Config
	header  headerValues
	timeout time.Duration
	dkim    *mail.DKIMSigner
	creds   credentials // AUTH when creds.username is set
	now     func() time.Time

	pool *connPool
	wire sync.Pool // *wireBuffer, so that a mail's bytes reuse an earlier one's memory
}

// Send delivers m over a pooled connection, opening one when none is idle.
// A reused connection found dead before anything was sent is replaced; an
// error after the message may have been accepted is never retried here, so
// one Send never produces two copies.
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	if m == nil {
		return Permanent(errors.New("mailer: nil message"))
	}
	o, err := s.build(m)
	if err != nil {
		return Permanent(err)
	}
	defer s.wire.Put(o.buf)
	deadline := time.Now().Add(s.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := s.pool.acquire(ctx, deadline); err != nil {
		return err
	}
	defer s.pool.release()
	return s.deliver(ctx, o, deadline)
}

// deliver runs one transaction on an idle or a new connection. An idle
// connection found dead before anything was sent is closed and the next
// one tried (a server restart kills them all); a new connection is never
// retried.
func (s *SMTP) deliver(ctx context.Context, o *outgoing, deadline time.Time) error {
	for {
		c := s.pool.takeIdle()
		reused := c != nil
		if !reused {
			var err error
			if c, err = s.connect(ctx, deadline); err != nil {
				return classifySend(ctx, "connect", err)
			}
		}
		err := c.transact(ctx, o, deadline)
		switch {
		case err == nil && !c.broken:
			s.pool.putIdle(c)
			return nil
		case err == nil:
			c.close()
			return nil
		case reused && staleConn(err) && contextErr(ctx) == nil && time.Now().Before(deadline):
			// Within the deadline: an expired one fails every connection
			// at once and must not look like a dead one.
			c.close()
			continue
		case c.reusableAfter(err):
			s.pool.putIdle(c)
		default:
			c.close()
		}
		return classifySend(ctx, "send", err)
	}
}

// Close waits for the sends in flight, then ends every pooled connection
// with QUIT. Send fails with ErrClosed afterwards. Close starts no goroutine
// and leaves none behind; calling it again is harmless.
func (s *SMTP) Close() error {
	var errs []error
	for _, c := range s.pool.shutdown() {
		if err := c.quit(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("mailer: SMTP quit: %w", errors.Join(errs...))
	}
	return nil
}
