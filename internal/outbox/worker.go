package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/magiclink-go/magiclink/internal/mask"
	"github.com/magiclink-go/magiclink/mailer"
)

// maxClaimWait bounds how long one Claim waits for new mail. A store
// client may not abandon a blocking read when its context is cancelled
// (go-redis does not), so this bounds how long Close waits for the fetcher.
const maxClaimWait = 100 * time.Millisecond

// fetch claims entries for idle workers until Close: then it keeps
// claiming, without waiting, until it finds nothing ready while every
// worker is idle (so retries scheduled during the drain are seen), or until
// Close gives up.
func (o *Outbox) fetch() {
	defer o.wg.Done()
	defer close(o.jobs)
	down, settle := false, false
	for {
		draining := o.isClosing()
		n := o.reserve(draining && settle)
		if n == 0 {
			return // Close gave up
		}
		wait := min(o.o.PollInterval, maxClaimWait)
		if draining {
			wait = 0
		}
		entries, err := o.q.Claim(o.ctx, n, o.o.Now, wait)
		o.unreserve(n - len(entries))
		if err != nil {
			if o.ctx.Err() != nil || draining {
				return // what is stored stays for the next instance
			}
			if !down {
				o.o.Logger.LogAttrs(context.Background(), slog.LevelWarn, o.name+": store unavailable, retrying",
					slog.String("error", err.Error()))
				down = true
			}
			if !o.pause() {
				return
			}
			continue
		}
		if down {
			o.o.Logger.LogAttrs(context.Background(), slog.LevelInfo, o.name+": store reachable again")
			down = false
		}
		for _, e := range entries {
			o.jobs <- e // never blocks: one slot per reserved worker
		}
		if draining && len(entries) == 0 {
			if settle {
				return
			}
			settle = true
			continue
		}
		settle = false
	}
}

func (o *Outbox) isClosing() bool {
	select {
	case <-o.closing:
		return true
	default:
		return false
	}
}

// reserve takes the tokens of idle workers: at least one (all of them when
// all is set), waiting for them, then whatever else is free. It returns 0
// when Close gave up.
func (o *Outbox) reserve(all bool) int {
	want := 1
	if all {
		want = o.o.Workers
	}
	n := 0
	for n < want {
		select {
		case <-o.idle:
			n++
		case <-o.ctx.Done():
			o.unreserve(n)
			return 0
		}
	}
	for n < o.o.Workers {
		select {
		case <-o.idle:
			n++
		default:
			return n
		}
	}
	return n
}

func (o *Outbox) unreserve(n int) {
	for range n {
		o.idle <- struct{}{}
	}
}

// pause waits one poll interval after a store failure; false when Close
// gave up meanwhile.
func (o *Outbox) pause() bool {
	t := time.NewTimer(o.o.PollInterval)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-o.closing:
		return true
	case <-o.ctx.Done():
		return false
	}
}

func (o *Outbox) work() {
	defer o.wg.Done()
	for e := range o.jobs {
		o.deliver(e)
		o.idle <- struct{}{}
	}
}

// deliver makes one attempt at e and finishes it: ack, retry, dead letter,
// or — when Close gave up — hand-back.
func (o *Outbox) deliver(e Entry) {
	if o.ctx.Err() != nil {
		o.handBack(e)
		return
	}
	if e.Attempts >= o.o.MaxAttempts {
		// Every attempt so far ended with its instance (a reclaimed entry
		// counts the attempt it was lost in): a mail that kills or hangs
		// its deliverers must not do so forever.
		msg, _ := o.open(e)
		o.bury(e, msg, mailer.Permanent(errBudget))
		return
	}
	msg, err := o.open(e)
	if err == nil {
		start := time.Now()
		err = o.m.Send(o.ctx, msg)
		o.tel.Delivered(o.ctx, err, mailer.IsTemporary(err), time.Since(start))
	}
	switch {
	case err == nil:
		o.finish("ack", e, func(ctx context.Context) error { return o.q.Ack(ctx, e) })
	case o.ctx.Err() != nil:
		o.handBack(e)
	default:
		o.failed(e, msg, err)
	}
}

// open unseals, decodes and, for link mails, renders e. The returned
// message carries the recipient, link and code whenever decoding
// succeeded, so a failure can be logged with them redacted.
func (o *Outbox) open(e Entry) (*mailer.Message, error) {
	plain, err := o.seal.Open(e.ID, e.Sealed)
	if err != nil {
		// Temporary: an instance configured with the right secret may still
		// open it; the retry budget bounds the attempts either way.
		return nil, mailer.Temporary(fmt.Errorf("%s: %w", o.name, err))
	}
	p, err := decodePayload(plain)
	if err != nil {
		return nil, mailer.Permanent(fmt.Errorf("%s: %w", o.name, err))
	}
	if p.msg != nil {
		p.msg.ID = e.ID
		return p.msg, nil
	}
	d := p.link
	stub := &mailer.Message{To: d.To, Link: d.Link, Code: d.Code, ID: e.ID}
	if !d.ExpiresAt.IsZero() && !o.o.Now().Before(d.ExpiresAt) {
		return stub, mailer.Permanent(errExpired)
	}
	msg, err := o.o.Renderer.Render(*d)
	if err != nil {
		return stub, mailer.Permanent(fmt.Errorf("%s: rendering: %w", o.name, err))
	}
	msg.ID = e.ID
	return msg, nil
}

// failed schedules a retry of a temporary failure within the budget and
// buries everything else.
func (o *Outbox) failed(e Entry, msg *mailer.Message, err error) {
	e.Attempts++
	if mailer.IsTemporary(err) && e.Attempts < o.o.MaxAttempts {
		due := o.o.Now().Add(o.o.Backoff(e.Attempts))
		o.finish("retry", e, func(ctx context.Context) error { return o.q.Retry(ctx, e, due) })
		return
	}
	o.bury(e, msg, err)
}

// bury moves e to the dead letters and logs it, masked and redacted.
func (o *Outbox) bury(e Entry, msg *mailer.Message, err error) {
	var to, link, code string
	if msg != nil {
		to, link, code = msg.To, msg.Link, msg.Code
	}
	reason := mask.Redact(err.Error(), to, link, code)
	o.o.Logger.LogAttrs(context.Background(), slog.LevelError, o.name+": delivery failed, mail dead-lettered",
		slog.String("to", maskOrUnknown(to)),
		slog.String("id", e.ID),
		slog.Int("attempts", e.Attempts),
		slog.Bool("temporary", mailer.IsTemporary(err)),
		slog.String("error", reason),
	)
	o.finish("dead letter", e, func(ctx context.Context) error { return o.q.Dead(ctx, e, reason) })
}

// handBack returns an interrupted entry to the store, due at once and with
// its attempt count unchanged, so another instance takes it over without
// waiting for the visibility timeout.
func (o *Outbox) handBack(e Entry) {
	now := o.o.Now()
	o.finish("hand-back", e, func(ctx context.Context) error { return o.q.Retry(ctx, e, now) })
}

// finish runs one store call that ends a delivery. When it fails the entry
// stays claimed and is reclaimed after the visibility timeout: delivered at
// least once, never lost.
func (o *Outbox) finish(op string, e Entry, f func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
	defer cancel()
	if err := f(ctx); err != nil {
		o.o.Logger.LogAttrs(ctx, slog.LevelWarn, o.name+": "+op+" failed; the mail is reclaimed after the visibility timeout",
			slog.String("id", e.ID), slog.String("error", err.Error()))
	}
}

func maskOrUnknown(to string) string {
	if to == "" {
		return "(sealed)"
	}
	return mailer.MaskAddress(to)
}
