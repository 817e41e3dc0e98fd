package mailer

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSMTPURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want SMTPConfig
	}{
		{"smtp://mail.example.com", SMTPConfig{Host: "mail.example.com"}},
		{"smtp://u:p@mail.example.com:587?tls=starttls", SMTPConfig{Host: "mail.example.com", Port: 587, TLS: TLSStartTLS, Username: "u", Password: "p"}},
		{"smtp://localhost:1025?tls=none", SMTPConfig{Host: "localhost", Port: 1025, TLS: TLSNone}},
		{"smtp://mail.example.com:465?tls=implicit", SMTPConfig{Host: "mail.example.com", Port: 465, TLS: TLSImplicit}},
		{"smtp://mail.example.com?tls=opportunistic", SMTPConfig{Host: "mail.example.com", TLS: TLSOpportunistic}},
		{"smtps://u%40x:p%2Fq@mail.example.com", SMTPConfig{Host: "mail.example.com", TLS: TLSImplicit, Username: "u@x", Password: "p/q"}},
		{"smtp://u:p@[::1]:2525?tls=none&insecure_auth=true", SMTPConfig{Host: "::1", Port: 2525, TLS: TLSNone, Username: "u", Password: "p", AllowInsecureAuth: true}},
		{"smtp://mail.example.com/", SMTPConfig{Host: "mail.example.com"}},
		{"smtp://mail.example.com?max_connections=16&timeout=1m30s&helo=app.example.com", SMTPConfig{Host: "mail.example.com", MaxConnections: 16, Timeout: 90 * time.Second, HELO: "app.example.com"}},
	}
	for _, tc := range cases {
		got, err := parseSMTPURL(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestNewSMTPFromURLErrors(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-S3CRET"
	cases := map[string]string{
		"":                    "empty",
		"mail.example.com:25": "scheme",
		"http://u:" + secret + "@mail.example.com":       `unsupported scheme "http"`,
		"smtp://u:" + secret + "@":                       "missing host",
		"smtp://u:" + secret + "@host:99999":             `invalid port "99999"`,
		"smtp://u:" + secret + "@host:port":              "invalid SMTP URL",
		"smtp://u:" + secret + "@host?tls=maybe":         `tls="maybe"`,
		"smtp://u:" + secret + "@host?tls=none&tls=none": `"tls" given 2 times`,
		"smtp://u:" + secret + "@host?foo=1":             `unknown parameter "foo"`,
		"smtps://u:" + secret + "@host?tls=starttls":     "smtps:// means implicit TLS",
		"smtp://u:" + secret + "@host/path":              "unexpected path",
		"smtp://u:" + secret + "@host?tls=none":          "insecure_auth=true",
		"smtp://host?max_connections=0":                  "max_connections=",
		"smtp://host?max_connections=x":                  "max_connections=",
		"smtp://host?timeout=-1s":                        "timeout=",
		"smtp://host?timeout=10":                         "timeout=",
		"smtp://host?helo=a%20b":                         "helo=",
		"smtp://host?helo=a%00b":                         "helo=",
		"smtp://host?insecure_auth=yes":                  "insecure_auth=",
		"smtp://u:" + secret + "@host#frag":              "unexpected fragment",
		"smtp://u:" + secret + "@ho st":                  "invalid SMTP URL",
		"smtp://:" + secret + "@host":                    "empty user name",
		"smtp://u:" + secret + "%zz@host":                "invalid SMTP URL",
		"smtp:u:" + secret + "@host":                     `missing "//"`,
	}
	for in, want := range cases {
		_, err := NewSMTPFromURL(in, "no-reply@acme.example")
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), want, in)
		assert.NotContains(t, err.Error(), secret, "password in error for %q", in)
		assert.NotContains(t, err.Error(), "hunter2", "password in error for %q", in)
	}

	_, err := NewSMTPFromURL("smtp://mail.example.com", "")
	assert.ErrorContains(t, err, "from address (second argument of NewSMTPFromURL) is required")
	s, err := NewSMTPFromURL("smtp://u:p@mail.example.com?tls=starttls", "Acme <no-reply@acme.example>")
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

func TestNewSMTPDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  SMTPConfig
		mode TLSMode
	}{
		{SMTPConfig{Port: 465}, TLSImplicit},
		{SMTPConfig{Port: 587}, TLSStartTLS},
		{SMTPConfig{}, TLSStartTLS},
		{SMTPConfig{TLS: TLSNone}, TLSNone},
	} {
		tc.cfg.Host, tc.cfg.From = "mail.example.com", "a@acme.example"
		s, err := NewSMTP(tc.cfg)
		require.NoError(t, err)
		assert.Equal(t, tc.mode, s.tlsMode, "%+v", tc.cfg)
	}
	for name, cfg := range map[string]SMTPConfig{
		"no host":   {From: "a@acme.example"},
		"no from":   {Host: "h"},
		"bad from":  {Host: "h", From: "a\r\nBcc: x@y.z"},
		"bad port":  {Host: "h", From: "a@acme.example", Port: 70000},
		"bad mode":  {Host: "h", From: "a@acme.example", TLS: TLSMode(42)},
		"pass only": {Host: "h", From: "a@acme.example", Password: "p"},
		"dkim half": {Host: "h", From: "a@acme.example", DKIM: &DKIMConfig{Domain: "acme.example"}},
	} {
		_, err := NewSMTP(cfg)
		assert.ErrorContains(t, err, "mailer: SMTP config: ", name)
	}
}

// TestNewSMTPReportsEveryProblem: one call names every field that is wrong,
// by its Go name, so a user fixes them in one go.
func TestNewSMTPReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := NewSMTP(SMTPConfig{Port: -1, Username: "u", TLS: TLSNone, Timeout: -time.Second, MaxConnections: -2})
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{"Host is required", "invalid Port -1", "From address is required",
		"set AllowInsecureAuth", "negative Timeout"} {
		assert.Contains(t, msg, want)
	}
	assert.Len(t, strings.Split(msg, "\n"), 5, "one line per problem: %s", msg)
	_, err = NewSMTP(SMTPConfig{Host: "h", From: "a@acme.example", MaxConnections: -2})
	assert.ErrorContains(t, err, "negative MaxConnections")
}

// TestNewSMTPFromURLNamesURLParts: a configuration problem found after
// parsing is reported in the URL's terms, not as a Go field.
func TestNewSMTPFromURLNamesURLParts(t *testing.T) {
	t.Parallel()
	_, err := NewSMTPFromURL("smtp://user:pw@mail.example.com?tls=none", "a@acme.example")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "insecure_auth=true")
	assert.Contains(t, err.Error(), "tls=starttls")
	assert.NotContains(t, err.Error(), "AllowInsecureAuth")
	s, err := NewSMTPFromURL("smtp://user:pw@mail.example.com?tls=none&insecure_auth=true&max_connections=7", "a@acme.example")
	require.NoError(t, err)
	assert.Equal(t, 7, cap(s.pool.slots))
	require.NoError(t, s.Close())
}
