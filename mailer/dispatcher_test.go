package mailer

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/magiclink-go/magiclink/internal/leaktest"
	"github.com/magiclink-go/magiclink/internal/syncbuf"
)

// fakeMailer answers each Send with the next scripted error (nil when the
// script is exhausted) and can block until released.
type fakeMailer struct {
	mu      sync.Mutex
	script  []error
	sent    []*Message
	calls   int
	gate    chan struct{} // when set, Send blocks until it is closed or ctx ends
	started chan struct{} // when set, receives one value per Send call
}

func (f *fakeMailer) Send(ctx context.Context, m *Message) error {
	if f.started != nil {
		f.started <- struct{}{}
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return Temporary(ctx.Err())
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if len(f.script) > 0 {
		err := f.script[0]
		f.script = f.script[1:]
		if err != nil {
			return err
		}
	}
	f.sent = append(f.sent, m)
	return nil
}

func (f *fakeMailer) stats() (calls, sent int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, len(f.sent)
}

func textLogger(w *syncbuf.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func closedTimer() <-chan time.Time {
	c := make(chan time.Time, 1)
	c <- time.Time{}
	return c
}

func msgTo(to string) *Message {
	return &Message{To: to, Subject: "s", Text: "body https://x.example/l?token_hash=SECRET code 654321", Link: "https://x.example/l?token_hash=SECRET", Code: "654321"}
}

func TestDispatcherQueueFull(t *testing.T) {
	t.Parallel()
	f := &fakeMailer{gate: make(chan struct{}), started: make(chan struct{}, 10)}
	d := NewDispatcher(f, DispatcherOptions{QueueSize: 2, Workers: 1, Logger: discardLogger()})
	ctx := t.Context()
	require.NoError(t, d.Send(ctx, msgTo("a@example.com")))
	<-f.started // the worker holds the first mail
	require.NoError(t, d.Send(ctx, msgTo("b@example.com")))
	require.NoError(t, d.Send(ctx, msgTo("c@example.com")))
	assert.ErrorIs(t, d.Send(ctx, msgTo("d@example.com")), ErrQueueFull)
	close(f.gate)
	require.NoError(t, d.Close(ctx))
	_, sent := f.stats()
	assert.Equal(t, 3, sent, "every accepted mail is delivered")
	assert.ErrorIs(t, d.Send(ctx, msgTo("e@example.com")), ErrClosed)
}

func TestDispatcherCopiesMessage(t *testing.T) {
	t.Parallel()
	f := &fakeMailer{}
	d := NewDispatcher(f, DispatcherOptions{Logger: discardLogger()})
	m := msgTo("a@example.com")
	f.mu.Lock() // hold deliveries until the caller has changed its message
	require.NoError(t, d.Send(t.Context(), m))
	m.To = "changed@example.com"
	f.mu.Unlock()
	require.NoError(t, d.Close(t.Context()))
	require.Len(t, f.sent, 1)
	assert.Equal(t, "a@example.com", f.sent[0].To)
}

func TestDispatcherFlush(t *testing.T) {
	t.Parallel()
	f := &fakeMailer{}
	d := NewDispatcher(f, DispatcherOptions{Workers: 3, Logger: discardLogger()})
	defer func() { require.NoError(t, d.Close(t.Context())) }()
	for range 50 {
		require.NoError(t, d.Send(t.Context(), msgTo("a@example.com")))
	}
	require.NoError(t, d.Flush(t.Context()))
	_, sent := f.stats()
	assert.Equal(t, 50, sent)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.NoError(t, d.Flush(ctx), "nothing pending: Flush succeeds even with a dead context")
}

func TestDispatcherFlushWaitsForRetries(t *testing.T) {
	t.Parallel()
	f := &fakeMailer{script: []error{Temporary(errors.New("busy")), Temporary(errors.New("busy"))}}
	timers := make(chan chan time.Time, 10)
	d := NewDispatcher(f, DispatcherOptions{Workers: 1, Logger: discardLogger(),
		After: func(time.Duration) <-chan time.Time {
			c := make(chan time.Time, 1)
			timers <- c
			return c
		}})
	defer func() { require.NoError(t, d.Close(t.Context())) }()
	require.NoError(t, d.Send(t.Context(), msgTo("a@example.com")))
	flushed := make(chan error, 1)
	go func() { flushed <- d.Flush(t.Context()) }()
	for range 2 {
		c := <-timers
		select {
		case err := <-flushed:
			t.Fatalf("Flush returned %v during a backoff wait", err)
		default:
		}
		c <- time.Time{}
	}
	require.NoError(t, <-flushed)
	calls, sent := f.stats()
	assert.Equal(t, 3, calls)
	assert.Equal(t, 1, sent)
}

func TestDispatcherBackoffWithJitter(t *testing.T) {
	t.Parallel()
	temp := Temporary(errors.New("451 try later"))
	f := &fakeMailer{script: []error{temp, temp, temp, temp, temp, temp}}
	var mu sync.Mutex
	var waits []time.Duration
	var failures []error
	d := NewDispatcher(f, DispatcherOptions{
		Workers: 1, MaxAttempts: 6, BaseDelay: time.Second, MaxDelay: 5 * time.Second, Logger: discardLogger(),
		After: func(d time.Duration) <-chan time.Time {
			mu.Lock()
			waits = append(waits, d)
			mu.Unlock()
			return closedTimer()
		},
		OnFailure: func(_ *Message, err error) { failures = append(failures, err) },
	})
	require.NoError(t, d.Send(t.Context(), msgTo("a@example.com")))
	require.NoError(t, d.Close(t.Context()))

	calls, sent := f.stats()
	assert.Equal(t, 6, calls, "MaxAttempts attempts")
	assert.Equal(t, 0, sent)
	require.Len(t, failures, 1)
	assert.ErrorIs(t, failures[0], ErrTemporary)
	caps := []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	require.Len(t, waits, len(caps), "one wait between attempts")
	for i, w := range waits {
		assert.GreaterOrEqual(t, w, time.Duration(0))
		assert.LessOrEqual(t, w, caps[i], "wait %d above its cap", i+1)
	}

	// Full jitter spreads over the whole range.
	seen := map[bool]int{}
	for range 2000 {
		w := d.backoff(4)
		require.GreaterOrEqual(t, w, time.Duration(0))
		require.LessOrEqual(t, w, 5*time.Second)
		seen[w < 2500*time.Millisecond]++
	}
	assert.Greater(t, seen[true], 500, "jitter never goes low")
	assert.Greater(t, seen[false], 500, "jitter never goes high")
}

func TestDispatcherPermanentNotRetried(t *testing.T) {
	t.Parallel()
	f := &fakeMailer{script: []error{&SendError{Temporary: false, Code: 550, Err: errors.New("550 no such user a@example.com")}}}
	var buf syncbuf.Buffer
	var got []*Message
	d := NewDispatcher(f, DispatcherOptions{Logger: textLogger(&buf),
		After:     func(time.Duration) <-chan time.Time { t.Error("backoff on a permanent error"); return closedTimer() },
		OnFailure: func(m *Message, _ error) { got = append(got, m) }})
	require.NoError(t, d.Send(t.Context(), msgTo("a@example.com")))
	require.NoError(t, d.Close(t.Context()))
	calls, _ := f.stats()
	assert.Equal(t, 1, calls)
	require.Len(t, got, 1)
	assert.Equal(t, "a@example.com", got[0].To)

	logged := buf.String()
	assert.Contains(t, logged, "level=ERROR")
	assert.Contains(t, logged, "to=a***@example.com")
	assert.NotContains(t, logged, "a@example.com", "address unmasked in %q", logged)
	assert.NotContains(t, logged, "SECRET")
	assert.NotContains(t, logged, "654321")
}

func TestDispatcherCloseDrains(t *testing.T) {
	t.Parallel()
	f := &fakeMailer{gate: make(chan struct{})}
	d := NewDispatcher(f, DispatcherOptions{Workers: 2, Logger: discardLogger()})
	for range 5 {
		require.NoError(t, d.Send(t.Context(), msgTo("a@example.com")))
	}
	closed := make(chan error, 1)
	go func() { closed <- d.Close(t.Context()) }()
	// Close stops accepting at once, before the queue has drained.
	accepted := 5
	require.Eventually(t, func() bool {
		err := d.Send(t.Context(), msgTo("b@example.com"))
		if err == nil {
			accepted++ // raced ahead of Close
		}
		return errors.Is(err, ErrClosed)
	}, 5*time.Second, time.Millisecond)
	close(f.gate)
	require.NoError(t, <-closed)
	_, sent := f.stats()
	assert.Equal(t, accepted, sent)
	require.NoError(t, d.Close(t.Context()), "second Close")
}

func TestDispatcherCloseGivesUpAtDeadline(t *testing.T) {
	t.Parallel()
	temp := Temporary(errors.New("down"))
	f := &fakeMailer{script: []error{temp, temp, temp}}
	never := make(chan time.Time)
	inBackoff := make(chan struct{}, 10)
	var mu sync.Mutex
	var failures []error
	d := NewDispatcher(f, DispatcherOptions{Workers: 1, Logger: discardLogger(),
		After: func(time.Duration) <-chan time.Time { inBackoff <- struct{}{}; return never },
		OnFailure: func(_ *Message, err error) {
			mu.Lock()
			failures = append(failures, err)
			mu.Unlock()
		}})
	require.NoError(t, d.Send(t.Context(), msgTo("a@example.com")))
	require.NoError(t, d.Send(t.Context(), msgTo("b@example.com")))
	<-inBackoff
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, d.Close(ctx), context.Canceled)
	calls, sent := f.stats()
	assert.Equal(t, 1, calls, "no retry after the deadline")
	assert.Equal(t, 0, sent)
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, failures, 2, "the mail in backoff and the queued one are reported")
}

