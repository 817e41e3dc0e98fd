package outbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/magiclink-go/magiclink/mailer"
)

// Reserve holds room for one mail, committed later with one write (see
// mailer.Reserver). It makes no round trip: it refuses with ErrClosed
// after Close, and while the breaker is open — the store's last write
// failed and the cool-down is not over, or a trial write is under way —
// with a temporary error wrapping that write's error (so it matches
// store.ErrUnavailable when the store was down) whose RetryAfter method
// tells the time until the next trial. The store's room is not counted: a
// store that is full refuses the write, which opens the breaker.
func (o *Outbox) Reserve(ctx context.Context) (mailer.Reservation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, mailer.ErrClosed
	}
	trial, err := o.brk.admit(o.name, o.o.Now())
	if err != nil {
		return nil, &mailer.SendError{Temporary: true, Err: err}
	}
	o.reserved++
	return &reservation{o: o, trial: trial}, nil
}

// reservation is room for one mail in an Outbox. Its caller's goroutine
// alone uses it, so ended needs no lock.
type reservation struct {
	o     *Outbox
	trial bool // the breaker's trial: its write's outcome decides
	ended bool
}

// Commit stores a sealed copy of m with the one write of the mail. The
// write does not end with ctx: the caller has done its part (stored the
// link the mail carries), so the store's own timeout bounds it instead.
func (r *reservation) Commit(ctx context.Context, m *mailer.Message) error {
	if r.ended {
		return r.again()
	}
	id, plain, err := r.o.messagePayload(m)
	if err != nil {
		r.Cancel()
		return err
	}
	return r.commit(ctx, id, plain)
}

// CommitLink stores d (or the message r renders, when r is not the
// outbox's own Renderer) with the one write of the mail; see Commit.
func (r *reservation) CommitLink(ctx context.Context, rend mailer.Renderer, d mailer.LinkData) error {
	if r.ended {
		return r.again()
	}
	id, plain, err := r.o.linkPayload(rend, d)
	if err != nil {
		r.Cancel()
		return err
	}
	return r.commit(ctx, id, plain)
}

func (r *reservation) commit(ctx context.Context, id string, plain []byte) error {
	r.ended = true
	r.o.mu.Lock()
	gaveUp := r.o.gaveUp
	r.o.mu.Unlock()
	if gaveUp {
		r.finish(true)
		return mailer.ErrClosed // Close stopped waiting for this reservation
	}
	err := r.o.write(context.WithoutCancel(ctx), id, plain, r.trial)
	r.finish(false)
	return err
}

// again is the error of a second commit.
func (r *reservation) again() error {
	return mailer.Permanent(fmt.Errorf("%s: %w", r.o.name, errEnded))
}

// Cancel gives the room back; after a commit it does nothing.
func (r *reservation) Cancel() {
	if r.ended {
		return
	}
	r.ended = true
	r.finish(true)
}

// finish ends the reservation, letting a waiting Close go on after the
// last one; abandon tells the breaker that no write was made.
func (r *reservation) finish(abandon bool) {
	o := r.o
	o.mu.Lock()
	defer o.mu.Unlock()
	if abandon {
		o.brk.abandoned(r.trial)
	}
	o.reserved--
	o.settle()
}

// errEnded reports a commit of a reservation that already ended.
var errEnded = errors.New("reservation already ended")
