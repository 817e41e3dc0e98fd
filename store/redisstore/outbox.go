package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/magiclink-go/magiclink/internal/outbox"
	"github.com/magiclink-go/magiclink/mailer"
)

// DefaultOutboxName names the outbox without WithOutboxName.
const DefaultOutboxName = "mail"

// deadLetterCap bounds the dead-letter stream (approximately, MAXLEN ~).
const deadLetterCap = 10000

// Outbox is a durable mailer.Outbox on Redis Streams; see NewOutbox.
type Outbox struct {
	engine *outbox.Outbox
	q      *streamQueue
}

var (
	_ mailer.Outbox   = (*Outbox)(nil)
	_ mailer.Reserver = (*Outbox)(nil)
)

// OutboxOption configures the Redis side of NewOutbox.
type OutboxOption func(*outboxConfig)

type outboxConfig struct {
	prefix, name, consumer string
	timeout                time.Duration
	traced                 bool // WithOutboxTracerProvider was given
	tracerProvider         trace.TracerProvider
}

// WithOutboxPrefix sets the key prefix (default "ml"), as WithPrefix does
// for a Store.
func WithOutboxPrefix(p string) OutboxOption { return func(c *outboxConfig) { c.prefix = p } }

// WithOutboxName names the outbox (default DefaultOutboxName), so that
// several outboxes can share one Redis: 1–64 characters of
// [A-Za-z0-9_.:@/+=-]. Instances with the same prefix and name share one
// queue.
func WithOutboxName(name string) OutboxOption { return func(c *outboxConfig) { c.name = name } }

// WithOutboxConsumer sets this instance's consumer name in the stream's
// consumer group (default: host name, process ID and a random suffix).
// Two live instances must never share one.
func WithOutboxConsumer(name string) OutboxOption {
	return func(c *outboxConfig) { c.consumer = name }
}

// WithOutboxTimeout sets the deadline of each Redis call whose context has
// none (default DefaultTimeout); a blocking read gets its wait on top.
func WithOutboxTimeout(d time.Duration) OutboxOption {
	return func(c *outboxConfig) { c.timeout = d }
}

// NewOutbox starts a durable outbox on Redis Streams that delivers through
// m; it implements the whole mailer.Outbox contract, and is a Mailer and
// LinkSender usable as magiclink Config.Mailer. opts.Secret is required
// (the server secret; a sealing subkey is derived from it).
//
// An accepted send is one XADD of the sealed payload. Each instance's
// workers read new entries as one consumer of a consumer group
// (XREADGROUP), deliver, then XACK and XDEL them, so delivered mail does
// not stay in Redis. Entries another instance left pending longer than
// opts.VisibilityTimeout are taken over with XAUTOCLAIM. A temporary
// failure moves the entry to a sorted set of retries keyed by due time,
// with its attempt count; due retries are appended to the stream again.
// Dead letters go to a capped stream (about 10,000 entries), still sealed.
// Keys, all in one Cluster slot:
//
//	ml:{outbox:<name>}:s    queued mails (stream; group "mailer")
//	ml:{outbox:<name>}:r    retries (sorted set by due time)
//	ml:{outbox:<name>}:ra   retries by acceptance time (for Stats)
//	ml:{outbox:<name>}:d    dead letters (stream)
//
// Accepted means what Redis makes of a write: run it with appendonly yes
// (appendfsync always to lose nothing on a power cut, everysec to risk a
// second) or with replicas. NewOutbox performs no I/O; while Redis is down
// sends fail with an error matching store.ErrUnavailable and the workers
// wait for it to come back. The outbox is a mailer.Reserver: after a failed
// XADD, Reserve refuses with that error, without a round trip, until a
// trial after a cool-down succeeds (see mailer.Outbox), so a Service's
// refused sends change nothing. Close must be called to stop the workers.
func NewOutbox(rdb redis.UniversalClient, m mailer.Mailer, opts mailer.OutboxOptions, more ...OutboxOption) (*Outbox, error) {
	if rdb == nil {
		return nil, errors.New("redisstore: outbox: nil client")
	}
	c := outboxConfig{prefix: DefaultPrefix, name: DefaultOutboxName, timeout: DefaultTimeout}
	for _, opt := range more {
		opt(&c)
	}
	if err := checkOutboxConfig(&c); err != nil {
		return nil, err
	}
	if c.traced {
		traceClient(rdb, c.tracerProvider, c.prefix)
	}
	o := outbox.Normalize(opts)
	tag := c.prefix + ":{outbox:" + c.name + "}:"
	q := &streamQueue{
		rdb: rdb, stream: tag + "s", retries: tag + "r", ages: tag + "ra", dead: tag + "d",
		group: "mailer", consumer: c.consumer, timeout: c.timeout,
		visibility: o.VisibilityTimeout, poll: o.PollInterval, cursor: "0-0",
		ack:          redis.NewScript(outboxAckScript),
		retry:        redis.NewScript(outboxRetryScript),
		bury:         redis.NewScript(outboxDeadScript),
		promote:      redis.NewScript(outboxPromoteScript),
		dropConsumer: redis.NewScript(outboxDropConsumerScript),
		prune:        redis.NewScript(outboxPruneScript),
	}
	engine, err := outbox.New(q, m, "redisstore: outbox", o)
	if err != nil {
		return nil, err
	}
	return &Outbox{engine: engine, q: q}, nil
}

