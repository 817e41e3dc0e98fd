package mailer

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// blockedDispatcher returns a Dispatcher with one worker held on a first
// mail, so its queue of size n starts empty and fills only by the test.
func blockedDispatcher(t *testing.T, n int) (*Dispatcher, *fakeMailer) {
	t.Helper()
	f := &fakeMailer{gate: make(chan struct{}), started: make(chan struct{}, 100)}
	d := NewDispatcher(f, DispatcherOptions{QueueSize: n, Workers: 1, Logger: discardLogger()})
	require.NoError(t, d.Send(t.Context(), msgTo("first@example.com")))
	<-f.started
	return d, f
}

func TestDispatcherReserveHoldsASlot(t *testing.T) {
	t.Parallel()
	d, f := blockedDispatcher(t, 2)
	ctx := t.Context()
	r1, err := d.Reserve(ctx)
	require.NoError(t, err)
	r2, err := d.Reserve(ctx)
	require.NoError(t, err)
	_, err = d.Reserve(ctx)
	assert.ErrorIs(t, err, ErrQueueFull, "both slots are held")
	assert.ErrorIs(t, d.Send(ctx, msgTo("x@example.com")), ErrQueueFull, "a held slot is not free for Send")

	r1.Cancel()
	require.NoError(t, d.Send(ctx, msgTo("b@example.com")), "a cancelled reservation frees its slot")
	require.NoError(t, r2.Commit(ctx, msgTo("c@example.com")), "a held slot is there for its commit, whatever Send did")
	r2.Cancel() // after the commit: no effect
	_, err = d.Reserve(ctx)
	assert.ErrorIs(t, err, ErrQueueFull, "Cancel after Commit must not free a second slot")
	assert.Error(t, r2.Commit(ctx, msgTo("again@example.com")), "a reservation commits once")

	close(f.gate)
	require.NoError(t, d.Close(ctx))
	_, sent := f.stats()
	assert.Equal(t, 3, sent, "first, b and c are delivered; nothing else")
}

func TestDispatcherCommitLinkRendersInWorker(t *testing.T) {
	t.Parallel()
	inbox := NewMemory()
	d := NewDispatcher(inbox, DispatcherOptions{Logger: discardLogger()})
	r, err := d.Reserve(t.Context())
	require.NoError(t, err)
	data := LinkData{To: "ada@example.com", AppName: "Acme", Origin: "https://app.example.com",
		Link: "https://app.example.com/auth/verify?token_hash=abc&type=magiclink&next=/", Code: "123456"}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.NoError(t, r.CommitLink(ctx, DefaultTemplates(), data), "a held slot accepts even after the caller's ctx ended")
	require.NoError(t, d.Close(t.Context()))
	m, ok := inbox.Last("ada@example.com")
	require.True(t, ok, "the committed mail is delivered")
	assert.Equal(t, "123456", m.Code)
	assert.NotEmpty(t, m.Subject, "rendered by the worker")
}

// TestDispatcherCloseWaitsForReservations: a mail reserved before Close is
// still accepted; Close returns once it is delivered.
func TestDispatcherCloseWaitsForReservations(t *testing.T) {
	t.Parallel()
	f := &fakeMailer{}
	d := NewDispatcher(f, DispatcherOptions{Logger: discardLogger()})
	r, err := d.Reserve(t.Context())
	require.NoError(t, err)
	closed := make(chan error, 1)
	go func() { closed <- d.Close(t.Context()) }()
	// Close has begun once new reservations are refused.
	for {
		r2, err := d.Reserve(t.Context())
		if err != nil {
			require.ErrorIs(t, err, ErrClosed)
			break
		}
		r2.Cancel()
		runtime.Gosched()
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with a reservation outstanding", err)
	default:
	}
	require.NoError(t, r.Commit(t.Context(), msgTo("late@example.com")))
	require.NoError(t, <-closed)
	_, sent := f.stats()
	assert.Equal(t, 1, sent, "the mail reserved before Close is delivered")
}

