package mailer

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"
)

// NewSMTP validates cfg and returns an SMTP mailer. It reports every
// problem of cfg at once, each naming its field. It does not connect yet;
// the first Send does.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	return newSMTP(cfg, fieldNames())
}

// newSMTP is NewSMTP with the settings named for where they came from.
func newSMTP(cfg SMTPConfig, n settingNames) (*SMTP, error) {
	if err := checkSMTPConfig(cfg, n); err != nil {
		return nil, err
	}
	mode := resolveTLSMode(cfg.TLS, cfg.Port)
	s := &SMTP{
		tlsMode: mode,
		tls:     clientTLSConfig(cfg),
		header:  newHeaderValues(cfg.From, cfg.ReplyTo),
		timeout: orDefault(cfg.Timeout, DefaultSMTPTimeout),
		now:     time.Now,
		creds:   credentials{username: cfg.Username, password: cfg.Password, allowInsecure: cfg.AllowInsecureAuth},
		pool:    newConnPool(orDefault(cfg.MaxConnections, defaultSMTPMaxConnections)),
	}
	s.wire.New = func() any { return new(wireBuffer) }
	if cfg.DKIM != nil {
		s.dkim = mail.NewDKIMSigner(cfg.DKIM.Domain, cfg.DKIM.Selector, cfg.DKIM.Key)
	}
	client, err := mail.NewClient(cfg.Host, s.clientOptions(cfg, resolvePort(cfg.Port, mode))...)
	if err != nil {
		// go-mail's option errors never contain the password.
		return nil, fmt.Errorf("mailer: configuring SMTP client: %w", err)
	}
	s.client = client
	return s, nil
}

// orDefault returns v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// checkSMTPConfig reports every problem of cfg, joined.
func checkSMTPConfig(cfg SMTPConfig, n settingNames) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(checkHost(cfg.Host, n))
	add(checkTransport(cfg, n))
	add(checkSender(cfg, n))
	add(checkAuth(cfg, n))
	add(checkLimits(cfg, n))
	add(checkDKIM(cfg.DKIM, n))
	return errors.Join(errs...)
}

func checkHost(host string, n settingNames) error {
	switch {
	case host == "":
		return n.errorf("%s is required", n.host)
	case strings.ContainsAny(host, "/@ \r\n"):
		return n.errorf("invalid %s %q", n.host, host)
	}
	return nil
}

func checkTransport(cfg SMTPConfig, n settingNames) error {
	switch cfg.TLS {
	case TLSDefault, TLSNone, TLSStartTLS, TLSOpportunistic, TLSImplicit:
	default:
		return n.errorf("unknown %s %d", n.tls, int(cfg.TLS))
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return n.errorf("invalid %s %d", n.port, cfg.Port)
	}
	if strings.ContainsAny(cfg.HELO, " ") || strings.ContainsFunc(cfg.HELO, isControl) {
		return n.errorf("invalid %s %q", n.helo, cfg.HELO)
	}
	return nil
}

func checkSender(cfg SMTPConfig, n settingNames) error {
	if cfg.From == "" {
		return n.errorf("%s is required", n.from)
	}
	if _, err := parseHeaderAddress(cfg.From); err != nil {
		return n.errorf("invalid %s: %w", n.from, err)
	}
	if cfg.ReplyTo != "" {
		if _, err := parseHeaderAddress(cfg.ReplyTo); err != nil {
			return n.errorf("invalid %s: %w", n.replyTo, err)
		}
	}
	return nil
}

func checkAuth(cfg SMTPConfig, n settingNames) error {
	if cfg.Password != "" && cfg.Username == "" {
		return n.errorf("%s given without %s", n.password, n.username)
	}
	if cfg.Username != "" && cfg.TLS == TLSNone && !cfg.AllowInsecureAuth {
		return n.errorf("refusing SMTP AUTH without TLS; %s", n.insecureAuthFix)
	}
	return nil
}

