package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink/mailer"
)

// mailQueueWait is how long a send waits for room when the mail queue is
// full before it is refused with 503 MAIL_UNAVAILABLE: long enough to ride
// out a burst, short enough for a person waiting on the sign-in form.
// Clients that retry a refusal at once then wait their turn instead of
// taking the CPU the mail workers need.
const mailQueueWait = time.Second

// newMailer picks how mail goes out. Without SMTP_URL it is the memory
// mailer behind the dev mailbox, used directly: it cannot fail or block,
// and sending synchronously shows the mail as soon as the sign-in form
// returns. With SMTP_URL the SMTP mailer sits behind a queue, so a request
// never waits for the mail server (and its timing never tells whether an
// address has an account): a mailer.Dispatcher, in memory, which loses the
// mails it has accepted but not yet delivered when the process crashes.
// rdb is the Redis client of REDIS_URL, or nil.
func (s *Server) newMailer(cfg *Config, rdb *redis.Client, logger *slog.Logger) (mailer.Mailer, error) {
	if cfg.SMTPURL == "" {
		s.inbox = mailer.NewMemory()
		return s.inbox, nil
	}
	smtp, err := mailer.NewSMTPFromURL(cfg.SMTPURL, cfg.MailFrom)
	if err != nil {
		// The mailer's errors name the URL's parameters (tls=…,
		// insecure_auth=true); the prefix names the variable.
		return nil, fmt.Errorf("SMTP_URL: %s", strings.TrimPrefix(err.Error(), "mailer: "))
	}
	// With REDIS_URL too, the durable Redis outbox (redisstore.NewOutbox)
	// belongs here once it is in the library; until then both setups use
	// the in-memory Dispatcher.
	_ = rdb
	d := mailer.NewDispatcher(smtp, mailer.DispatcherOptions{Wait: mailQueueWait, Logger: logger})
	// Close drains the queue first, then closes the SMTP connections.
	s.closers = append(s.closers, func(context.Context) error { return smtp.Close() }, d.Close)
	return d, nil
}
