package outbox

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/outboxtest"
	"github.com/magiclink-go/magiclink/store"
)

// memQueue is a Queue in memory, the smallest storage that keeps the
// contract: it proves the engine and the suite independently of any
// backend. Visibility is judged in real time, as a store server would.
type memQueue struct {
	visibility time.Duration
	// down makes every call fail as a store that is down does.
	down atomic.Bool

	mu      sync.Mutex
	seq     int
	entries map[string]*memEntry // by Ref
	dead    []Entry
	added   chan struct{} // closed and replaced when an entry is added
}

type memEntry struct {
	e       Entry
	due     time.Time // not claimable before (by the outbox clock)
	claimed time.Time // zero when not claimed (real time)
}

// errDown is what every call of a memQueue that is down returns.
var errDown = fmt.Errorf("memqueue: %w", store.ErrUnavailable)

func (q *memQueue) Add(_ context.Context, e Entry) error {
	if q.down.Load() {
		return errDown
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	e.Ref = strconv.Itoa(q.seq)
	q.entries[e.Ref] = &memEntry{e: e}
	q.wake()
	return nil
}

// wake releases waiting claims; q.mu is held.
func (q *memQueue) wake() {
	close(q.added)
	q.added = make(chan struct{})
}

func (q *memQueue) Claim(ctx context.Context, n int, now func() time.Time, wait time.Duration) ([]Entry, error) {
	if q.down.Load() {
		return nil, errDown
	}
	out := q.claim(n, now())
	if len(out) > 0 || wait <= 0 {
		return out, nil
	}
	q.mu.Lock()
	added := q.added
	q.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-added:
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return q.claim(n, now()), nil
}

func (q *memQueue) claim(n int, now time.Time) []Entry {
	q.mu.Lock()
	defer q.mu.Unlock()
	refs := make([]string, 0, len(q.entries))
	for ref := range q.entries {
		refs = append(refs, ref)
	}
	slices.Sort(refs)
	var out []Entry
	for _, ref := range refs {
		me := q.entries[ref]
		if len(out) == n {
			break
		}
		if now.Before(me.due) || !me.claimed.IsZero() && time.Since(me.claimed) < q.visibility {
			continue
		}
		if !me.claimed.IsZero() {
			me.e.Attempts++ // the claim that lapsed was an attempt
		}
		me.claimed = time.Now()
		out = append(out, me.e)
	}
	return out
}

// finish removes e's entry; false when it was finished already.
func (q *memQueue) finish(e Entry) bool {
	if _, ok := q.entries[e.Ref]; !ok {
		return false
	}
	delete(q.entries, e.Ref)
	return true
}

func (q *memQueue) Ack(_ context.Context, e Entry) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.finish(e)
	return nil
}

func (q *memQueue) Retry(_ context.Context, e Entry, due time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.finish(e) {
		q.seq++
		e.Ref = strconv.Itoa(q.seq)
		q.entries[e.Ref] = &memEntry{e: e, due: due}
		q.wake()
	}
	return nil
}

func (q *memQueue) Dead(_ context.Context, e Entry, _ string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.finish(e) {
		q.dead = append(q.dead, e)
	}
	return nil
}

func (q *memQueue) Stats(_ context.Context, now time.Time) (mailer.OutboxStats, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := mailer.OutboxStats{Queued: int64(len(q.entries)), Dead: int64(len(q.dead))}
	for _, me := range q.entries {
		switch {
		case !me.claimed.IsZero():
			s.InFlight++
		case now.Before(me.due):
			s.Retrying++
		}
		s.OldestAge = max(s.OldestAge, now.Sub(me.e.Accepted))
	}
	return s, nil
}

func (q *memQueue) Ping(context.Context) error { return nil }

func (q *memQueue) raw() []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	var b []byte
	for _, me := range q.entries {
		b = append(append(b, me.e.ID...), me.e.Sealed...)
	}
	for _, e := range q.dead {
		b = append(append(b, e.ID...), e.Sealed...)
	}
	return b
}

func TestConformanceInMemory(t *testing.T) {
	t.Parallel()
	outboxtest.Run(t, func(t *testing.T) outboxtest.Backend {
		var mu sync.Mutex
		var q *memQueue
		return outboxtest.Backend{
			Open: func(t *testing.T, m mailer.Mailer, o mailer.OutboxOptions) mailer.Outbox {
				mu.Lock()
				if q == nil {
					q = &memQueue{visibility: o.VisibilityTimeout, entries: map[string]*memEntry{}, added: make(chan struct{})}
				}
				mu.Unlock()
				ob, err := New(q, m, "memqueue", o)
				if err != nil {
					t.Fatal(err)
				}
				return ob
			},
			Raw:     func(*testing.T) []byte { return q.raw() },
			Kill:    func(testing.TB) { q.down.Store(true) },
			Restart: func(testing.TB) { q.down.Store(false) },
		}
	})
}