// TestDispatcherNoGoroutineLeak is not parallel: it counts goroutines.
func TestDispatcherNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	f := &fakeMailer{script: []error{Temporary(errors.New("x"))}}
	d := NewDispatcher(f, DispatcherOptions{Workers: 8, Logger: discardLogger(),
		After: func(time.Duration) <-chan time.Time { return closedTimer() }})
	for range 20 {
		require.NoError(t, d.Send(t.Context(), msgTo("a@example.com")))
	}
	require.Greater(t, runtime.NumGoroutine(), before)
	require.NoError(t, d.Close(t.Context()))
	leaktest.Check(t, before)
}

func TestDispatcherIsAMailer(t *testing.T) {
	t.Parallel()
	var _ Mailer = (*Dispatcher)(nil)
	mem := NewMemory()
	d := NewDispatcher(mem, DispatcherOptions{Logger: discardLogger()})
	require.NoError(t, d.Send(t.Context(), msgTo("a@example.com")))
	m, err := mem.Wait(t.Context(), "a@example.com")
	require.NoError(t, err)
	assert.Equal(t, "654321", m.Code)
	require.NoError(t, d.Close(t.Context()))
}

func TestMaskAddress(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"jane@example.com":     "j***@example.com",
		"j@example.com":        "j***@example.com",
		"Jane.Doe@Example.COM": "J***@Example.COM",
		"nope":                 "***",
		"@example.com":         "***",
		"a@":                   "***",
		"":                     "***",
		"élise@example.fr":     "***@example.fr",
	} {
		assert.Equal(t, want, MaskAddress(in), "MaskAddress(%q)", in)
	}
}
