package app

import (
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/clientip"
	"github.com/magiclink-go/magiclink/store"
)

// DefaultAddr is where the server listens without ADDR.
const DefaultAddr = "127.0.0.1:8080"

// DefaultMailFrom is the sender of mails sent over SMTP without
// MAGICLINK_MAIL_FROM.
const DefaultMailFrom = "magiclink <no-reply@localhost>"

// Config is the server configuration read from the environment by
// ParseConfig. Nothing in it is printed: it holds secrets.
type Config struct {
	// Addr is the listen address (ADDR).
	Addr string
	// AllowedOrigins are the callback origins (MAGICLINK_ALLOWED_ORIGINS);
	// empty means the server's own origin, known only once it listens.
	AllowedOrigins []string
	// AllowInsecureHTTP permits plain-http origins other than loopback
	// (MAGICLINK_ALLOW_INSECURE_HTTP), for closed test networks.
	AllowInsecureHTTP bool
	// Secret is the server secret (MAGICLINK_SECRET); nil means a random
	// one per process.
	Secret []byte
	// APIKey is the one development API key (MAGICLINK_API_KEY), or "".
	APIKey string
	// AdminJWTSecret is the HS256 key of admin bearer tokens
	// (MAGICLINK_ADMIN_JWT_SECRET); nil disables the admin endpoint.
	AdminJWTSecret []byte
	// AdminJWTIssuer, AdminJWTAudience and AdminScope are required of admin
	// tokens when set.
	AdminJWTIssuer   string
	AdminJWTAudience string
	AdminScope       string
	// Customers are put into the store at start-up (MAGICLINK_CUSTOMERS).
	Customers []store.Customer
	// TrustedProxies are the proxies whose X-Forwarded-For is believed
	// (MAGICLINK_TRUSTED_PROXIES).
	TrustedProxies []netip.Prefix
	// PortalOrigin is where API-key and admin links point
	// (MAGICLINK_PORTAL_ORIGIN); "" means the first allowed origin.
	PortalOrigin string
	// Redis, when set, selects the Redis store and limiter (REDIS_URL),
	// and with SMTP the Redis outbox.
	Redis *redis.Options
	// Database, when set, selects PostgreSQL (DATABASE_URL) for the store,
	// the limiter and, with SMTP, the outbox; with Redis as well, Redis
	// serves the limiter and the outbox.
	Database *pgxpool.Config
	// SMTPURL, when set, selects SMTP delivery (SMTP_URL) from MailFrom
	// (MAGICLINK_MAIL_FROM); the dev mailbox is then off.
	SMTPURL  string
	MailFrom string
	// DevMailbox serves the memory mailer's mails at /dev/mailbox
	// (MAGICLINK_DEV_MAILBOX). Without SMTP_URL it defaults to true on a
	// loopback ADDR; on any other ADDR it must be set explicitly, since the
	// mailbox shows live sign-in links and codes to whoever reaches it.
	DevMailbox bool
	// MetricsAddr, when set, serves Prometheus metrics at /metrics on a
	// listener of its own (METRICS_ADDR), never on the public port.
	MetricsAddr string
	// CORSOrigins are front-end origins allowed to call the auth endpoints
	// from the browser, with cookies (MAGICLINK_CORS_ORIGINS).
	CORSOrigins []string
}

