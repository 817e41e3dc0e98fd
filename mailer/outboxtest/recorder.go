package outboxtest

import (
	"context"
	"sync"

	"github.com/magiclink-go/magiclink/mailer"
)

// recorder is the Mailer the suite puts behind an outbox: it records every
// attempt and answers with what its Fail function says.
type recorder struct {
	// Fail decides the outcome of an attempt, given the recipient's attempt
	// count (1-based); nil or a nil result means delivered.
	Fail func(m *mailer.Message, attempt int) error
	// Block, when set, makes every attempt wait until Block is closed or
	// the attempt's context ends (then the attempt fails with ctx.Err()).
	Block chan struct{}

	mu        sync.Mutex
	attempts  []mailer.Message
	perTo     map[string]int
	delivered map[string][]string // recipient → IDs of successful attempts
	changed   chan struct{}
}

// newRecorder returns an empty recorder.
func newRecorder() *recorder {
	return &recorder{perTo: map[string]int{}, delivered: map[string][]string{}, changed: make(chan struct{})}
}

// Send records m and answers as configured.
func (r *recorder) Send(ctx context.Context, m *mailer.Message) error {
	r.mu.Lock()
	r.attempts = append(r.attempts, *m)
	r.perTo[m.To]++
	n := r.perTo[m.To]
	r.notify()
	r.mu.Unlock()
	if r.Block != nil {
		select {
		case <-r.Block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var err error
	if r.Fail != nil {
		err = r.Fail(m, n)
	}
	if err == nil {
		r.mu.Lock()
		r.delivered[m.To] = append(r.delivered[m.To], m.ID)
		r.notify()
		r.mu.Unlock()
	}
	return err
}

// notify wakes waiters; r.mu is held.
func (r *recorder) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Attempts returns a copy of every attempt so far, in order.
func (r *recorder) Attempts() []mailer.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]mailer.Message(nil), r.attempts...)
}

// Delivered returns, per recipient, the IDs of its successful attempts.
func (r *recorder) Delivered() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]string, len(r.delivered))
	for k, v := range r.delivered {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// Changed returns a channel closed at the next attempt or delivery.
func (r *recorder) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}
