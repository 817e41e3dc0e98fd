package mailer

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// NewSMTPFromURL configures an SMTP mailer from a URL of the form
//
//	smtp://user:pass@host:port?tls=none|starttls|opportunistic|implicit
//	smtps://user:pass@host:port
//
// smtps:// means implicit TLS. Without a tls parameter, port 465 means
// implicit TLS and every other port mandatory STARTTLS. The default port is
// 465 for implicit TLS, 25 for tls=none and 587 otherwise. User name and
// password are percent-decoded. insecure_auth=true sets AllowInsecureAuth
// (AUTH is refused over tls=none otherwise). from is the sender address.
//
// Errors name the offending part precisely but never contain the password.
func NewSMTPFromURL(rawURL string, from string) (*SMTP, error) {
	cfg, err := parseSMTPURL(rawURL)
	if err != nil {
		return nil, err
	}
	cfg.From = from
	return NewSMTP(cfg)
}

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
		return cfg, fmt.Errorf("mailer: invalid SMTP URL: %s", scrubSecret(err.Error(), rawURL))
	}
	switch u.Scheme {
	case "smtp":
	case "smtps":
		cfg.TLS = TLSImplicit
	case "":
		return cfg, errors.New(`mailer: invalid SMTP URL: missing scheme (want "smtp://" or "smtps://")`)
	default:
		return cfg, fmt.Errorf(`mailer: invalid SMTP URL: unsupported scheme %q (want "smtp" or "smtps")`, u.Scheme)
	}
	if u.Opaque != "" {
		return cfg, errors.New(`mailer: invalid SMTP URL: missing "//" after the scheme`)
	}
	if u.Path != "" && u.Path != "/" {
		return cfg, errors.New("mailer: invalid SMTP URL: unexpected path")
	}
	if u.Fragment != "" {
		return cfg, errors.New("mailer: invalid SMTP URL: unexpected fragment")
	}
	cfg.Host = u.Hostname()
	if cfg.Host == "" {
		return cfg, errors.New("mailer: invalid SMTP URL: missing host")
	}
	if p := u.Port(); p != "" {
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return cfg, fmt.Errorf("mailer: invalid SMTP URL: invalid port %q", p)
		}
		cfg.Port = port
	}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
		if cfg.Username == "" {
			return cfg, errors.New("mailer: invalid SMTP URL: empty user name")
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return cfg, errors.New("mailer: invalid SMTP URL: malformed query")
	}
	for key, values := range q {
		if len(values) != 1 {
			return cfg, fmt.Errorf("mailer: invalid SMTP URL: parameter %q given %d times", key, len(values))
		}
		v := values[0]
		switch key {
		case "tls":
			mode, ok := map[string]TLSMode{
				"none": TLSNone, "starttls": TLSStartTLS, "opportunistic": TLSOpportunistic, "implicit": TLSImplicit,
			}[strings.ToLower(v)]
			if !ok {
				return cfg, fmt.Errorf(`mailer: invalid SMTP URL: tls=%q (want "none", "starttls", "opportunistic" or "implicit")`, v)
			}
			if u.Scheme == "smtps" && mode != TLSImplicit {
				return cfg, fmt.Errorf("mailer: invalid SMTP URL: smtps:// means implicit TLS, but tls=%s", v)
			}
			cfg.TLS = mode
		case "insecure_auth":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return cfg, fmt.Errorf("mailer: invalid SMTP URL: insecure_auth=%q is not a boolean", v)
			}
			cfg.AllowInsecureAuth = b
		default:
			return cfg, fmt.Errorf("mailer: invalid SMTP URL: unknown parameter %q", key)
		}
	}
	return cfg, nil
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