func checkOutboxConfig(c *outboxConfig) error {
	if err := checkPrefix(c.prefix); err != nil {
		return err
	}
	if c.name == "" || len(c.name) > maxRawTag || idTag(c.name) != c.name {
		return fmt.Errorf("redisstore: outbox name %q must be 1–%d characters of [A-Za-z0-9_.:@/+=-]", c.name, maxRawTag)
	}
	if c.consumer == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.consumer = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if c.timeout < 0 {
		return fmt.Errorf("redisstore: outbox: negative timeout %v", c.timeout)
	}
	return nil
}

// Send stores a sealed copy of msg with one XADD and returns once Redis has
// it; see mailer.Outbox.
func (o *Outbox) Send(ctx context.Context, msg *mailer.Message) error {
	return o.engine.Send(ctx, msg)
}

// SendLinkMail stores d, rendered later by a worker when r is the
// outbox's own Renderer; see mailer.Outbox.
func (o *Outbox) SendLinkMail(ctx context.Context, r mailer.Renderer, d mailer.LinkData) error {
	return o.engine.SendLinkMail(ctx, r, d)
}

// Reserve holds room for one mail without a round trip, for a Service
// that must know before it stores a link whether the mail will be
// accepted; the reservation's commit is the one XADD. After a failed
// write it refuses, with an error matching store.ErrUnavailable when
// Redis was down, until a cool-down passes (see mailer.Outbox).
func (o *Outbox) Reserve(ctx context.Context) (mailer.Reservation, error) {
	return o.engine.Reserve(ctx)
}

// Stats reports the queue across all instances, in one round trip.
func (o *Outbox) Stats(ctx context.Context) (mailer.OutboxStats, error) { return o.engine.Stats(ctx) }

// Ping reports whether Redis answers, for readiness probes.
func (o *Outbox) Ping(ctx context.Context) error { return o.engine.Ping(ctx) }

// Close stops the workers (see mailer.Outbox); after a clean stop it
// removes this instance's consumer from the group.
func (o *Outbox) Close(ctx context.Context) error {
	if err := o.engine.Close(ctx); err != nil {
		return err
	}
	o.q.leave(ctx)
	return nil
}

// streamQueue is the outbox.Queue on Redis Streams.
type streamQueue struct {
	rdb                         redis.UniversalClient
	stream, retries, ages, dead string
	group, consumer             string
	timeout, visibility, poll   time.Duration

	ack, retry, bury, promote, dropConsumer, prune *redis.Script

	// Claim runs on the engine's one fetcher goroutine; these are its own.
	groupReady  bool
	cursor      string // XAUTOCLAIM position; "0-0" starts a new pass
	lastPromote time.Time
	lastReclaim time.Time

	mu      sync.Mutex
	nextDue time.Time // earliest retry known to be scheduled; zero: none known
}

