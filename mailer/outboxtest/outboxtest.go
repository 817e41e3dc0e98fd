// Package outboxtest is the conformance suite every mailer.Outbox passes.
//
// A backend runs it from its own tests:
//
//	func TestOutboxConformance(t *testing.T) {
//		outboxtest.Run(t, func(t *testing.T) outboxtest.Backend {
//			storage := freshStorage(t)
//			return outboxtest.Backend{
//				Open: func(t *testing.T, m mailer.Mailer, o mailer.OutboxOptions) mailer.Outbox {
//					ob, err := mystore.NewOutbox(storage, m, o)
//					...
//					return ob
//				},
//				Raw: func(t *testing.T) []byte { return everythingStoredIn(storage) },
//			}
//		})
//	}
//
// The suite drives retries with OutboxOptions.Backoff and OutboxOptions.Now
// and waits on conditions with deadlines, never on sleeps; only the reclaim
// test lets real time pass, for a visibility timeout of a few hundred
// milliseconds. It closes every outbox it opens.
package outboxtest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/syncbuf"
	"github.com/magiclink-go/magiclink/mailer"
)

// Backend is one outbox storage under test.
type Backend struct {
	// Open starts an outbox on the backend's storage, delivering through m
	// with options o (used as given: the suite sets Secret, Backoff, Now,
	// Logger and the timeouts). Every Open on one Backend shares the
	// storage, as the instances of a deployment do.
	Open func(t *testing.T, m mailer.Mailer, o mailer.OutboxOptions) mailer.Outbox
	// Raw returns every byte the storage holds for this Backend, as a dump
	// would show them (all keys and values, all rows). Numeric metadata
	// (timestamps, counters) and random names that are no mail's content
	// may be left out: the test looks for random 6-digit codes, which such
	// digits hold now and then by chance. Raw must show the Message-IDs
	// (the test checks one is there). Nil skips the sealed-at-rest test.
	Raw func(t *testing.T) []byte
	// Kill, when set with Restart, kills the storage's server, as a crash
	// would, so that every call of an outbox on it fails with an error
	// matching store.ErrUnavailable; Restart starts it again and returns
	// once it serves (what it held may be gone). Only the outage cases
	// use them, and they skip without them. A Factory whose Backends share
	// one server leaves both nil and runs RunOutages with a Factory of
	// Backends on servers of their own.
	Kill, Restart func(t testing.TB)
}

// Factory returns a Backend on fresh, empty storage and registers its own
// cleanup with t.
type Factory func(t *testing.T) Backend

// Secret is the secret the suite seals with.
const Secret = "outboxtest secret: 0123456789abcdef0123456789abcdef"

// waitFor bounds every wait of the suite.
const waitFor = 20 * time.Second

// Run runs the whole suite against outboxes on storage made by newBackend;
// the outage cases skip unless its Backends have Kill and Restart.
func Run(t *testing.T, newBackend Factory) {
	t.Helper()
	runCases(t, newBackend, cases)
	runCases(t, newBackend, outageCases)
}

// RunOutages runs only the cases that kill the storage's server, on
// Backends that must have Kill and Restart.
func RunOutages(t *testing.T, newBackend Factory) {
	t.Helper()
	runCases(t, func(t *testing.T) Backend {
		b := newBackend(t)
		if b.Kill == nil || b.Restart == nil {
			t.Fatal("outboxtest: RunOutages needs Backends with Kill and Restart")
		}
		return b
	}, outageCases)
}

type suiteCase struct {
	name string
	run  func(t *testing.T, r *rig)
}

func runCases(t *testing.T, newBackend Factory, cs []suiteCase) {
	t.Helper()
	for _, c := range cs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, &rig{t: t, b: newBackend(t)})
		})
	}
}

// rig is one subtest's storage, its outboxes and its log.
type rig struct {
	t   *testing.T
	b   Backend
	log syncbuf.Buffer
}

// options returns the suite's defaults: quick polling, retries at once, a
// visibility timeout no test reaches unless it sets its own.
func (r *rig) options() mailer.OutboxOptions {
	return mailer.OutboxOptions{
		Secret:            []byte(Secret),
		Workers:           4,
		MaxAttempts:       5,
		Backoff:           func(int) time.Duration { return 0 },
		VisibilityTimeout: time.Hour,
		PollInterval:      20 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(&r.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// renderingOptions are the defaults with the default templates as the
// outbox's renderer, returned too, so that link mails can be handed over
// as data for the worker to render.
func (r *rig) renderingOptions() (mailer.OutboxOptions, *mailer.Templates) {
	o, tpl := r.options(), mailer.DefaultTemplates()
	o.Renderer = tpl
	return o, tpl
}

// open starts an outbox and closes it when the test ends.
func (r *rig) open(m mailer.Mailer, o mailer.OutboxOptions) mailer.Outbox {
	r.t.Helper()
	ob := r.b.Open(r.t, m, o)
	if ob == nil {
		r.t.Fatal("outboxtest: Open returned nil")
	}
	r.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_ = ob.Close(ctx)
	})
	return ob
}

// until waits for cond, re-checking whenever rec changes and every few
// milliseconds (for conditions on the storage), and fails after waitFor.
func (r *rig) until(what string, rec *recorder, cond func() bool) {
	r.t.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		var changed <-chan struct{}
		if rec != nil {
			changed = rec.Changed()
		}
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-deadline.C:
			r.t.Fatalf("outboxtest: timed out waiting for %s", what)
		}
	}
}

// stats returns ob.Stats or fails.
func (r *rig) stats(ob mailer.Outbox) mailer.OutboxStats {
	r.t.Helper()
	s, err := ob.Stats(r.t.Context())
	if err != nil {
		r.t.Fatalf("Stats: %v", err)
	}
	return s
}
