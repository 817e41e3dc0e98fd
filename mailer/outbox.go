package mailer

import (
	"go.opentelemetry.io/otel/metric"

	"context"
	"log/slog"
	"time"
)

// Outbox is a durable asynchronous Mailer: what the Dispatcher is for one
// process, an Outbox is for a deployment. redisstore.NewOutbox (Redis
// Streams) and the PostgreSQL store implement it; the suite in
// mailer/outboxtest pins the contract below for every implementation.
//
//   - Accepted means durable. Send and SendLinkMail return nil only once
//     the mail is stored where every instance sharing the store can reach
//     it; a crash of the process afterwards loses nothing. A send that
//     returns an error was not accepted and left nothing behind.
//   - Delivery is at least once, through the wrapped Mailer, by workers of
//     any instance. Every attempt of one accepted mail carries the same
//     Message.ID — across retries, reclaims by another instance and
//     restarts — so a receiver can drop duplicates. A caller's ID is kept
//     when it is a valid ID (letters, digits, '.', '-', '_', at most 64
//     bytes); otherwise the outbox assigns a random one at acceptance.
//   - A temporary failure (IsTemporary) is retried after a full-jitter
//     backoff; a permanent failure, or a temporary one on the last allowed
//     attempt, moves the mail to the dead letters and logs one Error record
//     with the recipient masked (MaskAddress) and the link and code
//     redacted. Dead letters stay sealed.
//   - A mail an instance claimed but did not finish (the process died, or
//     it hung past the visibility timeout) is reclaimed by any instance once
//     the visibility timeout has passed.
//   - The stored payload is sealed (AES-256-GCM under an HKDF subkey of the
//     server secret): it holds a live link and code, and a dump of the store
//     must reveal neither, nor the recipient.
//   - An Outbox is a Reserver. Reserve makes no round trip, and a
//     reservation's commit is the mail's one write. Reserve refuses with
//     ErrClosed after Close and, after a write to the store failed, with a
//     temporary error wrapping that failure (matching store.ErrUnavailable
//     when the store was down) for a cool-down on the outbox's clock
//     (OutboxOptions.Now): 250 ms after the first failure, doubling after
//     each failed trial up to 4 s. Then one reservation at a time goes
//     through as a trial; any successful write ends the refusals. Each
//     instance judges from its own writes. A commit's write is bounded by
//     the store's timeout, not by the caller's ctx: the caller has already
//     acted on the reservation (stored the link the mail carries).
//   - Close(ctx) stops accepting (Send and Reserve return ErrClosed) and
//     waits, within ctx, for the reservations outstanding to be committed
//     or cancelled (a commit after ctx ended returns ErrClosed); then it
//     delivers what is ready — queued mails and retries that are due —
//     until nothing is left or ctx ends. When ctx ends first, deliveries in
//     flight are interrupted and handed back to the store at once, so
//     another instance takes them over without waiting for the visibility
//     timeout; Close then returns ctx.Err(). Mails waiting out a backoff
//     stay stored. Either way no goroutine of the outbox remains.
//   - Stats and Ping are cheap probes for metrics and readiness.
//
// An Outbox is a LinkSender: a sign-in mail accepted by SendLinkMail with
// the outbox's own Renderer (OutboxOptions.Renderer) is stored as its
// LinkData and rendered by the worker, off the request path; with any other
// Renderer it is rendered before it is stored. A link mail whose link has
// expired by the time a worker gets to it is dead-lettered, not sent.
type Outbox interface {
	Mailer
	LinkSender
	Reserver
	// Stats reports the queue's depth and age.
	Stats(ctx context.Context) (OutboxStats, error)
	// Ping reports whether the outbox's store is reachable, for readiness
	// probes: a nil error means Send can accept mail now.
	Ping(ctx context.Context) error
	// Close stops the workers as described above.
	Close(ctx context.Context) error
}

// OutboxStats describes an outbox's store at one moment, across all the
// instances sharing it.
type OutboxStats struct {
	// Queued counts accepted mails not yet delivered nor dead-lettered,
	// including those in flight and those waiting out a backoff.
	Queued int64
	// InFlight counts mails claimed by a worker and not yet finished.
	InFlight int64
	// Retrying counts mails waiting out a backoff before their next attempt.
	Retrying int64
	// Dead counts dead letters kept.
	Dead int64
	// OldestAge is how long the oldest queued mail has waited since it was
	// accepted (by the outbox's clock); 0 when nothing is queued.
	OldestAge time.Duration
}

// OutboxOptions configures an outbox; every implementation takes the same
// options. Zero values mean the defaults, except Secret, which is required.
type OutboxOptions struct {
	// Secret is the key material the payload sealing key is derived from
	// with HKDF-SHA-256 (at least 32 bytes). Pass the server secret
	// (magiclink Config.Secret): the derivation uses its own label, so the
	// subkey is independent of every other key derived from it. Every
	// instance sharing the store needs the same Secret.
	Secret []byte
	// Workers is the number of concurrent deliveries per instance (default 4).
	Workers int
	// MaxAttempts bounds the delivery attempts per mail, the first included
	// (default 10).
	MaxAttempts int
	// BaseDelay and MaxDelay shape the backoff: after the n-th failed
	// attempt the mail waits a uniformly random time in
	// [0, min(MaxDelay, BaseDelay·2^(n-1))]. Defaults 1s and 5m.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// Backoff, when set, replaces that schedule: it returns the wait after
	// the given failed attempt (1-based). Tests use it to retry at once.
	Backoff func(attempt int) time.Duration
	// VisibilityTimeout is how long a claimed mail may stay unfinished
	// before another instance may take it over (default 5m). Keep it well
	// above the wrapped Mailer's own send timeout, or slow sends get
	// delivered twice.
	VisibilityTimeout time.Duration
	// PollInterval bounds how long an idle instance waits before it looks
	// for due retries again (default 1s). New mail is picked up at once
	// regardless, and Close never waits for it.
	PollInterval time.Duration
	// Renderer renders link mails in the worker (default DefaultTemplates()).
	// Give the Service the same value (Config.Templates) to render off the
	// request path.
	Renderer Renderer
	// Logger receives dead letters (Error) and store outages (Warn)
	// (default slog.Default()). Links, codes and bodies are never logged.
	Logger *slog.Logger
	// Now is the clock of acceptance times, backoff deadlines and the
	// cool-down of Reserve after a failed write (default time.Now). Tests
	// drive retries and cool-downs with it.
	Now func() time.Time
	// MeterProvider receives delivery attempts by result, their duration,
	// and the outbox's depth and oldest-entry age; nil means OpenTelemetry's
	// global provider (a no-op until the host installs an SDK).
	MeterProvider metric.MeterProvider
}
