package mailer

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// authProbe offers AUTH PLAIN over plain text and counts every attempt.
type authProbe struct{ attempts, datas atomic.Int64 }

func (b *authProbe) NewSession(*smtp.Conn) (smtp.Session, error) { return &authProbeSession{b}, nil }

type authProbeSession struct{ b *authProbe }

func (s *authProbeSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *authProbeSession) Auth(string) (sasl.Server, error) {
	s.b.attempts.Add(1)
	return sasl.NewPlainServer(func(string, string, string) error { return nil }), nil
}
func (s *authProbeSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *authProbeSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *authProbeSession) Data(r io.Reader) error {
	s.b.datas.Add(1)
	_, err := io.Copy(io.Discard, r)
	return err
}
func (s *authProbeSession) Reset()        {}
func (s *authProbeSession) Logout() error { return nil }

// TestClaimSMTPNeverSendsCredentialsInPlainText: SECURITY.md says the SMTP
// mailer refuses to send credentials over a plain connection unless told
// to. A server that offers AUTH PLAIN without TLS never sees an attempt,
// and the mail is not sent; a plain configuration with credentials fails
// at construction.
func TestClaimSMTPNeverSendsCredentialsInPlainText(t *testing.T) {
	t.Parallel()
	be := &authProbe{}
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = l.Close(); _ = srv.Close(); <-done })

	if _, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, TLS: TLSNone,
		Username: "u", Password: "p", From: "a@acme.example"}); err == nil {
		t.Error("NewSMTP accepted credentials with TLSNone")
	}
	m, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, TLS: TLSOpportunistic,
		Username: "user", Password: "secret-password", From: "a@acme.example", Timeout: 5 * time.Second, HELO: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	err = m.Send(context.Background(), markedMessage(1))
	if err == nil || !errors.Is(err, ErrPermanent) {
		t.Errorf("Send over plain text with credentials = %v, want a permanent error", err)
	}
	if n := be.attempts.Load(); n != 0 {
		t.Errorf("the server saw %d AUTH attempts over plain text", n)
	}
	if n := be.datas.Load(); n != 0 {
		t.Errorf("the mail was sent (%d DATA) although authentication was refused", n)
	}
}
