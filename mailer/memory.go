package mailer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultMemoryCapacity is how many mails a Memory keeps without
// WithCapacity: enough for any test or development session, and a bound
// (a few MB) on a server left running.
const DefaultMemoryCapacity = 1000

// Memory captures mails in memory, for tests and development. It keeps the
// newest mails in a bounded ring (DefaultMemoryCapacity, or WithCapacity):
// once full, each new mail evicts the oldest. It is safe for concurrent use.
// Handler and JSONHandler serve a development inbox.
type Memory struct {
	now func() time.Time

	capacity int

	mu      sync.Mutex
	ring    []capturedMail    // grows to capacity, then wraps
	start   int               // index of the oldest mail in ring
	n       int               // number of mails in ring
	seq     uint64            // sequence number of the newest mail ever sent
	waited  map[string]uint64 // per recipient: seq of the last mail Wait returned
	arrived chan struct{}     // closed and replaced on every Send
}

type capturedMail struct {
	msg    *Message
	sentAt time.Time
	seq    uint64
}

// MemoryOption configures a Memory.
type MemoryOption func(*Memory)

// WithClock sets the clock that stamps sent_at (default time.Now).
func WithClock(now func() time.Time) MemoryOption {
	return func(m *Memory) {
		if now != nil {
			m.now = now
		}
	}
}

// WithCapacity sets how many mails a Memory keeps before the oldest is
// evicted; n < 1 keeps DefaultMemoryCapacity.
func WithCapacity(n int) MemoryOption {
	return func(m *Memory) {
		if n >= 1 {
			m.capacity = n
		}
	}
}

// NewMemory returns an empty Memory.
func NewMemory(opts ...MemoryOption) *Memory {
	m := &Memory{now: time.Now, capacity: DefaultMemoryCapacity, waited: map[string]uint64{}, arrived: make(chan struct{})}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Send stores a copy of msg, evicting the oldest mail when the ring is
// full, and wakes every Wait.
func (m *Memory) Send(ctx context.Context, msg *Message) error {
	if msg == nil {
		return Permanent(errors.New("mailer: nil message"))
	}
	if err := ctx.Err(); err != nil {
		return Temporary(err)
	}
	c := *msg
	m.mu.Lock()
	m.seq++
	mail := capturedMail{msg: &c, sentAt: m.now(), seq: m.seq}
	if m.n < m.capacity {
		// Not full yet: start is 0 and the ring only grows.
		m.ring = append(m.ring, mail)
		m.n++
	} else {
		m.ring[m.start] = mail
		m.start = (m.start + 1) % len(m.ring)
	}
	close(m.arrived)
	m.arrived = make(chan struct{})
	m.mu.Unlock()
	return nil
}

// at returns the i-th kept mail, oldest first; m.mu must be held.
func (m *Memory) at(i int) *capturedMail {
	return &m.ring[(m.start+i)%len(m.ring)]
}

// Messages returns copies of all kept mails, oldest first.
func (m *Memory) Messages() []*Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Message, m.n)
	for i := range m.n {
		cp := *m.at(i).msg
		out[i] = &cp
	}
	return out
}

// Last returns a copy of the newest mail to the address to (compared
// case-insensitively).
func (m *Memory) Last(to string) (*Message, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := m.n - 1; i >= 0; i-- {
		if c := m.at(i); strings.EqualFold(c.msg.To, to) {
			cp := *c.msg
			return &cp, true
		}
	}
	return nil, false
}

