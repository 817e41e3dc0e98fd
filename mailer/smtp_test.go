package mailer

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"html"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/magiclink-go/magiclink/internal/syncbuf"
)

// testBackend is a go-smtp backend that records what it receives and can
// answer with scripted errors.
type testBackend struct {
	user, pass string // require AUTH PLAIN when user is set
	loginOnly  bool   // offer AUTH LOGIN instead of PLAIN

	mu       sync.Mutex
	conns    []*smtp.Conn
	received [][]byte
	attempts [][]byte // every DATA body, rejected ones too
	rcptTo   []string
	mails    int // MAIL commands seen
	rcpts    int // RCPT commands seen
	datas    int // DATA bodies seen
	// Scripted failures, consumed one per command.
	mailErrs []error
	rcptErrs []error
	dataErrs []error
	stall    chan struct{} // when set, Data blocks until it is closed
	onData   func()        // when set, Data calls it after reading the body
	onMail   func()        // when set, Mail calls it first
	auths    int           // successful AUTH exchanges
	logouts  int           // sessions ended (QUIT or a closed connection)
}

// dropLast closes the newest connection from the server side. (go-smtp
// calls Logout from Close, which takes b.mu: hence no lock around Close.)
func (b *testBackend) dropLast() {
	b.mu.Lock()
	c := b.conns[len(b.conns)-1]
	b.mu.Unlock()
	_ = c.Close()
}

func (b *testBackend) loggedOut() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.logouts
}

func (b *testBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.conns = append(b.conns, c)
	return &testSession{b: b}, nil
}

// connCount counts TCP connections (go-smtp starts a new session after
// STARTTLS on the same connection).
func (b *testBackend) connCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	seen := map[string]bool{}
	for _, c := range b.conns {
		seen[c.Conn().RemoteAddr().String()] = true
	}
	return len(seen)
}

func (b *testBackend) messages() [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]byte(nil), b.received...)
}

func (b *testBackend) counts() (mails, rcpts, datas int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mails, b.rcpts, b.datas
}

func pop(errs *[]error) error {
	if len(*errs) == 0 {
		return nil
	}
	err := (*errs)[0]
	*errs = (*errs)[1:]
	return err
}

type testSession struct {
	b      *testBackend
	authed bool
	to     []string
}

var (
	_ smtp.AuthSession = (*testSession)(nil)
)

func (s *testSession) AuthMechanisms() []string {
	switch {
	case s.b.user == "":
		return nil
	case s.b.loginOnly:
		return []string{sasl.Login}
	}
	return []string{sasl.Plain}
}

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	check := func(username, password string) error {
		if username != s.b.user || password != s.b.pass {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		s.b.mu.Lock()
		s.b.auths++
		s.b.mu.Unlock()
		return nil
	}
	if mech == sasl.Login {
		return &loginServer{check: check}, nil
	}
	return sasl.NewPlainServer(func(_, username, password string) error { return check(username, password) }), nil
}

