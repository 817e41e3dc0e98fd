package mailer

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	mail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"
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

// DefaultSMTPTimeout bounds one SMTP send (connect, greeting, TLS, AUTH and
// the whole transaction) when SMTPConfig.Timeout is zero.
const DefaultSMTPTimeout = 30 * time.Second

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

	// DKIM, when set, signs every message.
	DKIM *DKIMConfig
}

// SMTP delivers mail to an SMTP server with github.com/wneessen/go-mail. It
// keeps one connection open between sends and reconnects when the server
// dropped it. Sends are serialized on that connection; an SMTP is safe for
// concurrent use. Call Close to end the connection.
type SMTP struct {
	client    *mail.Client
	tlsMode   TLSMode
	tlsConfig *tls.Config
	from      string
	msgDomain string
	replyTo   string
	timeout   time.Duration
	dkim      *mail.DKIMSigner
	now       func() time.Time

	// sem is a one-slot semaphore (a mutex a waiting Send can give up on
	// when its context ends); it guards the fields below and serializes
	// sends on the shared connection.
	sem    chan struct{}
	conn   *deadlineConn
	smtp   *gosmtp.Client
	closed bool
}

// NewSMTP validates cfg and returns an SMTP mailer. It does not connect yet;
// the first Send does.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" {
		return nil, errors.New("mailer: SMTP host is required")
	}
	if strings.ContainsAny(cfg.Host, "/@ \r\n") {
		return nil, fmt.Errorf("mailer: invalid SMTP host %q", cfg.Host)
	}
	mode := cfg.TLS
	switch mode {
	case TLSDefault:
		mode = TLSStartTLS
		if cfg.Port == 465 {
			mode = TLSImplicit
		}
	case TLSNone, TLSStartTLS, TLSOpportunistic, TLSImplicit:
	default:
		return nil, fmt.Errorf("mailer: unknown SMTP TLS mode %d", int(cfg.TLS))
	}
	port := cfg.Port
	if port == 0 {
		switch mode {
		case TLSImplicit:
			port = 465
		case TLSNone:
			port = 25
		default:
			port = 587
		}
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("mailer: invalid SMTP port %d", cfg.Port)
	}
	if cfg.From == "" {
		return nil, errors.New("mailer: SMTP From address is required")
	}
	from, err := parseHeaderAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mailer: invalid From address: %w", err)
	}
	if cfg.ReplyTo != "" {
		if _, err := parseHeaderAddress(cfg.ReplyTo); err != nil {
			return nil, fmt.Errorf("mailer: invalid Reply-To address: %w", err)
		}
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, errors.New("mailer: SMTP password given without a username")
	}
	auth := cfg.Username != ""
	if auth && mode == TLSNone && !cfg.AllowInsecureAuth {
		return nil, errors.New("mailer: refusing SMTP AUTH without TLS; use STARTTLS or implicit TLS, or set AllowInsecureAuth for a trusted development relay")
	}
	if strings.ContainsAny(cfg.HELO, " \r\n") {
		return nil, fmt.Errorf("mailer: invalid HELO name %q", cfg.HELO)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultSMTPTimeout
	}
	if timeout < 0 {
		return nil, errors.New("mailer: negative SMTP timeout")
	}

	var tlsConfig *tls.Config
	if cfg.TLSConfig != nil {
		tlsConfig = cfg.TLSConfig.Clone()
	} else {
		tlsConfig = &tls.Config{}
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = cfg.Host
	}
	if tlsConfig.MinVersion == 0 {
		tlsConfig.MinVersion = tls.VersionTLS12
	}

	s := &SMTP{
		tlsMode:   mode,
		tlsConfig: tlsConfig,
		from:      cfg.From,
		msgDomain: from.Address[strings.LastIndexByte(from.Address, '@')+1:],
		replyTo:   cfg.ReplyTo,
		timeout:   timeout,
		now:       time.Now,
		sem:       make(chan struct{}, 1),
	}
	if cfg.DKIM != nil {
		if cfg.DKIM.Domain == "" || cfg.DKIM.Selector == "" || cfg.DKIM.Key == nil {
			return nil, errors.New("mailer: DKIM needs Domain, Selector and Key")
		}
		s.dkim = mail.NewDKIMSigner(cfg.DKIM.Domain, cfg.DKIM.Selector, cfg.DKIM.Key)
	}

	policy := mail.NoTLS
	switch mode {
	case TLSStartTLS:
		policy = mail.TLSMandatory
	case TLSOpportunistic:
		policy = mail.TLSOpportunistic
	}
	opts := []mail.Option{
		mail.WithPort(port),
		mail.WithTLSPolicy(policy),
		mail.WithTLSConfig(tlsConfig),
		mail.WithTimeout(timeout),
		// Our own dialer wraps the connection so that the context and the
		// per-send timeout bound every read and write, and it speaks
		// implicit TLS itself.
		mail.WithDialContextFunc(s.dial),
	}
	if cfg.HELO != "" {
		opts = append(opts, mail.WithHELO(cfg.HELO))
	}
	if auth {
		opts = append(opts, mail.WithSMTPAuthCustom(&guardedAuth{
			username: cfg.Username, password: cfg.Password, allowInsecure: cfg.AllowInsecureAuth,
		}))
	}
	client, err := mail.NewClient(cfg.Host, opts...)
	if err != nil {
		// go-mail's option errors never contain the password.
		return nil, fmt.Errorf("mailer: configuring SMTP client: %w", err)
	}
	s.client = client
	return s, nil
}