// Wait returns the next mail to the address to: the oldest one that no
// earlier Wait for that address returned, waiting for it to arrive if
// needed. So each Wait after an action that sends one mail returns exactly
// that mail, even when earlier mails went to the same address. A mail
// evicted from the ring before any Wait asked for it is skipped. It returns
// ctx.Err() when ctx ends first.
func (m *Memory) Wait(ctx context.Context, to string) (*Message, error) {
	key := strings.ToLower(to)
	for {
		m.mu.Lock()
		for i := range m.n {
			c := m.at(i)
			if c.seq <= m.waited[key] || !strings.EqualFold(c.msg.To, to) {
				continue
			}
			m.waited[key] = c.seq
			cp := *c.msg
			m.mu.Unlock()
			return &cp, nil
		}
		arrived := m.arrived
		m.mu.Unlock()
		select {
		case <-arrived:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Reset forgets every captured mail and what Wait returned.
func (m *Memory) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ring = nil
	m.start, m.n = 0, 0
	m.waited = map[string]uint64{}
}

// Len returns the number of kept mails (at most the capacity).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

// inboxEntry is one mail in the JSON view.
type inboxEntry struct {
	To      string    `json:"to"`
	Subject string    `json:"subject"`
	Text    string    `json:"text"`
	HTML    string    `json:"html"`
	Link    string    `json:"link"`
	Code    string    `json:"code"`
	SentAt  time.Time `json:"sent_at"`
}

// Bounds of the inbox views' limit parameter.
const (
	// DefaultInboxLimit is how many of the newest mails the inbox views
	// show without a limit parameter.
	DefaultInboxLimit = 100
	// MaxInboxLimit is the largest limit the inbox views accept.
	MaxInboxLimit = 1000
)

// entries returns the newest limit mails, oldest first, and how many mails
// are kept in all.
func (m *Memory) entries(limit int) ([]inboxEntry, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	first := max(0, m.n-limit)
	out := make([]inboxEntry, 0, m.n-first)
	for i := first; i < m.n; i++ {
		c := m.at(i)
		out = append(out, inboxEntry{
			To: c.msg.To, Subject: c.msg.Subject, Text: c.msg.Text, HTML: c.msg.HTML,
			Link: c.msg.Link, Code: c.msg.Code, SentAt: c.sentAt.UTC(),
		})
	}
	return out, m.n
}

// Handler returns the development inbox. GET (or HEAD) on its root path
// ("/" or "", so it works behind http.StripPrefix) lists the mails, newest
// first, each with its HTML part in a sandboxed iframe: the mail runs no
// script and submits no form, but its links open in a new tab, outside the
// sandbox, so the sign-in button works. opts add a link back to the
// application, the state of each mail's link and the page's language
// (InboxLocalized; English without it). The JSON view is
// served for "?format=json" and on the path "/.json": an array of
// {"to","subject","text","html","link","code","sent_at"} objects, oldest
// first (newest last), sent_at in RFC 3339. See also JSONHandler.
//
// Both views show the newest DefaultInboxLimit mails, or as many as the
// "limit" query parameter asks (1 to MaxInboxLimit; anything else is 400).
// Their responses may not be framed by another page (X-Frame-Options DENY,
// CSP frame-ancestors 'none').
//
// For development only: it shows live sign-in links and codes to anyone who
// can reach it.
func (m *Memory) Handler(opts ...InboxOption) http.Handler {
	var cfg inboxConfig
	for _, o := range opts {
		o(&cfg)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, ok := readInbox(w, r)
		if !ok {
			return
		}
		switch r.URL.Path {
		case "", "/":
			if r.URL.Query().Get("format") == "json" {
				m.serveJSON(w, limit)
				return
			}
			m.serveHTML(w, r, limit, &cfg)
		case "/.json":
			m.serveJSON(w, limit)
		default:
			http.NotFound(w, r)
		}
	})
}

// JSONHandler serves the JSON view of Handler at every path, so that it can
// be mounted on its own route such as "/dev/mailbox.json".
func (m *Memory) JSONHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if limit, ok := readInbox(w, r); ok {
			m.serveJSON(w, limit)
		}
	})
}

// readInbox sets the headers every inbox response carries, then checks the
// method and the limit parameter, answering the request itself when either
// is wrong. No inbox response may be framed: each mail is shown in a
// sandboxed srcdoc iframe, which the parent's frame-ancestors does not
// govern. An endpoint serving a mail body for the inbox to frame would need
// frame-ancestors 'self' instead, and no X-Frame-Options DENY.
func readInbox(w http.ResponseWriter, r *http.Request) (limit int, ok bool) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return 0, false
	}
	limit, err := parseInboxLimit(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return 0, false
	}
	return limit, true
}

// parseInboxLimit reads the limit parameter: absent means
// DefaultInboxLimit; present, it must be one decimal number from 1 to
// MaxInboxLimit.
func parseInboxLimit(q url.Values) (int, error) {
	vs, ok := q["limit"]
	if !ok {
		return DefaultInboxLimit, nil
	}
	if len(vs) == 1 && len(vs[0]) <= 4 && strings.Trim(vs[0], "0123456789") == "" {
		if n, err := strconv.Atoi(vs[0]); err == nil && n >= 1 && n <= MaxInboxLimit {
			return n, nil
		}
	}
	return 0, fmt.Errorf("limit must be one whole number from 1 to %d (got %.16q)", MaxInboxLimit, strings.Join(vs, ","))
}

func (m *Memory) serveJSON(w http.ResponseWriter, limit int) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	entries, _ := m.entries(limit)
	_ = json.NewEncoder(w).Encode(entries)
}

