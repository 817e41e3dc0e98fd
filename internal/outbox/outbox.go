package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/magiclink-go/magiclink/internal/randid"
	"github.com/magiclink-go/magiclink/internal/telemetry"
	"github.com/magiclink-go/magiclink/mailer"
)

// finishTimeout bounds the store call that finishes a delivery (ack, retry,
// dead letter, hand-back). It does not use the outbox's context, which is
// cancelled when Close gives up: a hand-back must still reach the store.
const finishTimeout = 5 * time.Second

// maxID is the longest Message-ID an outbox keeps from its caller.
const maxID = 64

// Outbox is the engine: a mailer.Outbox on any Queue.
type Outbox struct {
	q    Queue
	m    mailer.Mailer
	o    mailer.OutboxOptions
	name string
	seal *Sealer

	// ctx is cancelled when Close gives up; it interrupts deliveries.
	ctx    context.Context
	cancel context.CancelFunc
	// idle holds one token per idle worker: the fetcher claims only as
	// many entries as it can hand over at once, so nothing it claims waits
	// in this process while another instance could deliver it.
	idle    chan struct{}
	jobs    chan Entry
	closing chan struct{} // closed by Close
	done    chan struct{} // closed when every goroutine has returned
	wg      sync.WaitGroup

	mu     sync.Mutex
	closed bool // no new sends or reservations
	// reserved counts the reservations outstanding; settled is closed once
	// the outbox is closed and none is (Close waits for it), and gaveUp is
	// set when Close stopped waiting: commits then fail with ErrClosed.
	reserved int
	settled  chan struct{}
	gaveUp   bool
	brk      breaker

	tel    *telemetry.Instruments
	gauges metric.Registration // nil when registration failed
}

var (
	_ mailer.Outbox   = (*Outbox)(nil)
	_ mailer.Reserver = (*Outbox)(nil)
)