// loginServer is the server side of AUTH LOGIN (go-sasl has none): it asks
// for the user name, then the password.
type loginServer struct {
	check    func(username, password string) error
	step     int
	username string
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		return []byte("Username:"), false, nil
	case 2:
		l.username = string(response)
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check(l.username, string(response))
}

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	s.b.mu.Lock()
	onMail := s.b.onMail
	s.b.mu.Unlock()
	if onMail != nil {
		onMail()
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.mails++
	if s.b.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	return pop(&s.b.mailErrs)
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.rcpts++
	if err := pop(&s.b.rcptErrs); err != nil {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.b.mu.Lock()
	stall, onData := s.b.stall, s.b.onData
	s.b.mu.Unlock()
	if stall != nil {
		<-stall
	}
	if onData != nil {
		onData()
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.datas++
	s.b.attempts = append(s.b.attempts, data)
	if err := pop(&s.b.dataErrs); err != nil {
		return err
	}
	s.b.received = append(s.b.received, data)
	s.b.rcptTo = append(s.b.rcptTo, s.to...)
	return nil
}

func (s *testSession) Reset() { s.to = nil }
func (s *testSession) Logout() error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.logouts++
	return nil
}

type serverMode int

const (
	plainServer serverMode = iota
	startTLSServer
	implicitTLSServer
)

// startSMTP runs be on a loopback listener and returns its port and the
// pool that trusts its certificate.
func startSMTP(t testing.TB, be *testBackend, mode serverMode, allowInsecureAuth bool) (int, *x509.CertPool) {
	t.Helper()
	cert, pool := selfSigned(t)
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.AllowInsecureAuth = allowInsecureAuth
	s.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	switch mode {
	case startTLSServer:
		s.TLSConfig = tlsConfig
	case implicitTLSServer:
		l = tls.NewListener(l, tlsConfig)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	t.Cleanup(func() {
		_ = s.Close()
		<-done
	})
	return l.Addr().(*net.TCPAddr).Port, pool
}

// selfSigned makes a certificate for 127.0.0.1 and localhost.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "magiclink test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	parsed, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(parsed)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: parsed}, pool
}

func testMessage(t *testing.T) *Message {
	t.Helper()
	m, err := DefaultTemplates().Render(LinkData{
		To: "jane@example.com", AppName: "Acme", Origin: "https://app.example.com",
		Link: "https://app.example.com/auth/verify?token_hash=abcDEF123_-x&type=magiclink&next=%2Foverview",
		Code: "123456", TTL: 15 * time.Minute, Locale: "de-DE",
	})
	require.NoError(t, err)
	return m
}

func newTestSMTP(t *testing.T, cfg SMTPConfig) *SMTP {
	t.Helper()
	cfg.Host = "127.0.0.1"
	if cfg.From == "" {
		cfg.From = "Acme <no-reply@acme.example>"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	s, err := NewSMTP(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// checkMIME parses one received mail and checks headers and both parts.
func checkMIME(t *testing.T, raw []byte, m *Message) {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err, "received mail does not parse")
	assert.NotEmpty(t, msg.Header.Get("Message-Id"), "Message-ID missing")
	assert.Regexp(t, `^<[0-9a-f]{32}@acme\.example>$`, msg.Header.Get("Message-Id"))
	_, err = msg.Header.Date()
	assert.NoError(t, err, "Date missing or invalid")
	from, err := msg.Header.AddressList("From")
	require.NoError(t, err)
	assert.Equal(t, "no-reply@acme.example", from[0].Address)
	to, err := msg.Header.AddressList("To")
	require.NoError(t, err)
	assert.Equal(t, m.To, to[0].Address)
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	assert.Equal(t, m.Subject, subject)

	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mediaType)
	mr := multipart.NewReader(msg.Body, params["boundary"])
	parts := map[string]string{}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		ct, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		require.NoError(t, err)
		body, err := io.ReadAll(p)
		require.NoError(t, err)
		parts[ct] = string(body)
	}
	require.Contains(t, parts, "text/plain")
	require.Contains(t, parts, "text/html")
	for ct, body := range parts {
		body = html.UnescapeString(body)
		assert.Contains(t, body, m.Link, "%s part lacks the link", ct)
		assert.Contains(t, body, "123 456", "%s part lacks the code", ct)
	}
}

func TestSMTPPlain(t *testing.T) {
	t.Parallel()
	be := &testBackend{}
	port, _ := startSMTP(t, be, plainServer, false)
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone, ReplyTo: "Support <help@acme.example>"})
	m := testMessage(t)
	require.NoError(t, s.Send(t.Context(), m))
	got := be.messages()
	require.Len(t, got, 1)
	checkMIME(t, got[0], m)
	assert.Equal(t, []string{"jane@example.com"}, be.rcptTo)
	msg, err := netmail.ReadMessage(bytes.NewReader(got[0]))
	require.NoError(t, err)
	replyTo, err := msg.Header.AddressList("Reply-To")
	require.NoError(t, err)
	assert.Equal(t, "help@acme.example", replyTo[0].Address)
	for _, h := range []string{"X-Link", "X-Code"} {
		assert.Empty(t, msg.Header.Get(h))
	}
	assert.NotContains(t, strings.SplitN(string(got[0]), "\r\n\r\n", 2)[0], "123456", "code in a header")
}

func TestSMTPStartTLS(t *testing.T) {
	t.Parallel()
	be := &testBackend{user: "mailer", pass: "s3cret"}
	port, pool := startSMTP(t, be, startTLSServer, false)
	s := newTestSMTP(t, SMTPConfig{
		Port: port, TLS: TLSStartTLS, TLSConfig: &tls.Config{RootCAs: pool},
		Username: "mailer", Password: "s3cret",
	})
	m := testMessage(t)
	require.NoError(t, s.Send(t.Context(), m))
	require.Len(t, be.messages(), 1)
	checkMIME(t, be.messages()[0], m)
	be.mu.Lock()
	_, isTLS := be.conns[len(be.conns)-1].TLSConnectionState()
	be.mu.Unlock()
	assert.True(t, isTLS, "server saw no TLS")
}

func TestSMTPStartTLSUntrustedCertificateIsPermanent(t *testing.T) {
	t.Parallel()
	be := &testBackend{}
	port, _ := startSMTP(t, be, startTLSServer, false)
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSStartTLS})
	err := s.Send(t.Context(), testMessage(t))
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrPermanent)
	assert.Empty(t, be.messages())
}

