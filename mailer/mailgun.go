package mailer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Mailgun API base URLs: the region of the Mailgun account decides which one
// to use.
const (
	MailgunUS = "https://api.mailgun.net"
	MailgunEU = "https://api.eu.mailgun.net"
)

// maxErrorBody caps how much of an error response is quoted in an error.
const maxErrorBody = 512

// MailgunConfig configures a Mailgun mailer. Domain, APIKey and From are
// required.
type MailgunConfig struct {
	// Domain is the sending domain configured in Mailgun, such as
	// "mg.example.com".
	Domain string
	// APIKey is the Mailgun API key. It is sent only in the Authorization
	// header and never appears in errors.
	APIKey string
	// From is the sender, such as "Acme <no-reply@mg.example.com>".
	From string
	// ReplyTo is an optional Reply-To address.
	ReplyTo string
	// BaseURL is MailgunUS (default) or MailgunEU. Plain http:// is accepted
	// only for loopback hosts (tests).
	BaseURL string
	// HTTPClient defaults to a client with a 30-second timeout whose
	// transport keeps its connections to Mailgun open between sends (see
	// MaxConnections), so concurrent senders reuse TLS connections instead
	// of opening one per mail.
	HTTPClient *http.Client
	// MaxConnections bounds the connections of the default HTTPClient to
	// Mailgun, all kept alive between sends (default 16); a send beyond it
	// waits for one to come free. It is ignored when HTTPClient is set.
	MaxConnections int
}

// defaultMailgunConns is MailgunConfig.MaxConnections when zero. net/http
// keeps only 2 idle connections per host by default, so 16 concurrent
// senders would close and reopen a TLS connection on most mails.
const defaultMailgunConns = 16

// Mailgun delivers mail through the Mailgun HTTP API
// (POST {BaseURL}/v3/{Domain}/messages). It is safe for concurrent use.
type Mailgun struct {
	endpoint string
	apiKey   string
	from     string
	replyTo  string
	client   *http.Client
	// owned is the transport NewMailgun made, closed by Close; nil when the
	// caller supplied the HTTPClient.
	owned *http.Transport
}

// NewMailgun validates cfg and returns a Mailgun mailer.
func NewMailgun(cfg MailgunConfig) (*Mailgun, error) {
	if cfg.Domain == "" {
		return nil, errors.New("mailer: Mailgun domain is required")
	}
	if strings.ContainsAny(cfg.Domain, "/?#@ %\\") || strings.ContainsFunc(cfg.Domain, isControl) {
		return nil, fmt.Errorf("mailer: invalid Mailgun domain %q", cfg.Domain)
	}
	if cfg.APIKey == "" {
		return nil, errors.New("mailer: Mailgun API key is required")
	}
	if cfg.From == "" {
		return nil, errors.New("mailer: Mailgun From address is required")
	}
	if _, err := parseHeaderAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("mailer: invalid From address: %w", err)
	}
	if cfg.ReplyTo != "" {
		if _, err := parseHeaderAddress(cfg.ReplyTo); err != nil {
			return nil, fmt.Errorf("mailer: invalid Reply-To address: %w", err)
		}
	}
	base := cfg.BaseURL
	if base == "" {
		base = MailgunUS
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("mailer: invalid Mailgun base URL %q", base)
	}
	switch u.Scheme {
	case "https":
	case "http":
		// The API key travels in every request: plain HTTP only where it
		// cannot leave the machine.
		if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("mailer: Mailgun base URL %q must use https", base)
		}
	default:
		return nil, fmt.Errorf("mailer: Mailgun base URL %q must use https", base)
	}
	if cfg.MaxConnections < 0 {
		return nil, errors.New("mailer: negative Mailgun MaxConnections")
	}
	client, owned := cfg.HTTPClient, (*http.Transport)(nil)
	if client == nil {
		owned = keepAliveTransport(orDefault(cfg.MaxConnections, defaultMailgunConns))
		client = &http.Client{Timeout: 30 * time.Second, Transport: owned}
	}
	return &Mailgun{
		owned:    owned,
		endpoint: strings.TrimRight(u.String(), "/") + "/v3/" + url.PathEscape(cfg.Domain) + "/messages",
		apiKey:   cfg.APIKey,
		from:     cfg.From,
		replyTo:  cfg.ReplyTo,
		client:   client,
	}, nil
}

// keepAliveTransport is http.DefaultTransport's setup with at most n
// connections, all kept idle between sends, to the one host a Mailgun
// mailer talks to.
func keepAliveTransport(n int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxConnsPerHost = n
	t.MaxIdleConns = n
	t.MaxIdleConnsPerHost = n
	t.IdleConnTimeout = 90 * time.Second
	return t
}

// Close closes the idle connections of the default HTTPClient, ending the
// goroutines that keep them. A caller-supplied HTTPClient is left alone.
// Send still works afterwards (it opens a new connection).
func (g *Mailgun) Close() error {
	if g.owned != nil {
		g.owned.CloseIdleConnections()
	}
	return nil
}

// Send posts m to Mailgun. HTTP 408, 429 and 5xx and network errors are
// temporary, other non-2xx responses permanent; the start of the response
// body is quoted in the error.
func (g *Mailgun) Send(ctx context.Context, m *Message) error {
	if m == nil {
		return Permanent(errors.New("mailer: nil message"))
	}
	to, err := parseHeaderAddress(m.To)
	if err != nil {
		return Permanent(fmt.Errorf("mailer: invalid recipient: %w", err))
	}
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	fields := [][2]string{
		{"from", g.from},
		{"to", to.Address},
		{"subject", cleanHeader(m.Subject)},
		{"text", m.Text},
	}
	if m.HTML != "" {
		fields = append(fields, [2]string{"html", m.HTML})
	}
	if g.replyTo != "" {
		fields = append(fields, [2]string{"h:Reply-To", g.replyTo})
	}
	fields = append(fields,
		[2]string{"h:" + headerAutoSubmitted, autoSubmittedValue},
		[2]string{"h:X-Auto-Response-Suppress", autoResponseSuppressedValue})
	for _, f := range fields {
		if err := w.WriteField(f[0], f[1]); err != nil {
			return Permanent(fmt.Errorf("mailer: Mailgun form: %w", err))
		}
	}
	if err := w.Close(); err != nil {
		return Permanent(fmt.Errorf("mailer: Mailgun form: %w", err))
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.endpoint, &body)
	if err != nil {
		return Permanent(fmt.Errorf("mailer: Mailgun request: %w", err))
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth("api", g.apiKey)

	resp, err := g.client.Do(req)
	if err != nil {
		return &SendError{Temporary: true, Err: fmt.Errorf("mailer: Mailgun: %w", err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Drain so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody+1))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	text := strings.TrimSpace(string(snippet))
	if len(snippet) > maxErrorBody {
		text = truncateUTF8(string(snippet), maxErrorBody) + "…"
	}
	text = strings.ReplaceAll(text, g.apiKey, "***")
	code := resp.StatusCode
	temporary := code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
	return &SendError{Temporary: temporary, Code: code, Err: fmt.Errorf("mailer: Mailgun: %s: %s", resp.Status, text)}
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
