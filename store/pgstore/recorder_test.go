package pgstore

import (
	"context"
	"sync"

	"github.com/magiclink-go/magiclink/mailer"
)

// recorder is a Mailer that records deliveries by recipient, optionally
// holding every attempt until block is closed or its context ends.
type recorder struct {
	block chan struct{}

	mu        sync.Mutex
	delivered map[string][]string // recipient → IDs of delivered attempts
	changed   chan struct{}
}

func newRecorder() *recorder {
	return &recorder{delivered: map[string][]string{}, changed: make(chan struct{})}
}

func (r *recorder) Send(ctx context.Context, m *mailer.Message) error {
	if r.block != nil {
		select {
		case <-r.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	r.delivered[m.To] = append(r.delivered[m.To], m.ID)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	return nil
}

// Delivered returns a copy of the deliveries so far.
func (r *recorder) Delivered() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]string, len(r.delivered))
	for k, v := range r.delivered {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// Changed returns a channel closed at the next delivery.
func (r *recorder) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}