// Send delivers m over the shared connection, connecting first when there is
// none. A connection found dead before the transaction began is replaced
// once; an error after the message may have been accepted is never retried
// here, so one Send never produces two copies.
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	if m == nil {
		return Permanent(errors.New("mailer: nil message"))
	}
	msg, err := s.build(m)
	if err != nil {
		return Permanent(err)
	}

	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return &SendError{Temporary: true, Err: fmt.Errorf("mailer: SMTP send: %w", ctx.Err())}
	}
	defer func() { <-s.sem }()
	if s.closed {
		return Permanent(ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return &SendError{Temporary: true, Err: fmt.Errorf("mailer: SMTP send: %w", err)}
	}
	deadline := time.Now().Add(s.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}

	for attempt := 0; ; attempt++ {
		reused := s.smtp != nil
		if !reused {
			if err := s.connect(ctx, deadline); err != nil {
				if cerr := contextErr(ctx); cerr != nil {
					return &SendError{Temporary: true, Err: fmt.Errorf("mailer: SMTP connect: %w (%w)", cerr, err)}
				}
				return classifySMTP(fmt.Errorf("mailer: SMTP connect: %w", err))
			}
		}
		conn := s.conn
		conn.setLimit(deadline)
		stop := context.AfterFunc(ctx, conn.expire)
		err := s.client.SendWithSMTPClient(s.smtp, msg)
		stop()
		if err == nil {
			conn.setLimit(time.Time{})
			return nil
		}
		var se *mail.SendError
		if errors.As(err, &se) {
			switch {
			case se.Reason == mail.ErrSMTPReset:
				// The server accepted the message; only the RSET after it
				// failed. Reporting an error would make a caller send twice.
				s.drop()
				return nil
			case se.Reason == mail.ErrConnCheck && reused && attempt == 0 && ctx.Err() == nil:
				// The idle connection died (server timeout); nothing was sent.
				s.drop()
				continue
			}
		}
		s.drop()
		if cerr := contextErr(ctx); cerr != nil {
			return &SendError{Temporary: true, Err: fmt.Errorf("mailer: SMTP send: %w (%w)", cerr, err)}
		}
		return classifySMTP(fmt.Errorf("mailer: SMTP send: %w", err))
	}
}

// Close ends the shared connection with QUIT. Send fails with ErrClosed
// afterwards.
func (s *SMTP) Close() error {
	s.sem <- struct{}{}
	defer func() { <-s.sem }()
	s.closed = true
	if s.smtp == nil {
		return nil
	}
	s.conn.setLimit(time.Now().Add(5 * time.Second))
	err := s.smtp.Quit()
	s.drop()
	if err != nil {
		return fmt.Errorf("mailer: SMTP quit: %w", err)
	}
	return nil
}

// connect dials, greets, upgrades to TLS and authenticates. s.sem is held.
func (s *SMTP) connect(ctx context.Context, deadline time.Time) error {
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	s.conn = nil
	c, err := s.client.DialToSMTPClientWithContext(dctx)
	if err != nil {
		if s.conn != nil {
			_ = s.conn.Close()
			s.conn = nil
		}
		return err
	}
	s.smtp = c
	return nil
}

// dial is go-mail's DialContextFunc. It runs with s.sem held (inside
// connect).
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
	stop := context.AfterFunc(ctx, dc.expire)
	defer stop()
	s.conn = dc
	if s.tlsMode != TLSImplicit {
		return dc, nil
	}
	tc := tls.Client(dc, s.tlsConfig)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		s.conn = nil
		return nil, err
	}
	return tc, nil
}