// TestDispatcherCloseGivesUpReservations: when Close's ctx ends first, an
// outstanding reservation's commit fails with ErrClosed and no goroutine
// remains blocked.
func TestDispatcherCloseGivesUpReservations(t *testing.T) {
	t.Parallel()
	f := &fakeMailer{}
	d := NewDispatcher(f, DispatcherOptions{Logger: discardLogger()})
	r, err := d.Reserve(t.Context())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	assert.ErrorIs(t, d.Close(ctx), context.Canceled)
	assert.ErrorIs(t, r.Commit(t.Context(), msgTo("late@example.com")), ErrClosed)
	r.Cancel()
	_, sent := f.stats()
	assert.Equal(t, 0, sent)
}

func TestDispatcherReserveCancelledContext(t *testing.T) {
	t.Parallel()
	d := NewDispatcher(&fakeMailer{}, DispatcherOptions{Logger: discardLogger()})
	defer func() { require.NoError(t, d.Close(t.Context())) }()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := d.Reserve(ctx)
	assert.ErrorIs(t, err, context.Canceled)
}

// TestDispatcherReserveConcurrent: many goroutines reserving, committing,
// cancelling and sending at once never overfill the queue (a commit never
// fails for room) and every accepted mail is delivered exactly once.
func TestDispatcherReserveConcurrent(t *testing.T) {
	t.Parallel()
	f := &fakeMailer{}
	d := NewDispatcher(f, DispatcherOptions{QueueSize: 8, Workers: 2, Logger: discardLogger()})
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				to := fmt.Sprintf("g%d-%d@example.com", g, i)
				switch i % 3 {
				case 0:
					if d.Send(context.Background(), msgTo(to)) == nil {
						accepted.Add(1)
					}
				case 1:
					r, err := d.Reserve(context.Background())
					if err != nil {
						continue
					}
					if err := r.Commit(context.Background(), msgTo(to)); err != nil {
						t.Errorf("commit of a held slot: %v", err)
						continue
					}
					accepted.Add(1)
				default:
					if r, err := d.Reserve(context.Background()); err == nil {
						r.Cancel()
					}
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, d.Close(t.Context()))
	_, sent := f.stats()
	assert.Equal(t, int(accepted.Load()), sent, "delivered = accepted")
	assert.Positive(t, sent)
}

// TestDispatcherWaitForRoom: with Wait set, Reserve and Send wait for a
// slot: one freed meanwhile is taken, a wait that runs out is
// ErrQueueFull, and Close ends a wait with ErrClosed.
func TestDispatcherWaitForRoom(t *testing.T) {
	t.Parallel()
	timers := make(chan chan time.Time, 4)
	f := &fakeMailer{gate: make(chan struct{}), started: make(chan struct{}, 4)}
	d := NewDispatcher(f, DispatcherOptions{QueueSize: 1, Workers: 1, Wait: time.Minute, Logger: discardLogger(),
		After: func(time.Duration) <-chan time.Time {
			c := make(chan time.Time, 1)
			timers <- c
			return c
		}})
	ctx := t.Context()
	held, err := d.Reserve(ctx)
	require.NoError(t, err)

	got := make(chan error, 1)
	go func() {
		r, err := d.Reserve(ctx)
		if err == nil {
			err = r.Commit(ctx, msgTo("waited@example.com"))
		}
		got <- err
	}()
	<-timers // the second Reserve is waiting
	held.Cancel()
	require.NoError(t, <-got, "the freed slot goes to the waiting Reserve")
	<-f.started // the worker holds that mail; its slot is free again

	held, err = d.Reserve(ctx)
	require.NoError(t, err)
	sent := make(chan error, 1)
	go func() { sent <- d.Send(ctx, msgTo("late@example.com")) }()
	(<-timers) <- time.Time{}
	assert.ErrorIs(t, <-sent, ErrQueueFull, "a wait that runs out is a refusal")

	go func() { _, err := d.Reserve(ctx); got <- err }()
	<-timers
	closed := make(chan error, 1)
	go func() { closed <- d.Close(ctx) }()
	assert.ErrorIs(t, <-got, ErrClosed, "Close ends a wait for room")
	held.Cancel()
	close(f.gate)
	require.NoError(t, <-closed)
	_, n := f.stats()
	assert.Equal(t, 1, n, "only the waited-for mail is delivered")
}