func (q *streamQueue) withTimeout(ctx context.Context, extra time.Duration) (context.Context, context.CancelFunc) {
	if q.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, q.timeout+extra)
}

func (q *streamQueue) Add(ctx context.Context, e outbox.Entry) error {
	ctx, cancel := q.withTimeout(ctx, 0)
	defer cancel()
	err := q.rdb.XAdd(ctx, &redis.XAddArgs{Stream: q.stream, Values: []any{
		"id", e.ID, "t", e.Accepted.UnixMilli(), "n", 0, "p", e.Sealed,
	}}).Err()
	return mapErr("outbox add", err)
}

// Claim promotes due retries, takes over abandoned entries and reads new
// ones, in that order, skipping the first two when they cannot have work.
func (q *streamQueue) Claim(ctx context.Context, n int, clock func() time.Time, wait time.Duration) ([]outbox.Entry, error) {
	if err := q.ensureGroup(ctx); err != nil {
		return nil, err
	}
	now := clock()
	// A claim that must not wait is a drain: look at the retries always.
	next, err := q.promoteDue(ctx, now, wait <= 0)
	if err != nil {
		return nil, q.lost(err)
	}
	if !next.IsZero() {
		wait = min(wait, max(next.Sub(now), time.Millisecond))
	}
	entries, err := q.reclaim(ctx, n)
	if err != nil || len(entries) > 0 {
		return entries, q.lost(err)
	}
	entries, err = q.read(ctx, n, wait)
	return entries, q.lost(err)
}

// lost notices a consumer group that vanished (the key was deleted, or
// Redis restarted empty), so that the next Claim creates it again.
func (q *streamQueue) lost(err error) error {
	if err != nil && strings.Contains(err.Error(), "NOGROUP") {
		q.groupReady = false
	}
	return err
}

func (q *streamQueue) ensureGroup(ctx context.Context) error {
	if q.groupReady {
		return nil
	}
	ctx, cancel := q.withTimeout(ctx, 0)
	defer cancel()
	// From 0, not $: entries accepted before the group existed are queued
	// mail too.
	err := q.rdb.XGroupCreateMkStream(ctx, q.stream, q.group, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return mapErr("outbox group", err)
	}
	q.groupReady = true
	return nil
}

// promoteDue moves due retries to the stream when one may be due: when the
// earliest known is, or a poll interval passed (other instances schedule
// retries too), or force is set. It returns the earliest retry still
// waiting, if known.
func (q *streamQueue) promoteDue(ctx context.Context, now time.Time, force bool) (time.Time, error) {
	q.mu.Lock()
	next := q.nextDue
	q.mu.Unlock()
	if (next.IsZero() || now.Before(next)) && time.Since(q.lastPromote) < q.poll && !force {
		return next, nil
	}
	ctx, cancel := q.withTimeout(ctx, 0)
	defer cancel()
	known := next
	res, err := q.promote.Run(ctx, q.rdb, []string{q.stream, q.retries, q.ages}, now.UnixMilli(), 256).Slice()
	if err != nil {
		return time.Time{}, mapErr("outbox promote", err)
	}
	q.lastPromote = time.Now()
	next = time.Time{}
	if len(res) == 2 {
		if s, ok := res[1].(string); ok {
			if ms, err := strconv.ParseFloat(s, 64); err == nil {
				next = time.UnixMilli(int64(ms))
			}
		}
	}
	q.mu.Lock()
	if q.nextDue.Equal(known) {
		q.nextDue = next
	} else if !q.nextDue.IsZero() && (next.IsZero() || q.nextDue.Before(next)) {
		// A worker scheduled a retry while the script ran: keep its due
		// time, which the script may not have seen.
		next = q.nextDue
	}
	q.mu.Unlock()
	return next, nil
}