// inboxView is what the inbox page shows.
type inboxView struct {
	Entries []inboxItem // newest first
	Total   int
	Summary string
	T       InboxTexts
}

// inboxItem is one mail in the inbox page.
type inboxItem struct {
	inboxEntry
	// Frame is the mail's HTML as the iframe gets it: with a base target
	// that opens every link in a new tab, which the sandbox allows.
	Frame string
	// State is the link's state as a CSS class, StateLabel its badge.
	State      string
	StateLabel string
}

func (m *Memory) serveHTML(w http.ResponseWriter, r *http.Request, limit int, cfg *inboxConfig) {
	words := cfg.inboxWords(r)
	entries, total := m.entries(limit)
	// Newest first in the page.
	slices.Reverse(entries)
	items := make([]inboxItem, len(entries))
	for i, e := range entries {
		items[i] = inboxItem{inboxEntry: e, Frame: withBaseTarget(e.HTML)}
		if cfg.linkState != nil && e.Link != "" {
			state := cfg.linkState(r.Context(), e.Link, e.SentAt)
			items[i].State, items[i].StateLabel = state.class(), words.stateLabel(state)
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", words.Lang)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	_ = inboxPage.Execute(w, inboxView{Entries: items, Total: total, Summary: words.summary(len(items), total), T: words})
}

// withBaseTarget makes every link of a mail open in a new tab: a <base
// target> right after <head>, or in front of a fragment without one. Put in
// front of a doctype, it would switch the mail to quirks mode.
func withBaseTarget(mail string) string {
	const base = `<base target="_blank">`
	if i := strings.Index(strings.ToLower(mail), "<head>"); i >= 0 {
		i += len("<head>")
		return mail[:i] + base + mail[i:]
	}
	return base + mail
}

// The mail HTML goes into srcdoc, which html/template escapes as an
// attribute value. The sandbox keeps scripts, forms and same-origin access
// out of the frame; allow-popups lets a click on a link open it in a new
// tab, and allow-popups-to-escape-sandbox lets that tab be an ordinary page
// (the confirm page's button is a form, which a sandboxed tab could not
// submit).
var inboxPage = template.Must(template.New("inbox").Parse(`<!doctype html>
<html lang="{{.T.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.T.Title}} ({{.Total}})</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;background:#f4f4f5;color:#18181b}
article{background:#fff;border:1px solid #e4e4e7;border-radius:8px;padding:1rem;margin:0 0 1.5rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0 0 1rem}
dt{font-weight:600}dd{margin:0;word-break:break-all}
iframe{width:100%;height:480px;border:1px solid #e4e4e7;border-radius:4px;background:#fff}
code{font-size:1.1rem;letter-spacing:.2em}
.state{display:inline-block;margin-left:.5rem;padding:0 .5rem;border-radius:999px;font-size:.85rem;font-weight:600}
.state-live{background:#dcfce7;color:#14532d}.state-used,.state-expired{background:#e4e4e7;color:#27272a}
.state-used+a,.state-expired+a{text-decoration:line-through}
nav{margin:0 0 1rem}
</style>
</head>
<body>
{{if .T.BackHref}}<nav><a href="{{.T.BackHref}}">← {{.T.Back}}</a></nav>
{{end}}<h1>{{.T.Title}}</h1>
<p>{{.Summary}} <a href="?format=json">{{.T.JSON}}</a> · {{.T.DevOnly}}</p>
{{range .Entries}}<article>
<dl>
<dt>{{$.T.To}}</dt><dd>{{.To}}</dd>
<dt>{{$.T.Subject}}</dt><dd>{{.Subject}}</dd>
<dt>{{$.T.Sent}}</dt><dd>{{.SentAt.Format "2006-01-02 15:04:05 MST"}}</dd>
<dt>{{$.T.Link}}</dt><dd>{{if .State}}<span class="state state-{{.State}}">{{.StateLabel}}</span> {{end}}<a href="{{.Link}}" rel="noreferrer" target="_blank">{{.Link}}</a></dd>
<dt>{{$.T.Code}}</dt><dd><code>{{.Code}}</code></dd>
</dl>
<iframe sandbox="allow-popups allow-popups-to-escape-sandbox" srcdoc="{{.Frame}}" title="{{.Subject}}"></iframe>
<details><summary>{{$.T.TextPart}}</summary><pre>{{.Text}}</pre></details>
</article>
{{else}}<p>{{.T.Empty}}</p>
{{end}}</body>
</html>
`))
