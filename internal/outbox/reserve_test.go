package outbox

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/conc"
	"github.com/magiclink-go/magiclink/internal/fakeclock"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store"
)

func newMemQueue() *memQueue {
	return &memQueue{visibility: time.Hour, entries: map[string]*memEntry{}, added: make(chan struct{})}
}

func newTestOutbox(t *testing.T, q Queue, m mailer.Mailer, now func() time.Time) *Outbox {
	t.Helper()
	ob, err := New(q, m, "test", mailer.OutboxOptions{Secret: []byte("reserve test secret 0123456789abcdef"),
		Backoff: func(int) time.Duration { return 0 }, PollInterval: 20 * time.Millisecond, Now: now,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ob.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return ob
}

// brokenOutbox is an outbox on a fake clock whose queue is down, after
// the one failed write that opened its breaker.
func brokenOutbox(t *testing.T) (*Outbox, *fakeclock.Clock) {
	t.Helper()
	clock := fakeclock.New(time.Time{})
	q := newMemQueue()
	ob := newTestOutbox(t, q, mailer.NewMemory(), clock.Now)
	q.down.Store(true)
	if err := ob.Send(t.Context(), &mailer.Message{To: "a@example.com", Subject: "s", Text: "t"}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Send with the store down: %v", err)
	}
	return ob, clock
}

// TestBreakerSchedule: the cool-down starts at 250 ms and doubles with
// each failed trial up to 4 s; failures of writes other than the trial
// while it is open do not lengthen it; a success closes it.
func TestBreakerSchedule(t *testing.T) {
	var b breaker
	now := fakeclock.Start
	down := errors.New("down")
	if trial, err := b.admit("x", now); trial || err != nil {
		t.Fatalf("closed breaker: trial %v, %v", trial, err)
	}
	b.failed(down, false, now)
	b.failed(down, false, now) // a second write in flight at the crash
	for _, want := range []time.Duration{250, 500, 1000, 2000, 4000, 4000} {
		want *= time.Millisecond
		if _, err := b.admit("x", now.Add(want-time.Millisecond)); !errors.Is(err, down) {
			t.Fatalf("%v into a %v cool-down: %v, want a refusal wrapping the failure", want-time.Millisecond, want, err)
		}
		now = now.Add(want)
		trial, err := b.admit("x", now)
		if !trial || err != nil {
			t.Fatalf("after a %v cool-down: trial %v, %v; want the trial", want, trial, err)
		}
		if _, err := b.admit("x", now); err == nil {
			t.Fatal("a second trial while one is out")
		}
		b.failed(down, true, now)
	}
	b.succeeded()
	if trial, err := b.admit("x", now); trial || err != nil {
		t.Fatalf("after a success: trial %v, %v; want closed", trial, err)
	}
}

// TestOneTrialAtATime: after the cool-down, of 64 goroutines reserving at
// once exactly one gets the trial; the rest are refused with the store's
// error.
func TestOneTrialAtATime(t *testing.T) {
	t.Parallel()
	ob, clock := brokenOutbox(t)
	clock.Advance(coolBase)
	var granted, refused atomic.Int32
	trials := make(chan mailer.Reservation, 64)
	conc.Run(64, func(int) {
		res, err := ob.Reserve(context.Background())
		switch {
		case err == nil:
			granted.Add(1)
			trials <- res // held until every goroutine has reserved
		case errors.Is(err, store.ErrUnavailable) && errors.Is(err, mailer.ErrTemporary):
			refused.Add(1)
		default:
			t.Errorf("Reserve: %v", err)
		}
	})
	close(trials)
	for res := range trials {
		res.Cancel()
	}
	if granted.Load() != 1 || refused.Load() != 63 {
		t.Fatalf("%d granted, %d refused; want one trial and 63 refusals", granted.Load(), refused.Load())
	}
}

// TestReservationsRaceClose: 32 goroutines reserve, commit and cancel
// while Close runs; every commit that returned nil is delivered by the
// time Close returns, and after Close every Reserve is ErrClosed.
func TestReservationsRaceClose(t *testing.T) {
	t.Parallel()
	inbox := mailer.NewMemory(mailer.WithCapacity(1 << 20))
	ob := newTestOutbox(t, newMemQueue(), inbox, time.Now)
	var accepted atomic.Int64
	var done sync.WaitGroup
	busy := make(chan struct{})
	var once sync.Once
	for g := range 32 {
		done.Go(func() {
			for i := 0; ; i++ {
				res, err := ob.Reserve(context.Background())
				if errors.Is(err, mailer.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Reserve: %v", err)
					return
				}
				if i%3 == 0 {
					res.Cancel()
					continue
				}
				if err := res.Commit(context.Background(), &mailer.Message{To: "r@example.com", Subject: "s", Text: "t"}); err != nil {
					t.Errorf("goroutine %d: Commit: %v", g, err)
					return
				}
				if accepted.Add(1) == 200 {
					once.Do(func() { close(busy) })
				}
			}
		})
	}
	<-busy
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ob.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	delivered := inbox.Len()
	done.Wait()
	if int64(delivered) != accepted.Load() {
		t.Fatalf("%d mails delivered by Close, %d commits accepted", delivered, accepted.Load())
	}
}