func TestSMTPStartTLSMandatoryRefusesPlainServer(t *testing.T) {
	t.Parallel()
	be := &testBackend{}
	port, _ := startSMTP(t, be, plainServer, false)
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSStartTLS})
	require.Error(t, s.Send(t.Context(), testMessage(t)))
	assert.Empty(t, be.messages())
}

func TestSMTPImplicitTLS(t *testing.T) {
	t.Parallel()
	be := &testBackend{user: "mailer", pass: "s3cret"}
	port, pool := startSMTP(t, be, implicitTLSServer, false)
	s := newTestSMTP(t, SMTPConfig{
		Port: port, TLS: TLSImplicit, TLSConfig: &tls.Config{RootCAs: pool},
		Username: "mailer", Password: "s3cret",
	})
	m := testMessage(t)
	require.NoError(t, s.Send(t.Context(), m))
	require.Len(t, be.messages(), 1)
	checkMIME(t, be.messages()[0], m)
}

func TestSMTPFromURLImplicitTLS(t *testing.T) {
	t.Parallel()
	be := &testBackend{user: "mailer@acme", pass: "p@ss:word/1"}
	port, pool := startSMTP(t, be, implicitTLSServer, false)
	cfg, err := parseSMTPURL("smtps://mailer%40acme:p%40ss%3Aword%2F1@127.0.0.1:" + strconv.Itoa(port))
	require.NoError(t, err)
	cfg.From = "no-reply@acme.example"
	cfg.TLSConfig = &tls.Config{RootCAs: pool}
	s := newTestSMTP(t, cfg)
	require.NoError(t, s.Send(t.Context(), testMessage(t)))
	assert.Len(t, be.messages(), 1)
}

func TestSMTPAuthFailureIsPermanentAndHidesPassword(t *testing.T) {
	t.Parallel()
	be := &testBackend{user: "mailer", pass: "right"}
	port, pool := startSMTP(t, be, startTLSServer, false)
	s := newTestSMTP(t, SMTPConfig{
		Port: port, TLSConfig: &tls.Config{RootCAs: pool},
		Username: "mailer", Password: "wrong-password-xyz",
	})
	err := s.Send(t.Context(), testMessage(t))
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrPermanent)
	var se *SendError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 535, se.Code)
	assert.NotContains(t, err.Error(), "wrong-password-xyz")
	assert.Empty(t, be.messages())
}

func TestSMTPRefusesAuthWithoutTLS(t *testing.T) {
	t.Parallel()
	// Configuration that can only ever be plain text fails at construction.
	_, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", TLS: TLSNone, From: "a@b.example", Username: "u", Password: "p"})
	require.Error(t, err)

	// Opportunistic TLS against a server without STARTTLS: credentials must
	// not go out, although the server would accept them in plain text.
	be := &testBackend{user: "mailer", pass: "s3cret"}
	port, _ := startSMTP(t, be, plainServer, true)
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSOpportunistic, Username: "mailer", Password: "s3cret"})
	err = s.Send(t.Context(), testMessage(t))
	require.ErrorIs(t, err, errInsecureAuth)
	assert.ErrorIs(t, err, ErrPermanent)
	assert.Empty(t, be.messages())

	// With the explicit opt-in it works.
	s2 := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone, Username: "mailer", Password: "s3cret", AllowInsecureAuth: true})
	require.NoError(t, s2.Send(t.Context(), testMessage(t)))
	assert.Len(t, be.messages(), 1)
}

func TestSMTPReusesConnection(t *testing.T) {
	t.Parallel()
	be := &testBackend{}
	port, pool := startSMTP(t, be, startTLSServer, false)
	s := newTestSMTP(t, SMTPConfig{Port: port, TLSConfig: &tls.Config{RootCAs: pool}})
	for range 3 {
		require.NoError(t, s.Send(t.Context(), testMessage(t)))
	}
	assert.Len(t, be.messages(), 3)
	assert.Equal(t, 1, be.connCount(), "each send opened its own connection")
}

func TestSMTPReconnectsAfterServerDroppedConnection(t *testing.T) {
	t.Parallel()
	be := &testBackend{}
	port, _ := startSMTP(t, be, plainServer, false)
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone})
	require.NoError(t, s.Send(t.Context(), testMessage(t)))
	be.dropLast()
	require.NoError(t, s.Send(t.Context(), testMessage(t)))
	assert.Len(t, be.messages(), 2, "one mail per send")
	assert.Equal(t, 2, be.connCount())
}

