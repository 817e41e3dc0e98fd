package mailer

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Memory captures mails in memory, for tests and development. It is safe for
// concurrent use. Handler and JSONHandler serve a development inbox.
type Memory struct {
	now func() time.Time

	mu      sync.Mutex
	mails   []capturedMail
	waited  map[string]int // per recipient: how many mails Wait returned
	arrived chan struct{}  // closed and replaced on every Send
}

type capturedMail struct {
	msg    *Message
	sentAt time.Time
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

// NewMemory returns an empty Memory.
func NewMemory(opts ...MemoryOption) *Memory {
	m := &Memory{now: time.Now, waited: map[string]int{}, arrived: make(chan struct{})}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Send stores a copy of msg and wakes every Wait.
func (m *Memory) Send(ctx context.Context, msg *Message) error {
	if msg == nil {
		return Permanent(errors.New("mailer: nil message"))
	}
	if err := ctx.Err(); err != nil {
		return Temporary(err)
	}
	c := *msg
	m.mu.Lock()
	m.mails = append(m.mails, capturedMail{msg: &c, sentAt: m.now()})
	close(m.arrived)
	m.arrived = make(chan struct{})
	m.mu.Unlock()
	return nil
}

// Messages returns copies of all captured mails, oldest first.
func (m *Memory) Messages() []*Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Message, len(m.mails))
	for i, c := range m.mails {
		cp := *c.msg
		out[i] = &cp
	}
	return out
}

// Last returns a copy of the newest mail to the address to (compared
// case-insensitively).
func (m *Memory) Last(to string) (*Message, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.mails) - 1; i >= 0; i-- {
		if strings.EqualFold(m.mails[i].msg.To, to) {
			cp := *m.mails[i].msg
			return &cp, true
		}
	}
	return nil, false
}

// Wait returns the next mail to the address to: the oldest one that no
// earlier Wait for that address returned, waiting for it to arrive if
// needed. So each Wait after an action that sends one mail returns exactly
// that mail, even when earlier mails went to the same address. It returns
// ctx.Err() when ctx ends first.
func (m *Memory) Wait(ctx context.Context, to string) (*Message, error) {
	key := strings.ToLower(to)
	for {
		m.mu.Lock()
		seen := 0
		for _, c := range m.mails {
			if !strings.EqualFold(c.msg.To, to) {
				continue
			}
			if seen == m.waited[key] {
				m.waited[key]++
				cp := *c.msg
				m.mu.Unlock()
				return &cp, nil
			}
			seen++
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
	m.mails = nil
	m.waited = map[string]int{}
}

// Len returns the number of captured mails.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.mails)
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

func (m *Memory) entries() []inboxEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]inboxEntry, len(m.mails))
	for i, c := range m.mails {
		out[i] = inboxEntry{
			To: c.msg.To, Subject: c.msg.Subject, Text: c.msg.Text, HTML: c.msg.HTML,
			Link: c.msg.Link, Code: c.msg.Code, SentAt: c.sentAt.UTC(),
		}
	}
	return out
}

// Handler returns the development inbox. GET (or HEAD) on its root path
// ("/" or "", so it works behind http.StripPrefix) lists the mails, newest
// first, each with its HTML part in a sandboxed iframe. The JSON view is
// served for "?format=json" and on the path "/.json": an array of
// {"to","subject","text","html","link","code","sent_at"} objects, oldest
// first (newest last), sent_at in RFC 3339. See also JSONHandler.
//
// For development only: it shows live sign-in links and codes to anyone who
// can reach it.
func (m *Memory) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowRead(w, r) {
			return
		}
		switch r.URL.Path {
		case "", "/":
			if r.URL.Query().Get("format") == "json" {
				m.serveJSON(w)
				return
			}
			m.serveHTML(w)
		case "/.json":
			m.serveJSON(w)
		default:
			http.NotFound(w, r)
		}
	})
}

// JSONHandler serves the JSON view of Handler at every path, so that it can
// be mounted on its own route such as "/dev/mailbox.json".
func (m *Memory) JSONHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowRead(w, r) {
			return
		}
		m.serveJSON(w)
	})
}

func allowRead(w http.ResponseWriter, r *http.Request) bool {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return false
	}
	return true
}

func (m *Memory) serveJSON(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_ = json.NewEncoder(w).Encode(m.entries())
}

func (m *Memory) serveHTML(w http.ResponseWriter) {
	entries := m.entries()
	// Newest first in the page.
	for i, j := 0, len(entries)-1; i < j; i, j = i+1, j-1 {
		entries[i], entries[j] = entries[j], entries[i]
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'")
	_ = inboxPage.Execute(w, entries)
}

// The mail HTML goes into srcdoc, which html/template escapes as an
// attribute value; the empty sandbox attribute disables scripts, forms and
// same-origin access inside the frame.
var inboxPage = template.Must(template.New("inbox").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dev mailbox ({{len .}})</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;background:#f4f4f5;color:#18181b}
article{background:#fff;border:1px solid #e4e4e7;border-radius:8px;padding:1rem;margin:0 0 1.5rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0 0 1rem}
dt{font-weight:600}dd{margin:0;word-break:break-all}
iframe{width:100%;height:480px;border:1px solid #e4e4e7;border-radius:4px;background:#fff}
code{font-size:1.1rem;letter-spacing:.2em}
</style>
</head>
<body>
<h1>Dev mailbox</h1>
<p>{{len .}} mail(s), newest first. JSON: <a href="?format=json">?format=json</a>. Development only.</p>
{{range .}}<article>
<dl>
<dt>To</dt><dd>{{.To}}</dd>
<dt>Subject</dt><dd>{{.Subject}}</dd>
<dt>Sent</dt><dd>{{.SentAt.Format "2006-01-02 15:04:05 MST"}}</dd>
<dt>Link</dt><dd><a href="{{.Link}}" rel="noreferrer">{{.Link}}</a></dd>
<dt>Code</dt><dd><code>{{.Code}}</code></dd>
</dl>
<iframe sandbox srcdoc="{{.HTML}}" title="{{.Subject}}"></iframe>
<details><summary>Text part</summary><pre>{{.Text}}</pre></details>
</article>
{{else}}<p>No mail yet.</p>
{{end}}</body>
</html>
`))
