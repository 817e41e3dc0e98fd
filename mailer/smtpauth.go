package mailer

import (
	"errors"
	"slices"

	gosmtp "github.com/wneessen/go-mail/smtp"
)

var (
	errInsecureAuth    = errors.New("refusing SMTP AUTH over an unencrypted connection (set AllowInsecureAuth, or insecure_auth=true in an SMTP URL, to permit it)")
	errNoAuthMechanism = errors.New("server offers neither AUTH PLAIN nor AUTH LOGIN")
)

// credentials are the SMTP AUTH settings of a mailer.
type credentials struct {
	username, password string
	allowInsecure      bool
}

// auth returns a fresh authenticator for one connection (LOGIN keeps state
// through its exchange, so connections must not share one).
func (c credentials) auth() *guardedAuth { return &guardedAuth{creds: c} }

// guardedAuth picks PLAIN or LOGIN from what the server offers and refuses
// to send credentials over an unencrypted connection. (go-mail's own check
// lets plain text through to localhost.)
type guardedAuth struct {
	creds credentials
	inner gosmtp.Auth
}

// Start implements smtp.Auth.
func (a *guardedAuth) Start(server *gosmtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !a.creds.allowInsecure {
		return "", nil, errInsecureAuth
	}
	switch {
	case slices.Contains(server.Auth, "PLAIN"):
		a.inner = gosmtp.PlainAuth("", a.creds.username, a.creds.password, server.Name, true)
	case slices.Contains(server.Auth, "LOGIN"):
		a.inner = gosmtp.LoginAuth(a.creds.username, a.creds.password, server.Name, true)
	default:
		return "", nil, errNoAuthMechanism
	}
	return a.inner.Start(server)
}

// Next implements smtp.Auth.
func (a *guardedAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	return a.inner.Next(fromServer, more)
}
