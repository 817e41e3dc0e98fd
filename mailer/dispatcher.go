package mailer

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/magiclink-go/magiclink/internal/mask"
	"github.com/magiclink-go/magiclink/internal/telemetry"
)

// DispatcherOptions configures a Dispatcher. Zero values mean the defaults.
type DispatcherOptions struct {
	// QueueSize bounds the number of mails waiting for a worker, reserved
	// ones included (default 1024). Send fails with ErrQueueFull beyond it.
	QueueSize int
	// Wait is how long Send and Reserve wait for room in a full queue
	// before they fail with ErrQueueFull (default 0: at once). A short wait
	// turns a burst, or clients that retry a refusal at once, into
	// requests that wait their turn instead of a flood of refusals that
	// takes the CPU the workers need.
	Wait time.Duration
	// Workers is the number of concurrent deliveries (default 4).
	Workers int
	// MaxAttempts bounds the delivery attempts per mail, the first included
	// (default 5).
	MaxAttempts int
	// BaseDelay and MaxDelay shape the backoff between attempts: before
	// attempt n+1 the worker waits a uniformly random time in
	// [0, min(MaxDelay, BaseDelay·2^(n-1))] ("full jitter"). Defaults 1s
	// and 1m.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// Logger receives one Error record per mail that finally failed, with
	// the recipient masked (default slog.Default()). Links, codes and
	// bodies are never logged.
	Logger *slog.Logger
	// OnFailure, when set, is called with each mail that finally failed and
	// its last error, from a worker goroutine.
	OnFailure func(*Message, error)
	// After waits for a backoff delay and for Wait (default time.After).
	// Tests replace it to drive retries without real sleeps.
	After func(d time.Duration) <-chan time.Time
	// MeterProvider receives delivery attempts by result and their
	// duration; nil means OpenTelemetry's global provider (a no-op until
	// the host installs an SDK).
	MeterProvider metric.MeterProvider
}

// Dispatcher sends mail asynchronously through another Mailer: Send queues
// and returns at once, a fixed pool of workers delivers, retrying temporary
// errors with exponential backoff. It implements Mailer itself. Close must
// be called to stop its goroutines.
//
// The queue lives in memory: a crash, a SIGKILL or a deploy that does not
// call Close loses every mail accepted and not yet delivered, and the user
// waits for a sign-in mail that never comes. Use it for a single instance
// that can afford that; a durable outbox (such as the Redis one) keeps
// accepted mail across crashes.
//
// Give it as many Workers as the wrapped mailer can send concurrently: an
// SMTP mailer with MaxConnections 4 (its default) keeps four workers busy,
// and more workers than connections only wait for one.
type Dispatcher struct {
	m    Mailer
	opts DispatcherOptions
	tel  *telemetry.Instruments

	queue chan job
	// slots holds one value per queued mail and per reservation, so that
	// a push into queue never blocks and a wait for room is a send on it.
	slots chan struct{}
	// closing is closed by Close: it ends waits for room.
	closing chan struct{}
	// ctx is cancelled when Close gives up: it interrupts deliveries and
	// backoff waits.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{} // closed when every worker has returned

	mu     sync.Mutex
	closed bool // no new mail or reservation is accepted
	// queueClosed is set when queue is closed: at Close once no
	// reservation is outstanding, or when Close gives up on them.
	queueClosed bool
	// reserved counts reservations not yet ended; each holds one slot of
	// queue, so a commit never finds it full.
	reserved    int
	seq         uint64
	outstanding map[uint64]struct{}
	changed     chan struct{} // closed and replaced when a job finishes
}

type job struct {
	seq uint64
	msg *Message
	// render and data are set instead of msg for SendLinkMail: the worker
	// renders the mail.
	render Renderer
	data   LinkData
}

var (
	_ LinkSender = (*Dispatcher)(nil)
	_ Reserver   = (*Dispatcher)(nil)
)