// reclaim takes over entries pending longer than the visibility timeout,
// a quarter of it after the last pass, continuing a pass at once while it
// finds a full batch. A finished pass also prunes the consumers of dead
// instances (one more round trip per pass).
func (q *streamQueue) reclaim(ctx context.Context, n int) ([]outbox.Entry, error) {
	if q.cursor == "0-0" && time.Since(q.lastReclaim) < max(q.visibility/4, 10*time.Millisecond) {
		return nil, nil
	}
	ctx, cancel := q.withTimeout(ctx, 0)
	defer cancel()
	msgs, cursor, err := q.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: q.stream, Group: q.group, Consumer: q.consumer,
		MinIdle: q.visibility, Start: q.cursor, Count: int64(n),
	}).Result()
	if err != nil {
		return nil, mapErr("outbox reclaim", err)
	}
	if cursor == "0-0" {
		q.lastReclaim = time.Now()
		// A pass is complete: the entries of dead instances are ours now,
		// so their consumers can go. Best effort; the next pass retries.
		_ = q.prune.Run(ctx, q.rdb, []string{q.stream}, q.group, q.consumer, q.visibility.Milliseconds()).Err()
	}
	q.cursor = cursor
	entries := decodeEntries(msgs)
	if len(entries) == 0 {
		return nil, nil
	}
	q.countLost(ctx, entries)
	return entries, nil
}

// countLost adds to each reclaimed entry the attempts lost with the
// instances that held it: its delivery count says how often the group
// handed it out (this claim included) since it entered the stream, and
// every hand-out but this one ended without an ack, retry or dead letter.
// One more round trip, on the reclaim path only.
func (q *streamQueue) countLost(ctx context.Context, entries []outbox.Entry) {
	pending, err := q.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: q.stream, Group: q.group, Consumer: q.consumer,
		Start: entries[0].Ref, End: entries[len(entries)-1].Ref, Count: int64(len(entries)) + 1024,
	}).Result()
	if err != nil {
		return // the entries are claimed: deliver them; the count is a safety net
	}
	counts := make(map[string]int64, len(pending))
	for _, p := range pending {
		counts[p.ID] = p.RetryCount
	}
	for i := range entries {
		if c := counts[entries[i].Ref]; c > 1 {
			entries[i].Attempts += int(c - 1)
		}
	}
}

func (q *streamQueue) read(ctx context.Context, n int, wait time.Duration) ([]outbox.Entry, error) {
	block := time.Duration(-1) // go-redis: no BLOCK argument
	if wait > 0 {
		block = max(wait, time.Millisecond) // BLOCK 0 would wait forever
	}
	ctx, cancel := q.withTimeout(ctx, max(block, 0))
	defer cancel()
	res, err := q.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: q.group, Consumer: q.consumer, Streams: []string{q.stream, ">"},
		Count: int64(n), Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr("outbox read", err)
	}
	var out []outbox.Entry
	for _, s := range res {
		out = append(out, decodeEntries(s.Messages)...)
	}
	return out, nil
}

// decodeEntries turns stream entries into outbox entries. A field that is
// missing or malformed yields an entry that fails to open and ends as a
// dead letter, rather than one that silently disappears.
func decodeEntries(msgs []redis.XMessage) []outbox.Entry {
	out := make([]outbox.Entry, 0, len(msgs))
	for _, m := range msgs {
		e := outbox.Entry{Ref: m.ID, ID: m.ID}
		if id, ok := m.Values["id"].(string); ok && id != "" {
			e.ID = id
		}
		if t, ok := m.Values["t"].(string); ok {
			if ms, err := strconv.ParseInt(t, 10, 64); err == nil {
				e.Accepted = time.UnixMilli(ms)
			}
		}
		if n, ok := m.Values["n"].(string); ok {
			e.Attempts, _ = strconv.Atoi(n)
		}
		if p, ok := m.Values["p"].(string); ok {
			e.Sealed = []byte(p)
		}
		out = append(out, e)
	}
	return out
}

func (q *streamQueue) Ack(ctx context.Context, e outbox.Entry) error {
	ctx, cancel := q.withTimeout(ctx, 0)
	defer cancel()
	return mapErr("outbox ack", q.ack.Run(ctx, q.rdb, []string{q.stream}, q.group, e.Ref).Err())
}

