package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
)

// mailQueueWait is how long a send waits for room when the mail queue is
// full before it is refused with 503 MAIL_UNAVAILABLE: long enough to ride
// out a burst, short enough for a person waiting on the sign-in form.
// Clients that retry a refusal at once then wait their turn instead of
// taking the CPU the mail workers need.
const mailQueueWait = time.Second

// newMailer picks how mail goes out, and returns the templates the Service
// must share with it (so the mail is rendered off the request path), which
// name the example in each mail's language. The
// memory mailer behind the dev mailbox without SMTP_URL, used directly: it
// cannot fail or block, and sending synchronously shows the mail as soon as
// the sign-in form returns. With SMTP_URL the SMTP mailer sits behind a
// queue, so a request never waits for the mail server (and its timing never
// tells whether an address has an account): with REDIS_URL too, the Redis
// outbox, which keeps every accepted mail across crashes and lets any
// instance deliver it; else a mailer.Dispatcher, in memory, which loses
// the mails it accepted and had not yet delivered when the process
// crashes. rdb is the Redis client of REDIS_URL, or nil.
func (s *Server) newMailer(cfg *Config, b backends, logger *slog.Logger) (mailer.Mailer, mailer.Renderer, error) {
	templates := namedMails{mailer.DefaultTemplates()}
	if cfg.SMTPURL == "" {
		s.inbox = mailer.NewMemory()
		return s.inbox, templates, nil
	}
	smtp, err := mailer.NewSMTPFromURL(cfg.SMTPURL, cfg.MailFrom)
	if err != nil {
		// The mailer's errors name the URL's parameters (tls=…,
		// insecure_auth=true); the prefix names the variable.
		return nil, nil, fmt.Errorf("SMTP_URL: %s", strings.TrimPrefix(err.Error(), "mailer: "))
	}
	if b.outbox == nil {
		d := mailer.NewDispatcher(smtp, mailer.DispatcherOptions{Wait: mailQueueWait, Logger: logger})
		// Close drains the queue first, then closes the SMTP connections.
		s.closers = append(s.closers, func(context.Context) error { return smtp.Close() }, d.Close)
		return d, templates, nil
	}
	if cfg.Secret == nil {
		_ = smtp.Close()
		return nil, nil, fmt.Errorf("MAGICLINK_SECRET is required with %s and SMTP_URL: the outbox seals queued mail with it, and every instance must open what another queued", b.outboxVar)
	}
	outbox, closeOutbox, err := b.outbox(smtp, mailer.OutboxOptions{Secret: cfg.Secret, Renderer: templates, Logger: logger})
	if err != nil {
		_ = smtp.Close()
		return nil, nil, fmt.Errorf("%s: the mail outbox: %s", b.outboxVar, err)
	}
	// Close delivers what is ready and hands the rest back to the outbox's
	// store, then closes the SMTP connections.
	s.closers = append(s.closers, func(context.Context) error { return smtp.Close() }, closeOutbox)
	return outbox, templates, nil
}
