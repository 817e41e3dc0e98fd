package mailer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Log writes every mail — recipient, subject and text part, sign-in link
// included — to a writer instead of sending it.
//
// For development only: the output carries live sign-in links and codes,
// so never point a Log at production logs.
type Log struct {
	mu sync.Mutex
	w  io.Writer
}

// NewLog returns a Log writing to w (such as os.Stderr). Development only.
func NewLog(w io.Writer) *Log { return &Log{w: w} }

// Send writes m to the writer. Writes are serialized, so mails never
// interleave.
func (l *Log) Send(ctx context.Context, m *Message) error {
	if m == nil {
		return Permanent(errors.New("mailer: nil message"))
	}
	if err := ctx.Err(); err != nil {
		return Temporary(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := fmt.Fprintf(l.w, "----- mail to %s (%s) -----\nSubject: %s\n\n%s\n----- end of mail -----\n",
		m.To, m.Locale, cleanHeader(m.Subject), m.Text)
	if err != nil {
		return Temporary(fmt.Errorf("mailer: log: %w", err))
	}
	return nil
}

// Discard accepts every mail and drops it, for benchmarks. Its zero value is
// ready to use.
type Discard struct{}

// Send implements Mailer and does nothing.
func (Discard) Send(context.Context, *Message) error { return nil }

// SendLinkMail implements LinkSender: a discarded mail need not be rendered.
func (Discard) SendLinkMail(context.Context, Renderer, LinkData) error { return nil }