// ParseConfig reads the configuration from getenv. Every error names the
// variable and the problem in one line and never contains a secret.
func ParseConfig(getenv func(string) string) (*Config, error) {
	c := &Config{Addr: DefaultAddr, MailFrom: DefaultMailFrom}
	var err error
	if v := strings.TrimSpace(getenv("ADDR")); v != "" {
		if err := checkAddr(v); err != nil {
			return nil, fmt.Errorf("ADDR %w", err)
		}
		c.Addr = v
	}
	if v := getenv("MAGICLINK_ALLOW_INSECURE_HTTP"); v != "" {
		if c.AllowInsecureHTTP, err = strconv.ParseBool(v); err != nil {
			return nil, fmt.Errorf("MAGICLINK_ALLOW_INSECURE_HTTP must be true or false (got %q)", v)
		}
	}
	if v := getenv("MAGICLINK_ALLOWED_ORIGINS"); strings.TrimSpace(v) != "" {
		c.AllowedOrigins = splitList(v)
		if len(c.AllowedOrigins) == 0 {
			return nil, errors.New("MAGICLINK_ALLOWED_ORIGINS lists no origin")
		}
		if _, err := magiclink.NewOriginsWithOptions(magiclink.OriginOptions{AllowInsecureHTTP: c.AllowInsecureHTTP}, c.AllowedOrigins...); err != nil {
			return nil, fmt.Errorf("MAGICLINK_ALLOWED_ORIGINS: %s", trimPrefix(err))
		}
	}
	if v := getenv("MAGICLINK_SECRET"); v != "" {
		if len(v) < 32 {
			return nil, fmt.Errorf("MAGICLINK_SECRET must be at least 32 bytes (got %d)", len(v))
		}
		c.Secret = []byte(v)
	}
	if v := getenv("MAGICLINK_API_KEY"); v != "" {
		if strings.ContainsFunc(v, badKeyRune) {
			return nil, errors.New("MAGICLINK_API_KEY must not contain spaces or control characters")
		}
		if len(v) < 16 {
			return nil, fmt.Errorf("MAGICLINK_API_KEY must be at least 16 bytes (got %d)", len(v))
		}
		c.APIKey = v
	}
	if v := getenv("MAGICLINK_ADMIN_JWT_SECRET"); v != "" {
		// RFC 7518 §3.2: an HS256 key must be at least as long as the hash.
		if len(v) < 32 {
			return nil, fmt.Errorf("MAGICLINK_ADMIN_JWT_SECRET must be at least 32 bytes for HS256 (got %d)", len(v))
		}
		c.AdminJWTSecret = []byte(v)
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"MAGICLINK_ADMIN_JWT_ISSUER", &c.AdminJWTIssuer},
		{"MAGICLINK_ADMIN_JWT_AUDIENCE", &c.AdminJWTAudience},
		{"MAGICLINK_ADMIN_SCOPE", &c.AdminScope},
	} {
		v := strings.TrimSpace(getenv(f.name))
		if v == "" {
			continue
		}
		if c.AdminJWTSecret == nil {
			return nil, fmt.Errorf("%s needs MAGICLINK_ADMIN_JWT_SECRET", f.name)
		}
		if strings.ContainsFunc(v, badKeyRune) {
			return nil, fmt.Errorf("%s must not contain spaces or control characters (got %q)", f.name, v)
		}
		*f.dst = v
	}
	if v := getenv("MAGICLINK_CUSTOMERS"); strings.TrimSpace(v) != "" {
		if c.Customers, err = parseCustomers(v); err != nil {
			return nil, fmt.Errorf("MAGICLINK_CUSTOMERS: %w", err)
		}
	}
	if v := getenv("MAGICLINK_TRUSTED_PROXIES"); strings.TrimSpace(v) != "" {
		if c.TrustedProxies, err = clientip.ParseCIDRs(v); err != nil {
			return nil, fmt.Errorf("MAGICLINK_TRUSTED_PROXIES: %s", strings.TrimPrefix(err.Error(), "clientip: "))
		}
	}
	if v := strings.TrimSpace(getenv("MAGICLINK_PORTAL_ORIGIN")); v != "" {
		o, err := magiclink.NewOriginsWithOptions(magiclink.OriginOptions{AllowInsecureHTTP: c.AllowInsecureHTTP}, v)
		if err != nil {
			return nil, fmt.Errorf("MAGICLINK_PORTAL_ORIGIN: %s", trimPrefix(err))
		}
		if strings.Contains(v, "*") {
			return nil, fmt.Errorf("MAGICLINK_PORTAL_ORIGIN must be one origin, not a pattern (got %q)", v)
		}
		c.PortalOrigin = o.Patterns()[0]
		if c.AllowedOrigins != nil && !allowedBy(c.AllowedOrigins, c.PortalOrigin, c.AllowInsecureHTTP) {
			return nil, fmt.Errorf("MAGICLINK_PORTAL_ORIGIN %q is not in MAGICLINK_ALLOWED_ORIGINS", c.PortalOrigin)
		}
	}
	if v := strings.TrimSpace(getenv("REDIS_URL")); v != "" {
		if c.Redis, err = parseRedisURL(v); err != nil {
			return nil, err
		}
	}
	if v := strings.TrimSpace(getenv("DATABASE_URL")); v != "" {
		if c.Database, err = parseDatabaseURL(v); err != nil {
			return nil, err
		}
	}
	if v := getenv("MAGICLINK_MAIL_FROM"); strings.TrimSpace(v) != "" {
		if c.MailFrom, err = parseMailFrom(v); err != nil {
			return nil, err
		}
	}
	if v := strings.TrimSpace(getenv("SMTP_URL")); v != "" {
		c.SMTPURL = v
	}
	if err := c.checkOutboxSecret(); err != nil {
		return nil, err
	}
	if v := strings.TrimSpace(getenv("METRICS_ADDR")); v != "" {
		if err := checkAddr(v); err != nil {
			return nil, fmt.Errorf("METRICS_ADDR %w", err)
		}
		c.MetricsAddr = v
	}
	if v := getenv("MAGICLINK_CORS_ORIGINS"); strings.TrimSpace(v) != "" {
		c.CORSOrigins = splitList(v)
		if _, err := magiclink.NewOriginsWithOptions(magiclink.OriginOptions{AllowInsecureHTTP: c.AllowInsecureHTTP}, c.CORSOrigins...); err != nil {
			return nil, fmt.Errorf("MAGICLINK_CORS_ORIGINS: %s", trimPrefix(err))
		}
	}
	if c.DevMailbox, err = parseDevMailbox(getenv("MAGICLINK_DEV_MAILBOX"), c.Addr, c.SMTPURL != ""); err != nil {
		return nil, err
	}
	return c, nil
}