func TestSMTPReplyCodes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		setup     func(be *testBackend)
		code      int
		temporary bool
	}{
		{"451 at MAIL", func(be *testBackend) {
			be.mailErrs = []error{&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}}
		}, 451, true},
		{"421 at DATA", func(be *testBackend) {
			be.dataErrs = []error{&smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "shutting down"}}
		}, 421, true},
		{"550 at RCPT", func(be *testBackend) {
			be.rcptErrs = []error{&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}
		}, 550, false},
		{"554 at DATA", func(be *testBackend) {
			be.dataErrs = []error{&smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "rejected"}}
		}, 554, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			be := &testBackend{}
			tc.setup(be)
			port, _ := startSMTP(t, be, plainServer, false)
			s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone})
			err := s.Send(t.Context(), testMessage(t))
			var se *SendError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.code, se.Code)
			assert.Equal(t, tc.temporary, errors.Is(err, ErrTemporary))
			assert.Equal(t, !tc.temporary, errors.Is(err, ErrPermanent))
			// The mailer recovers: the next send goes through.
			require.NoError(t, s.Send(t.Context(), testMessage(t)))
			assert.Len(t, be.messages(), 1)
		})
	}
}

func TestSMTPTimeout(t *testing.T) {
	t.Parallel()
	stall := make(chan struct{})
	be := &testBackend{stall: stall}
	port, _ := startSMTP(t, be, plainServer, false)
	t.Cleanup(func() { close(stall) }) // runs before the server stops
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone, Timeout: 200 * time.Millisecond})
	start := time.Now()
	err := s.Send(t.Context(), testMessage(t))
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrTemporary)
	assert.Less(t, time.Since(start), 5*time.Second)

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	s2 := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone})
	err = s2.Send(ctx, testMessage(t))
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, ErrTemporary)
}

func TestSMTPDKIM(t *testing.T) {
	t.Parallel()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	be := &testBackend{}
	port, _ := startSMTP(t, be, plainServer, false)
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone,
		DKIM: &DKIMConfig{Domain: "acme.example", Selector: "mail", Key: key}})
	m := testMessage(t)
	require.NoError(t, s.Send(t.Context(), m))
	require.Len(t, be.messages(), 1)
	raw := be.messages()[0]
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err)
	sig := msg.Header.Get("Dkim-Signature")
	assert.Contains(t, sig, "d=acme.example")
	assert.Contains(t, sig, "s=mail")
	checkMIME(t, raw, m)
}

func TestSMTPDispatcherRetriesTemporaryReplies(t *testing.T) {
	t.Parallel()
	be := &testBackend{
		mailErrs: []error{&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "greylisted"}},
		dataErrs: []error{&smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "busy"}},
	}
	port, _ := startSMTP(t, be, plainServer, false)
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone})
	var waits []time.Duration
	var mu sync.Mutex
	d := NewDispatcher(s, DispatcherOptions{
		Workers: 1, Logger: discardLogger(),
		After: func(d time.Duration) <-chan time.Time {
			mu.Lock()
			waits = append(waits, d)
			mu.Unlock()
			return closedTimer()
		},
	})
	m := testMessage(t)
	require.NoError(t, d.Send(t.Context(), m))
	require.NoError(t, d.Flush(t.Context()))
	require.NoError(t, d.Close(t.Context()))

	got := be.messages()
	require.Len(t, got, 1, "exactly one copy delivered")
	checkMIME(t, got[0], m)
	mails, _, datas := be.counts()
	assert.Equal(t, 3, mails, "MAIL attempts")
	assert.Equal(t, 2, datas, "DATA attempts")
	assert.Len(t, waits, 2, "two backoff waits")
}

func TestSMTPDispatcherDoesNotRetryPermanentReplies(t *testing.T) {
	t.Parallel()
	be := &testBackend{
		rcptErrs: []error{&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user jane@example.com"}},
	}
	port, _ := startSMTP(t, be, plainServer, false)
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone})
	var failed []error
	var buf syncbuf.Buffer
	d := NewDispatcher(s, DispatcherOptions{
		Workers: 2, Logger: textLogger(&buf),
		After:     func(time.Duration) <-chan time.Time { return closedTimer() },
		OnFailure: func(_ *Message, err error) { failed = append(failed, err) },
	})
	require.NoError(t, d.Send(t.Context(), testMessage(t)))
	require.NoError(t, d.Close(t.Context()))

	_, rcpts, datas := be.counts()
	assert.Equal(t, 1, rcpts, "exactly one attempt")
	assert.Equal(t, 0, datas)
	assert.Empty(t, be.messages())
	require.Len(t, failed, 1)
	assert.ErrorIs(t, failed[0], ErrPermanent)
	logged := buf.String()
	assert.Contains(t, logged, "j***@example.com")
	assert.NotContains(t, logged, "jane@example.com")
	assert.NotContains(t, logged, "123456")
	assert.NotContains(t, logged, "token_hash")
}
