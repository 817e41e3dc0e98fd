package mailer

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// NewSMTPFromURL configures an SMTP mailer from a URL; from is the sender
// address, such as "Acme <no-reply@acme.example>".
//
//	smtp://[user[:password]@]host[:port][?parameters]
//	smtps://[user[:password]@]host[:port][?parameters]
//
// The parts of the URL:
//
//   - scheme: smtp:// (STARTTLS or plain, see tls=) or smtps:// (implicit
//     TLS from the first byte, same as tls=implicit).
//   - user and password: SMTP AUTH credentials (PLAIN, or LOGIN when the
//     server offers only that), percent-encoded ("p%40ss" for "p@ss"). They
//     are only sent over TLS unless insecure_auth=true.
//   - host: the server's name or IP address (IPv6 in brackets).
//   - port: default 465 with implicit TLS, 25 with tls=none, 587 otherwise.
//
// The parameters, each at most once:
//
//   - tls=starttls: upgrade with STARTTLS, fail if the server does not offer
//     it. The default, except on port 465.
//   - tls=implicit: TLS from the first byte. The default on port 465.
//   - tls=opportunistic: STARTTLS when offered, plain text otherwise.
//   - tls=none: plain text, for a development relay only.
//   - insecure_auth=true: permit AUTH without TLS (tls=none, or
//     tls=opportunistic against a server without STARTTLS); for a trusted
//     development relay only. Default false.
//   - max_connections=N: connections kept open to the server, one per
//     concurrent send (default 4).
//   - timeout=D: bound of one send as a Go duration such as "10s" (default
//     30s).
//   - helo=name: the name sent in EHLO (default the local host name).
//
// Errors name the part of the URL to fix, such as "insecure_auth=true",
// but never contain the password.
func NewSMTPFromURL(rawURL string, from string) (*SMTP, error) {
	cfg, err := parseSMTPURL(rawURL)
	if err != nil {
		return nil, err
	}
	cfg.From = from
	return newSMTP(cfg, urlNames())
}

// errSMTPURL returns an error about the URL with the prefix every such
// error carries.
func errSMTPURL(format string, args ...any) error {
	return fmt.Errorf("mailer: invalid SMTP URL: "+format, args...)
}

// parseSMTPURL reads rawURL into an SMTPConfig without From.
func parseSMTPURL(rawURL string) (SMTPConfig, error) {
	var cfg SMTPConfig
	if strings.TrimSpace(rawURL) == "" {
		return cfg, errors.New("mailer: SMTP URL is empty")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// *url.Error repeats the whole URL, password included; keep only
		// the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return cfg, errSMTPURL("%s", scrubSecret(err.Error(), rawURL))
	}
	if err := readSMTPURLShape(u, &cfg); err != nil {
		return cfg, err
	}
	if err := readSMTPURLServer(u, &cfg); err != nil {
		return cfg, err
	}
	return cfg, readSMTPURLParams(u, &cfg)
}

// readSMTPURLShape checks scheme, path and fragment.
func readSMTPURLShape(u *url.URL, cfg *SMTPConfig) error {
	switch u.Scheme {
	case "smtp":
	case "smtps":
		cfg.TLS = TLSImplicit
	case "":
		return errSMTPURL(`missing scheme (want "smtp://" or "smtps://")`)
	default:
		return errSMTPURL(`unsupported scheme %q (want "smtp" or "smtps")`, u.Scheme)
	}
	switch {
	case u.Opaque != "":
		return errSMTPURL(`missing "//" after the scheme`)
	case u.Path != "" && u.Path != "/":
		return errSMTPURL("unexpected path")
	case u.Fragment != "":
		return errSMTPURL("unexpected fragment")
	}
	return nil
}

// readSMTPURLServer reads host, port, user name and password.
func readSMTPURLServer(u *url.URL, cfg *SMTPConfig) error {
	cfg.Host = u.Hostname()
	if cfg.Host == "" {
		return errSMTPURL("missing host")
	}
	if p := u.Port(); p != "" {
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return errSMTPURL("invalid port %q", p)
		}
		cfg.Port = port
	}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
		if cfg.Username == "" {
			return errSMTPURL("empty user name")
		}
	}
	return nil
}

// readSMTPURLParams reads the query parameters.
func readSMTPURLParams(u *url.URL, cfg *SMTPConfig) error {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return errSMTPURL("malformed query")
	}
	for key, values := range q {
		if len(values) != 1 {
			return errSMTPURL("parameter %q given %d times", key, len(values))
		}
		if err := readSMTPURLParam(u.Scheme, key, values[0], cfg); err != nil {
			return err
		}
	}
	return nil
}

func readSMTPURLParam(scheme, key, v string, cfg *SMTPConfig) error {
	switch key {
	case "tls":
		mode, ok := map[string]TLSMode{
			"none": TLSNone, "starttls": TLSStartTLS, "opportunistic": TLSOpportunistic, "implicit": TLSImplicit,
		}[strings.ToLower(v)]
		if !ok {
			return errSMTPURL(`tls=%q (want "none", "starttls", "opportunistic" or "implicit")`, v)
		}
		if scheme == "smtps" && mode != TLSImplicit {
			return errSMTPURL("smtps:// means implicit TLS, but tls=%s", v)
		}
		cfg.TLS = mode
	case "insecure_auth":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errSMTPURL("insecure_auth=%q is not a boolean (want true or false)", v)
		}
		cfg.AllowInsecureAuth = b
	case "max_connections":
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return errSMTPURL("max_connections=%q (want a whole number from 1 to 1000)", v)
		}
		cfg.MaxConnections = n
	case "timeout":
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return errSMTPURL(`timeout=%q (want a positive duration such as "10s")`, v)
		}
		cfg.Timeout = d
	case "helo":
		cfg.HELO = v
	default:
		return errSMTPURL("unknown parameter %q (known: tls, insecure_auth, max_connections, timeout, helo)", key)
	}
	return nil
}

// scrubSecret removes the userinfo of rawURL from msg, in case a parser
// error quotes it.
func scrubSecret(msg, rawURL string) string {
	rest := rawURL
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		userinfo := rest[:at]
		if userinfo != "" {
			msg = strings.ReplaceAll(msg, userinfo, "***")
		}
		if _, pass, ok := strings.Cut(userinfo, ":"); ok && pass != "" {
			msg = strings.ReplaceAll(msg, pass, "***")
		}
	}
	return msg
}