func (q *streamQueue) Retry(ctx context.Context, e outbox.Entry, due time.Time) error {
	ctx, cancel := q.withTimeout(ctx, 0)
	defer cancel()
	member := make([]byte, 0, 48+len(e.ID)+len(e.Sealed))
	member = strconv.AppendInt(member, int64(e.Attempts), 10)
	member = append(member, ':')
	member = append(member, e.ID...)
	member = append(member, ':')
	member = append(member, e.Sealed...)
	err := q.retry.Run(ctx, q.rdb, []string{q.stream, q.retries, q.ages},
		q.group, e.Ref, q.consumer, due.UnixMilli(), member, e.ID, e.Accepted.UnixMilli()).Err()
	if err != nil {
		return mapErr("outbox retry", err)
	}
	q.mu.Lock()
	if q.nextDue.IsZero() || due.Before(q.nextDue) {
		q.nextDue = due
	}
	q.mu.Unlock()
	return nil
}

func (q *streamQueue) Dead(ctx context.Context, e outbox.Entry, reason string) error {
	ctx, cancel := q.withTimeout(ctx, 0)
	defer cancel()
	err := q.bury.Run(ctx, q.rdb, []string{q.stream, q.dead},
		q.group, e.Ref, q.consumer, e.ID, e.Accepted.UnixMilli(), e.Attempts, e.Sealed, reason, deadLetterCap).Err()
	return mapErr("outbox dead letter", err)
}

// Stats reads every count in one pipeline (one round trip; one slot).
func (q *streamQueue) Stats(ctx context.Context, now time.Time) (mailer.OutboxStats, error) {
	ctx, cancel := q.withTimeout(ctx, 0)
	defer cancel()
	pipe := q.rdb.Pipeline()
	queued := pipe.XLen(ctx, q.stream)
	retrying := pipe.ZCard(ctx, q.retries)
	pending := pipe.XPending(ctx, q.stream, q.group)
	dead := pipe.XLen(ctx, q.dead)
	head := pipe.XRangeN(ctx, q.stream, "-", "+", 1)
	oldestRetry := pipe.ZRangeWithScores(ctx, q.ages, 0, 0)
	_, _ = pipe.Exec(ctx)
	for _, c := range []redis.Cmder{queued, retrying, dead, head, oldestRetry} {
		if err := c.Err(); err != nil {
			return mailer.OutboxStats{}, mapErr("outbox stats", err)
		}
	}
	s := mailer.OutboxStats{Queued: queued.Val() + retrying.Val(), Retrying: retrying.Val(), Dead: dead.Val()}
	switch err := pending.Err(); {
	case err == nil:
		s.InFlight = pending.Val().Count
	case !strings.Contains(err.Error(), "NOGROUP"): // no group yet: nothing claimed
		return mailer.OutboxStats{}, mapErr("outbox stats", err)
	}
	var oldest time.Time
	if h := decodeEntries(head.Val()); len(h) == 1 && !h[0].Accepted.IsZero() {
		oldest = h[0].Accepted
	}
	if z := oldestRetry.Val(); len(z) == 1 {
		if t := time.UnixMilli(int64(z[0].Score)); oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	if !oldest.IsZero() && s.Queued > 0 {
		s.OldestAge = max(now.Sub(oldest), 0)
	}
	return s, nil
}

func (q *streamQueue) Ping(ctx context.Context) error {
	ctx, cancel := q.withTimeout(ctx, 0)
	defer cancel()
	return mapErr("outbox ping", q.rdb.Ping(ctx).Err())
}

// leave removes this instance's consumer from the group when it holds no
// pending entry; failures only leave an idle consumer behind.
func (q *streamQueue) leave(ctx context.Context) {
	ctx, cancel := q.withTimeout(context.WithoutCancel(ctx), 0)
	defer cancel()
	_ = q.dropConsumer.Run(ctx, q.rdb, []string{q.stream}, q.group, q.consumer).Err()
}