func checkLimits(cfg SMTPConfig, n settingNames) error {
	if cfg.Timeout < 0 {
		return n.errorf("negative %s", n.timeout)
	}
	if cfg.MaxConnections < 0 {
		return n.errorf("negative %s", n.maxConnections)
	}
	return nil
}

func checkDKIM(d *DKIMConfig, n settingNames) error {
	if d != nil && (d.Domain == "" || d.Selector == "" || d.Key == nil) {
		return n.errorf("DKIM needs Domain, Selector and Key")
	}
	return nil
}

// resolveTLSMode turns TLSDefault into the mode the port implies.
func resolveTLSMode(mode TLSMode, port int) TLSMode {
	switch {
	case mode != TLSDefault:
		return mode
	case port == 465:
		return TLSImplicit
	}
	return TLSStartTLS
}

// resolvePort returns port, or the standard port for mode.
func resolvePort(port int, mode TLSMode) int {
	switch {
	case port != 0:
		return port
	case mode == TLSImplicit:
		return 465
	case mode == TLSNone:
		return 25
	}
	return 587
}

// clientTLSConfig clones cfg.TLSConfig and fills in ServerName and
// MinVersion.
func clientTLSConfig(cfg SMTPConfig) *tls.Config {
	c := &tls.Config{}
	if cfg.TLSConfig != nil {
		c = cfg.TLSConfig.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = cfg.Host
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// clientOptions configures the go-mail client that dials for the pool. It
// only sets up connections (dial, greeting, STARTTLS); the transactions
// are smtpConn.mail's.
func (s *SMTP) clientOptions(cfg SMTPConfig, port int) []mail.Option {
	policy := mail.NoTLS
	switch s.tlsMode {
	case TLSStartTLS:
		policy = mail.TLSMandatory
	case TLSOpportunistic:
		policy = mail.TLSOpportunistic
	}
	opts := []mail.Option{
		mail.WithPort(port),
		mail.WithTLSPolicy(policy),
		mail.WithTLSConfig(s.tls),
		mail.WithTimeout(s.timeout),
		// Our own dialer wraps the connection so that the context and the
		// per-send timeout bound every read and write, and it speaks
		// implicit TLS itself.
		mail.WithDialContextFunc(s.dial),
	}
	if cfg.HELO != "" {
		opts = append(opts, mail.WithHELO(cfg.HELO))
	}
	// AUTH is left to connect, which gives every connection its own
	// authenticator.
	return opts
}

// settingNames names the settings of an SMTPConfig in error messages:
// NewSMTP names Go fields, NewSMTPFromURL the part of the URL to fix.
type settingNames struct {
	prefix                               string
	host, port, tls, helo, from, replyTo string
	username, password, timeout          string
	maxConnections                       string
	insecureAuthFix                      string
}

func (n settingNames) errorf(format string, args ...any) error {
	return fmt.Errorf(n.prefix+format, args...)
}

func fieldNames() settingNames {
	return settingNames{
		prefix: "mailer: SMTP config: ",
		host:   "Host", port: "Port", tls: "TLS mode", helo: "HELO",
		from: "From address", replyTo: "ReplyTo address",
		username: "Username", password: "Password", timeout: "Timeout",
		maxConnections:  "MaxConnections",
		insecureAuthFix: "use TLSStartTLS or TLSImplicit, or set AllowInsecureAuth for a trusted development relay",
	}
}

func urlNames() settingNames {
	return settingNames{
		prefix: "mailer: SMTP URL: ",
		host:   "host", port: "port", tls: "tls=", helo: "helo=",
		from: "from address (second argument of NewSMTPFromURL)", replyTo: "Reply-To address",
		username: "user name", password: "password", timeout: "timeout=",
		maxConnections:  "max_connections=",
		insecureAuthFix: "use tls=starttls or tls=implicit, or add insecure_auth=true for a trusted development relay",
	}
}