// NewDispatcher starts a Dispatcher delivering through m.
func NewDispatcher(m Mailer, opts DispatcherOptions) *Dispatcher {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = time.Second
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = time.Minute
	}
	if opts.MaxDelay < opts.BaseDelay {
		opts.MaxDelay = opts.BaseDelay
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.After == nil {
		opts.After = time.After
	}
	// Instruments fail only on invalid names, which these are not; a nil
	// *Instruments records nothing.
	tel, _ := telemetry.New(opts.MeterProvider, nil)
	ctx, cancel := context.WithCancel(context.Background())
	d := &Dispatcher{
		m:           m,
		opts:        opts,
		tel:         tel,
		queue:       make(chan job, opts.QueueSize),
		slots:       make(chan struct{}, opts.QueueSize),
		closing:     make(chan struct{}),
		ctx:         ctx,
		cancel:      cancel,
		done:        make(chan struct{}),
		outstanding: map[uint64]struct{}{},
		changed:     make(chan struct{}),
	}
	d.wg.Add(opts.Workers)
	for range opts.Workers {
		go d.work()
	}
	go func() {
		d.wg.Wait()
		close(d.done)
	}()
	return d
}

// Send queues a copy of msg and returns without waiting for delivery. It
// returns ErrQueueFull when the queue is still full after Wait and
// ErrClosed after Close; the message was not accepted then. Delivery does not use ctx, which may
// end as soon as Send returns.
func (d *Dispatcher) Send(ctx context.Context, msg *Message) error {
	if msg == nil {
		return Permanent(errors.New("mailer: nil message"))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c := *msg
	return d.enqueue(ctx, job{msg: &c})
}

// SendLinkMail queues d to be rendered with r and sent by a worker; it
// returns like Send. A rendering failure is a final failure of that mail,
// reported like a permanent delivery error.
func (d *Dispatcher) SendLinkMail(ctx context.Context, r Renderer, data LinkData) error {
	if r == nil {
		return Permanent(errors.New("mailer: nil renderer"))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return d.enqueue(ctx, job{render: r, data: data})
}

func (d *Dispatcher) enqueue(ctx context.Context, j job) error {
	if err := d.acquire(ctx); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		d.release()
		return ErrClosed
	}
	d.push(j)
	return nil
}

// acquire takes one slot of the queue, waiting up to Wait for one to free.
func (d *Dispatcher) acquire(ctx context.Context) error {
	select {
	case <-d.closing:
		return ErrClosed
	case d.slots <- struct{}{}:
		return nil
	default:
	}
	if d.opts.Wait <= 0 {
		return ErrQueueFull
	}
	select {
	case d.slots <- struct{}{}:
		return nil
	case <-d.opts.After(d.opts.Wait):
		return ErrQueueFull
	case <-ctx.Done():
		return ctx.Err()
	case <-d.closing:
		return ErrClosed
	}
}

// release gives back a slot taken by acquire.
func (d *Dispatcher) release() { <-d.slots }

// push queues j into the slot it holds. The caller holds d.mu, and the
// queue is open: Close closes it only under d.mu once no reservation is
// outstanding, and every push comes from a send after a closed check or
// from a reservation.
func (d *Dispatcher) push(j job) {
	d.seq++
	j.seq = d.seq
	d.outstanding[j.seq] = struct{}{}
	d.queue <- j
}

// Flush waits until every mail queued before the call was delivered or
// finally failed, or ctx ends (then it returns ctx.Err()).
func (d *Dispatcher) Flush(ctx context.Context) error {
	d.mu.Lock()
	target := d.seq
	d.mu.Unlock()
	for {
		d.mu.Lock()
		pending := false
		for s := range d.outstanding {
			if s <= target {
				pending = true
				break
			}
		}
		changed := d.changed
		d.mu.Unlock()
		if !pending {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops accepting mail and reservations, waits for the reservations
// outstanding to be committed or cancelled, and then until the queue and
// the mails in flight are delivered or finally failed, retries included.
// When ctx ends first, Close gives up the reservations still outstanding
// (their commits fail with ErrClosed), abandons the remaining mails (each
// is reported as failed), interrupts deliveries and backoff waits, waits
// for the workers to return and returns ctx.Err(). Either way no goroutine
// of the Dispatcher remains. Calling Close again waits the same way.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.closing)
	}
	if d.reserved == 0 {
		d.closeQueue()
	}
	d.mu.Unlock()
	select {
	case <-d.done:
		d.cancel()
		return nil
	case <-ctx.Done():
		// Reservations still outstanding are given up: their commits
		// fail with ErrClosed.
		d.mu.Lock()
		d.closeQueue()
		d.mu.Unlock()
		d.cancel()
		<-d.done
		return ctx.Err()
	}
}

// closeQueue closes the queue once, so the workers stop when it is
// drained. The caller holds d.mu.
func (d *Dispatcher) closeQueue() {
	if !d.queueClosed {
		d.queueClosed = true
		close(d.queue)
	}
}

func (d *Dispatcher) work() {
	defer d.wg.Done()
	for j := range d.queue {
		d.release()
		msg := j.msg
		if j.render != nil {
			var err error
			if msg, err = j.render.Render(j.data); err != nil {
				d.fail(&Message{To: j.data.To, Link: j.data.Link, Code: j.data.Code}, 0, Permanent(fmt.Errorf("mailer: rendering: %w", err)))
				d.finish(j.seq)
				continue
			}
		}
		d.deliver(msg)
		d.finish(j.seq)
	}
}

func (d *Dispatcher) finish(seq uint64) {
	d.mu.Lock()
	delete(d.outstanding, seq)
	close(d.changed)
	d.changed = make(chan struct{})
	d.mu.Unlock()
}

// deliver sends msg, retrying temporary errors, and reports a final failure.
// Every attempt carries the same ID, so retries are recognisable duplicates.
func (d *Dispatcher) deliver(msg *Message) {
	if msg.ID == "" {
		var b [16]byte
		_, _ = crand.Read(b[:])
		msg.ID = hex.EncodeToString(b[:])
	}
	for attempt := 1; ; attempt++ {
		if err := d.ctx.Err(); err != nil {
			d.fail(msg, attempt-1, fmt.Errorf("mailer: abandoned at close: %w", err))
			return
		}
		start := time.Now()
		err := d.m.Send(d.ctx, msg)
		d.tel.Delivered(d.ctx, err, IsTemporary(err), time.Since(start))
		if err == nil {
			return
		}
		if !IsTemporary(err) || attempt >= d.opts.MaxAttempts || d.ctx.Err() != nil {
			d.fail(msg, attempt, err)
			return
		}
		select {
		case <-d.opts.After(d.backoff(attempt)):
		case <-d.ctx.Done():
			d.fail(msg, attempt, fmt.Errorf("mailer: abandoned at close: %w", err))
			return
		}
	}
}

// backoff returns the wait after the given failed attempt (1-based): full
// jitter over an exponentially growing cap.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	limit := d.opts.BaseDelay
	for i := 1; i < attempt && limit < d.opts.MaxDelay; i++ {
		limit *= 2
	}
	limit = min(limit, d.opts.MaxDelay)
	return time.Duration(rand.Int64N(int64(limit) + 1))
}

func (d *Dispatcher) fail(msg *Message, attempts int, err error) {
	masked := MaskAddress(msg.To)
	text := mask.Redact(err.Error(), msg.To, msg.Link, msg.Code)
	d.opts.Logger.LogAttrs(context.Background(), slog.LevelError, "mailer: delivery failed",
		slog.String("to", masked),
		slog.Int("attempts", attempts),
		slog.Bool("temporary", IsTemporary(err)),
		slog.String("error", text),
	)
	if d.opts.OnFailure != nil {
		d.opts.OnFailure(msg, err)
	}
}

// MaskAddress hides most of an e-mail address for logs:
// "jane@example.com" becomes "j***@example.com". Anything that is not an
// address becomes "***".
func MaskAddress(addr string) string {
	return mask.Address(addr)
}