// parseDevMailbox decides whether the dev mailbox is served. Unset, it is
// on with the memory mailer on a loopback ADDR; on any other ADDR the
// operator must choose, because the mailbox hands out live sign-in links.
func parseDevMailbox(v, addr string, smtp bool) (bool, error) {
	if v = strings.TrimSpace(v); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("MAGICLINK_DEV_MAILBOX must be true or false (got %q)", v)
		}
		if on && smtp {
			return false, errors.New("MAGICLINK_DEV_MAILBOX=true needs the memory mailer: unset SMTP_URL")
		}
		return on, nil
	}
	if smtp {
		return false, nil
	}
	if !isLoopbackAddr(addr) {
		return false, fmt.Errorf("ADDR %s is not a loopback address, so the dev mailbox would show live sign-in links to the network: "+
			"set SMTP_URL, or MAGICLINK_DEV_MAILBOX=true to serve it anyway (false to turn it off)", addr)
	}
	return true, nil
}

// isLoopbackAddr reports whether addr (host:port) listens on loopback only:
// "localhost" or a loopback IP. An empty or unspecified host listens on
// every interface.
func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// checkAddr accepts host:port with a numeric port; the host may be empty
// (all interfaces).
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be host:port, such as 127.0.0.1:8080 (got %q)", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("has an invalid port (got %q)", addr)
	}
	if strings.ContainsAny(host, "/ ") {
		return fmt.Errorf("has an invalid host (got %q)", addr)
	}
	return nil
}

// parseMailFrom checks MAGICLINK_MAIL_FROM here, so that a bad sender is
// reported under its own name rather than as a fault of SMTP_URL, where
// the mailer would find it.
func parseMailFrom(v string) (string, error) {
	v = strings.TrimSpace(v)
	a, err := netmail.ParseAddress(v)
	if strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) || err != nil || !strings.Contains(a.Address, "@") {
		return "", fmt.Errorf("MAGICLINK_MAIL_FROM must be an address such as \"Acme <no-reply@acme.example>\" (got %q)", v)
	}
	return v, nil
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// parseCustomers reads "cus_1=a@example.com,cus_2=b@example.com".
func parseCustomers(s string) ([]store.Customer, error) {
	var out []store.Customer
	seen := map[string]bool{}
	for _, pair := range splitList(s) {
		id, email, ok := strings.Cut(pair, "=")
		id, email = strings.TrimSpace(id), strings.TrimSpace(email)
		if !ok || id == "" || email == "" {
			return nil, fmt.Errorf("want id=email pairs separated by commas (got %q)", pair)
		}
		if strings.ContainsFunc(id, badKeyRune) || len(id) > 128 {
			return nil, fmt.Errorf("customer ID %q must be at most 128 printable characters without spaces", id)
		}
		if seen[id] {
			return nil, fmt.Errorf("customer ID %q appears twice", id)
		}
		seen[id] = true
		norm, err := magiclink.NormalizeEmail(email)
		if err != nil {
			return nil, fmt.Errorf("customer %q has an invalid e-mail address %q", id, email)
		}
		out = append(out, store.Customer{ID: id, Email: norm})
	}
	return out, nil
}

// parseRedisURL parses REDIS_URL without ever repeating its password.
func parseRedisURL(raw string) (*redis.Options, error) {
	opts, err := redis.ParseURL(raw)
	if err != nil {
		// url.Error repeats the whole URL, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("REDIS_URL is invalid: %s", scrub(strings.TrimPrefix(err.Error(), "redis: "), raw))
	}
	// The store's per-call timeout bounds socket reads and writes only with
	// this on; without it a hung Redis holds requests for the socket timeout.
	opts.ContextTimeoutEnabled = true
	return opts, nil
}

// scrub removes the password of rawURL from msg.
func scrub(msg, rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}

// allowedBy reports whether origin is matched by one of patterns.
func allowedBy(patterns []string, origin string, insecure bool) bool {
	o, err := magiclink.NewOriginsWithOptions(magiclink.OriginOptions{AllowInsecureHTTP: insecure}, patterns...)
	if err != nil {
		return false
	}
	_, ok := o.Allow(origin)
	return ok
}

func badKeyRune(r rune) bool { return r <= ' ' || r == 0x7f }

// trimPrefix drops the "magiclink: " prefix of a library error, since the
// server prints its own.
func trimPrefix(err error) string { return strings.TrimPrefix(err.Error(), "magiclink: ") }

// checkOutboxSecret refuses an outbox without a fixed secret before anything
// is connected: the outbox seals queued mail with it.
func (c *Config) checkOutboxSecret() error {
	if c.SMTPURL == "" || c.Secret != nil {
		return nil
	}
	name := ""
	switch {
	case c.Redis != nil:
		name = "REDIS_URL"
	case c.Database != nil:
		name = "DATABASE_URL"
	default:
		return nil
	}
	return fmt.Errorf("MAGICLINK_SECRET is required with %s and SMTP_URL: the outbox seals queued mail with it, and every instance must open what another queued", name)
}