// Normalize fills in the defaults of o, as New applies them.
func Normalize(o mailer.OutboxOptions) mailer.OutboxOptions {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.BaseDelay <= 0 {
		o.BaseDelay = time.Second
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 5 * time.Minute
	}
	o.MaxDelay = max(o.MaxDelay, o.BaseDelay)
	if o.Backoff == nil {
		o.Backoff = FullJitter(o.BaseDelay, o.MaxDelay)
	}
	if o.VisibilityTimeout <= 0 {
		o.VisibilityTimeout = 5 * time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Renderer == nil {
		o.Renderer = mailer.DefaultTemplates()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// New starts an outbox delivering the entries of q through m. name, such
// as "redisstore: outbox", prefixes its errors and log messages.
func New(q Queue, m mailer.Mailer, name string, opts mailer.OutboxOptions) (*Outbox, error) {
	if q == nil || m == nil {
		return nil, fmt.Errorf("%s: nil queue or mailer", name)
	}
	o := Normalize(opts)
	seal, err := NewSealer(o.Secret)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ob := &Outbox{
		q: q, m: m, o: o, name: name, seal: seal,
		ctx: ctx, cancel: cancel,
		idle:    make(chan struct{}, o.Workers),
		jobs:    make(chan Entry, o.Workers),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		settled: make(chan struct{}),
	}
	ob.observe()
	for range o.Workers {
		ob.idle <- struct{}{}
	}
	ob.wg.Add(1 + o.Workers)
	go ob.fetch()
	for range o.Workers {
		go ob.work()
	}
	go func() {
		ob.wg.Wait()
		cancel()
		if ob.gauges != nil {
			_ = ob.gauges.Unregister()
		}
		close(ob.done)
	}()
	return ob, nil
}

// observe sets up the delivery metrics and the depth and age gauges. The
// instruments' names are fixed and valid, so creating them cannot fail in
// practice; if it did, the outbox would run unobserved rather than not run.
func (o *Outbox) observe() {
	o.tel, _ = telemetry.New(o.o.MeterProvider, nil)
	if o.tel == nil {
		return
	}
	o.gauges, _ = o.tel.ObserveOutbox(o.name, func(ctx context.Context) (int64, time.Duration, error) {
		st, err := o.Stats(ctx)
		return st.Queued, st.OldestAge, err
	})
}

// Send stores a copy of msg, sealed, and returns once it is durable.
func (o *Outbox) Send(ctx context.Context, msg *mailer.Message) error {
	id, plain, err := o.messagePayload(msg)
	if err != nil {
		return err
	}
	return o.add(ctx, id, plain)
}

// SendLinkMail stores d to be rendered by a worker when r is the outbox's
// own Renderer; otherwise it renders with r now and stores the message.
func (o *Outbox) SendLinkMail(ctx context.Context, r mailer.Renderer, d mailer.LinkData) error {
	id, plain, err := o.linkPayload(r, d)
	if err != nil {
		return err
	}
	return o.add(ctx, id, plain)
}

// messagePayload is the Message-ID and plaintext payload of msg.
func (o *Outbox) messagePayload(msg *mailer.Message) (string, []byte, error) {
	if msg == nil {
		return "", nil, mailer.Permanent(fmt.Errorf("%s: nil message", o.name))
	}
	return keepID(msg.ID), encodeMessage(msg), nil
}

// linkPayload is the Message-ID and plaintext payload of a link mail: its
// LinkData when r is the outbox's own Renderer, else the message r renders.
func (o *Outbox) linkPayload(r mailer.Renderer, d mailer.LinkData) (string, []byte, error) {
	if r == nil {
		return "", nil, mailer.Permanent(fmt.Errorf("%s: nil renderer", o.name))
	}
	if sameRenderer(r, o.o.Renderer) {
		return newID(), encodeLink(&d), nil
	}
	msg, err := r.Render(d)
	if err != nil {
		return "", nil, mailer.Permanent(fmt.Errorf("%s: rendering: %w", o.name, err))
	}
	return keepID(msg.ID), encodeMessage(msg), nil
}

// add stores a mail sent without a reservation.
func (o *Outbox) add(ctx context.Context, id string, plain []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o.mu.Lock()
	closed := o.closed
	o.mu.Unlock()
	if closed {
		return mailer.ErrClosed
	}
	return o.write(ctx, id, plain, false)
}

// write is the one round trip of an accepted mail; its outcome feeds the
// breaker (trial: it is the breaker's trial write). A failure because the
// caller's ctx ended says nothing about the store.
func (o *Outbox) write(ctx context.Context, id string, plain []byte, trial bool) error {
	e := Entry{ID: id, Accepted: o.o.Now(), Sealed: o.seal.Seal(id, plain)}
	err := o.q.Add(ctx, e)
	o.mu.Lock()
	switch {
	case err == nil:
		o.brk.succeeded()
	case ctx.Err() != nil:
		o.brk.abandoned(trial)
	default:
		o.brk.failed(err, trial, o.o.Now())
	}
	o.mu.Unlock()
	if err != nil {
		return &mailer.SendError{Temporary: true, Err: fmt.Errorf("%s: mail not accepted: %w", o.name, err)}
	}
	return nil
}

// Stats reports the queue's counts.
func (o *Outbox) Stats(ctx context.Context) (mailer.OutboxStats, error) {
	return o.q.Stats(ctx, o.o.Now())
}

// Ping reports whether the store is reachable.
func (o *Outbox) Ping(ctx context.Context) error { return o.q.Ping(ctx) }

// Close stops accepting, waits for the reservations outstanding, delivers
// what is ready and stops; see mailer.Outbox.
func (o *Outbox) Close(ctx context.Context) error {
	o.mu.Lock()
	o.closed = true
	o.settle()
	o.mu.Unlock()
	select {
	case <-o.settled:
	case <-ctx.Done():
		o.mu.Lock()
		o.gaveUp = true
		o.mu.Unlock()
	}
	o.mu.Lock()
	if !o.isClosing() {
		close(o.closing)
	}
	o.mu.Unlock()
	select {
	case <-o.done:
		return nil
	default:
	}
	select {
	case <-o.done:
		return nil
	case <-ctx.Done():
		o.cancel()
		<-o.done
		return ctx.Err()
	}
}

// settle closes settled once the outbox is closed and no reservation is
// outstanding. The caller holds o.mu.
func (o *Outbox) settle() {
	if !o.closed || o.reserved > 0 {
		return
	}
	select {
	case <-o.settled:
	default:
		close(o.settled)
	}
}

// keepID returns id when it is safe as a Message-ID, else a fresh one.
func keepID(id string) string {
	if id == "" || len(id) > maxID {
		return newID()
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return newID()
		}
	}
	return id
}

// newID returns a fresh Message-ID: 128 random bits in base64url, whose
// characters a Message-ID may hold.
func newID() string { return randid.New("") }

// sameRenderer reports whether a and b are the same renderer, without
// panicking on renderer types that are not comparable.
func sameRenderer(a, b mailer.Renderer) bool {
	ta := reflect.TypeOf(a)
	return ta == reflect.TypeOf(b) && ta.Comparable() && a == b
}

// errExpired reports a link mail whose link expired before a worker got to
// it; sending it would only confuse its recipient.
var errExpired = errors.New("link expired before delivery")

// errBudget reports a mail whose attempts were all lost with the instances
// making them.
var errBudget = errors.New("attempt budget spent by deliveries that never finished")
