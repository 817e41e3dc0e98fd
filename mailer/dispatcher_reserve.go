package mailer

import (
	"context"
	"errors"
)

// Reserve holds one slot of the queue for a mail committed later (see
// Reserver). It fails with ErrQueueFull when every slot is still queued or
// held after Wait, and with ErrClosed after Close.
func (d *Dispatcher) Reserve(ctx context.Context) (Reservation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := d.acquire(ctx); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		d.release()
		return nil, ErrClosed
	}
	d.reserved++
	return &dispatcherReservation{d: d}, nil
}

// dispatcherReservation is one slot of a Dispatcher's queue, held.
type dispatcherReservation struct {
	d     *Dispatcher
	ended bool // guarded by d.mu
}

// Commit queues a copy of m in the held slot. The slot is already held, so
// it does not fail on a ctx that has ended meanwhile: the caller has done
// its part, and delivery never used ctx anyway.
func (r *dispatcherReservation) Commit(_ context.Context, m *Message) error {
	if m == nil {
		r.Cancel()
		return Permanent(errors.New("mailer: nil message"))
	}
	c := *m
	return r.commit(job{msg: &c})
}

// CommitLink queues data to be rendered with rend by a worker, in the held
// slot; see Commit.
func (r *dispatcherReservation) CommitLink(_ context.Context, rend Renderer, data LinkData) error {
	if rend == nil {
		r.Cancel()
		return Permanent(errors.New("mailer: nil renderer"))
	}
	return r.commit(job{render: rend, data: data})
}

func (r *dispatcherReservation) commit(j job) error {
	d := r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if r.ended {
		return Permanent(errors.New("mailer: reservation already ended"))
	}
	r.end()
	if d.queueClosed {
		d.release()
		return ErrClosed // Close gave up waiting for this reservation
	}
	d.push(j)
	d.closeIfDone()
	return nil
}

// Cancel gives the slot back; after a commit it does nothing.
func (r *dispatcherReservation) Cancel() {
	d := r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if r.ended {
		return
	}
	r.end()
	d.release()
	d.closeIfDone()
}

// end marks the reservation ended; the slot goes with the mail into the
// queue, or back with release. The caller holds d.mu.
func (r *dispatcherReservation) end() {
	r.ended = true
	r.d.reserved--
}

// closeIfDone closes the queue when Close is waiting for nothing but the
// reservations and the last one just ended. The caller holds d.mu.
func (d *Dispatcher) closeIfDone() {
	if d.closed && d.reserved == 0 {
		d.closeQueue()
	}
}