// contextErr is ctx.Err(), also when the context's deadline has passed but
// its timer has not fired yet (the connection deadline, set to the same
// instant, may fire first).
func contextErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// drop closes the connection without QUIT. s.sem is held.
func (s *SMTP) drop() {
	if s.smtp != nil {
		_ = s.smtp.Close()
		s.smtp = nil
	}
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
}

// build turns m into a go-mail message.
func (s *SMTP) build(m *Message) (*mail.Msg, error) {
	to, err := parseHeaderAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("mailer: invalid recipient: %w", err)
	}
	msg := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := msg.From(s.from); err != nil {
		return nil, fmt.Errorf("mailer: From: %w", err)
	}
	if err := msg.To(to.Address); err != nil {
		return nil, fmt.Errorf("mailer: To: %w", err)
	}
	if s.replyTo != "" {
		if err := msg.ReplyTo(s.replyTo); err != nil {
			return nil, fmt.Errorf("mailer: Reply-To: %w", err)
		}
	}
	msg.Subject(cleanHeader(m.Subject))
	id := newMessageID(s.msgDomain)
	if validMessageID(m.ID) {
		id = m.ID + "@" + s.msgDomain
	}
	msg.SetMessageIDWithValue(id)
	msg.SetDateWithValue(s.now())
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	}
	if s.dkim != nil {
		msg.SetDKIM(s.dkim)
	}
	return msg, nil
}

// validMessageID reports whether id may stand left of the "@" of a
// Message-ID as it is.
func validMessageID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// newMessageID returns a random Message-ID value (without angle brackets).
func newMessageID(domain string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "@" + domain
}

// parseHeaderAddress parses one address for a header and rejects control
// characters, which could otherwise start a new header line.
func parseHeaderAddress(s string) (*netmail.Address, error) {
	if strings.ContainsFunc(s, isControl) {
		return nil, errors.New("address contains control characters")
	}
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(a.Address, "@") {
		return nil, errors.New("address has no domain")
	}
	return a, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// classifySMTP maps an error from go-mail to a SendError: reply codes 4xx
// are temporary and 5xx permanent; errors without a reply code are network
// errors (temporary) unless they are certificate or local errors.
func classifySMTP(err error) error {
	if err == nil {
		return nil
	}
	var se *mail.SendError
	if errors.As(err, &se) {
		if code := se.ErrorCode(); code >= 400 && code < 600 {
			return &SendError{Temporary: code < 500, Code: code, Err: err}
		}
		switch se.Reason {
		case mail.ErrGetSender, mail.ErrGetRcpts, mail.ErrNoUnencoded:
			return &SendError{Temporary: false, Err: err}
		}
		return &SendError{Temporary: true, Err: err}
	}
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 400 && te.Code < 600 {
		return &SendError{Temporary: te.Code < 500, Code: te.Code, Err: err}
	}
	if errors.Is(err, errInsecureAuth) || errors.Is(err, errNoAuthMechanism) {
		return &SendError{Temporary: false, Err: err}
	}
	return classifyNetwork(err)
}

var (
	errInsecureAuth    = errors.New("refusing SMTP AUTH over an unencrypted connection (set AllowInsecureAuth to permit it)")
	errNoAuthMechanism = errors.New("server offers neither AUTH PLAIN nor AUTH LOGIN")
)

// guardedAuth picks PLAIN or LOGIN from what the server offers and refuses
// to send credentials over an unencrypted connection. (go-mail's own check
// lets plain text through to localhost.)
type guardedAuth struct {
	username, password string
	allowInsecure      bool
	inner              gosmtp.Auth
}

// Start implements smtp.Auth.
func (a *guardedAuth) Start(server *gosmtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !a.allowInsecure {
		return "", nil, errInsecureAuth
	}
	switch {
	case slices.Contains(server.Auth, "PLAIN"):
		a.inner = gosmtp.PlainAuth("", a.username, a.password, server.Name, true)
	case slices.Contains(server.Auth, "LOGIN"):
		a.inner = gosmtp.LoginAuth(a.username, a.password, server.Name, true)
	default:
		return "", nil, errNoAuthMechanism
	}
	return a.inner.Start(server)
}

// Next implements smtp.Auth.
func (a *guardedAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	return a.inner.Next(fromServer, more)
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
