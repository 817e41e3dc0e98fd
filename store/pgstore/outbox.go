package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/magiclink-go/magiclink/internal/outbox"
	"github.com/magiclink-go/magiclink/mailer"
)

// DefaultOutboxName names the outbox without WithOutboxName.
const DefaultOutboxName = "mail"

// deadLetterCap is how many dead letters an outbox keeps, newest first;
// the store's sweeper deletes older ones.
const deadLetterCap = 10000

// Outbox is a durable mailer.Outbox on PostgreSQL; see Store.NewOutbox.
type Outbox struct {
	engine *outbox.Outbox
	q      *rowQueue
}

var (
	_ mailer.Outbox   = (*Outbox)(nil)
	_ mailer.Reserver = (*Outbox)(nil)
)

// OutboxOption configures NewOutbox.
type OutboxOption func(*outboxConfig)

type outboxConfig struct{ name string }

// WithOutboxName names the outbox (default DefaultOutboxName), so that
// several outboxes can share one schema: 1–64 bytes. Instances with the
// same schema and name share one queue.
func WithOutboxName(name string) OutboxOption { return func(c *outboxConfig) { c.name = name } }

// NewOutbox starts a durable outbox in the store's database and schema that
// delivers through m. It implements the whole mailer.Outbox contract and is
// a Mailer and LinkSender usable as magiclink Config.Mailer. opts.Secret is
// required (the server secret; a sealing subkey is derived from it).
//
// An accepted send is one INSERT of the sealed payload, committed before
// Send returns, that also notifies the listening instances. Each
// instance's fetcher claims ready rows with one UPDATE over a SELECT … FOR
// UPDATE SKIP LOCKED, so instances never claim the same row and never wait
// on each other; an idle fetcher waits for new mail on a connection of its
// own that LISTENs (taken out of the pool for the outbox's life), for as
// long as the engine lets one claim wait, then looks for due retries and
// abandoned rows again: one cheap statement per wait.
// A claim stamps the row with a token and a visibility deadline on the
// database clock; retry and dead letter act only on the row with that
// token, so a row another instance took over after the visibility timeout
// is rescheduled or buried once, while an ack (DELETE) of a delivered mail
// acts regardless, sparing the other instance a duplicate. A reclaim counts the attempt the
// stuck instance lost. The store's sweeper keeps the newest 10,000 dead
// letters of each outbox.
//
// NewOutbox performs no I/O; while the database is down sends fail with an
// error matching store.ErrUnavailable and the workers wait for it. The
// outbox is a mailer.Reserver: after a failed INSERT, Reserve refuses with
// that error, without a round trip, until a trial after a cool-down
// succeeds (see mailer.Outbox), so a Service's refused sends change
// nothing. Close must be called to stop the workers, before the pool is
// closed.
func (s *Store) NewOutbox(m mailer.Mailer, opts mailer.OutboxOptions, more ...OutboxOption) (*Outbox, error) {
	c := outboxConfig{name: DefaultOutboxName}
	for _, opt := range more {
		opt(&c)
	}
	if c.name == "" || len(c.name) > 64 {
		return nil, fmt.Errorf("pgstore: outbox name %q must be 1-64 bytes", c.name)
	}
	o := outbox.Normalize(opts)
	q := &rowQueue{s: s, name: c.name, channel: notifyChannel(s.schema, c.name), visibility: o.VisibilityTimeout,
		q: newOutboxQueries(s.schema)}
	engine, err := outbox.New(q, m, "pgstore: outbox", o)
	if err != nil {
		return nil, err
	}
	return &Outbox{engine: engine, q: q}, nil
}

// Send stores a sealed copy of msg and returns once it is committed; see
// mailer.Outbox.
func (o *Outbox) Send(ctx context.Context, msg *mailer.Message) error { return o.engine.Send(ctx, msg) }

// SendLinkMail stores d, rendered later by a worker when r is the outbox's
// own Renderer; see mailer.Outbox.
func (o *Outbox) SendLinkMail(ctx context.Context, r mailer.Renderer, d mailer.LinkData) error {
	return o.engine.SendLinkMail(ctx, r, d)
}

// Reserve holds room for one mail without a round trip, for a Service
// that must know before it stores a link whether the mail will be
// accepted; the reservation's commit is the one INSERT. After a failed
// write it refuses, with an error matching store.ErrUnavailable when
// the database was down, until a cool-down passes (see mailer.Outbox).
func (o *Outbox) Reserve(ctx context.Context) (mailer.Reservation, error) {
	return o.engine.Reserve(ctx)
}

// Stats reports the queue across all instances, in one statement.
func (o *Outbox) Stats(ctx context.Context) (mailer.OutboxStats, error) { return o.engine.Stats(ctx) }

// Ping reports whether the database answers, for readiness probes.
func (o *Outbox) Ping(ctx context.Context) error { return o.engine.Ping(ctx) }

// Close stops the workers (see mailer.Outbox), then closes the connection
// that listened for new mail.
func (o *Outbox) Close(ctx context.Context) error {
	err := o.engine.Close(ctx)
	o.q.stopListening()
	return err
}

// notifyChannel is the LISTEN channel of one outbox: a short hash, since
// channel names are identifiers of at most 63 bytes.
func notifyChannel(schema, name string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(schema + "\x00" + name))
	return "magiclink_outbox_" + strconv.FormatUint(h.Sum64(), 16)
}

const outboxAddSQL = `
WITH added AS (
    INSERT INTO {schema}.outbox (name, msg_id, accepted_at, due_at, sealed) VALUES ($1, $2, $3, $3, $4)
    RETURNING ref
)
SELECT pg_notify($5, '') FROM added`

// outboxClaimSQL claims up to $3 ready rows of outbox $1: new mail and due
// retries (due_at ≤ $2, unclaimed) and rows whose claim's visibility
// deadline passed, which count the attempt their instance lost. SKIP
// LOCKED lets concurrent claimers take disjoint rows without waiting.
const outboxClaimSQL = `
WITH ready AS (
    SELECT ref FROM {schema}.outbox
    WHERE name = $1 AND NOT dead AND due_at <= $2
        AND (claimed_until IS NULL OR claimed_until <= clock_timestamp())
    ORDER BY due_at, ref
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
UPDATE {schema}.outbox AS o SET
    claim = $4,
    attempts = o.attempts + CASE WHEN o.claim IS NULL THEN 0 ELSE 1 END,
    claimed_until = clock_timestamp() + $5::float8 * interval '1 microsecond'
FROM ready WHERE o.ref = ready.ref
RETURNING o.ref, o.msg_id, o.attempts, o.accepted_at, o.sealed`

const (
	outboxAckSQL   = `DELETE FROM {schema}.outbox WHERE ref = $1 AND NOT dead`
	outboxRetrySQL = `
UPDATE {schema}.outbox SET attempts = $3, due_at = $4, claim = NULL, claimed_until = NULL
WHERE ref = $1 AND claim = $2`
	outboxDeadSQL = `
UPDATE {schema}.outbox SET dead = true, reason = $3, attempts = $4, claim = NULL, claimed_until = NULL
WHERE ref = $1 AND claim = $2`
	outboxStatsSQL = `
SELECT
    count(*) FILTER (WHERE NOT dead),
    count(*) FILTER (WHERE NOT dead AND claimed_until > clock_timestamp()),
    count(*) FILTER (WHERE NOT dead AND claim IS NULL AND due_at > $2),
    count(*) FILTER (WHERE dead),
    min(accepted_at) FILTER (WHERE NOT dead)
FROM {schema}.outbox WHERE name = $1`
	// sweepDeadLettersSQL keeps the newest deadLetterCap dead letters of
	// every outbox in the schema, deleting at most $2 rows.
	sweepDeadLettersSQL = `
DELETE FROM {schema}.outbox WHERE ref IN (
    SELECT ref FROM (
        SELECT ref, row_number() OVER (PARTITION BY name ORDER BY ref DESC) AS n
        FROM {schema}.outbox WHERE dead
    ) AS d WHERE n > $1 LIMIT $2
)`
)

// rowQueue is the outbox.Queue on the outbox table. Claim runs on the
// engine's one fetcher goroutine.
type rowQueue struct {
	s             *Store
	name, channel string
	visibility    time.Duration
	q             outboxQueries
	// listener is the connection that LISTENs for new mail, or nil; only
	// the fetcher (through Claim) and Outbox.Close after it use it.
	listener *pgx.Conn
}

// outboxQueries are the outbox's statements in the store's schema.
type outboxQueries struct{ add, claim, ack, retry, dead, stats string }

func newOutboxQueries(schema string) outboxQueries {
	return outboxQueries{
		add: withSchema(outboxAddSQL, schema), claim: withSchema(outboxClaimSQL, schema),
		ack: withSchema(outboxAckSQL, schema), retry: withSchema(outboxRetrySQL, schema),
		dead: withSchema(outboxDeadSQL, schema), stats: withSchema(outboxStatsSQL, schema),
	}
}

func (q *rowQueue) Add(ctx context.Context, e outbox.Entry) error {
	ctx, cancel := q.s.withTimeout(ctx)
	defer cancel()
	_, err := q.s.db.exec(ctx, "outbox_add", q.q.add, q.name, e.ID, e.Accepted, e.Sealed, q.channel)
	if err != nil {
		return q.s.fail(ctx, "outbox add", err)
	}
	return nil
}

// Claim claims ready rows; when there are none and wait > 0 it listens for
// new mail, up to wait, and tries once more.
func (q *rowQueue) Claim(ctx context.Context, n int, now func() time.Time, wait time.Duration) ([]outbox.Entry, error) {
	entries, err := q.claim(ctx, q.s.pool, n, now())
	if err != nil || len(entries) > 0 || wait <= 0 {
		return entries, err
	}
	return q.listen(ctx, n, now, wait)
}

// claimQuerier is a pool or a connection.
type claimQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func (q *rowQueue) claim(ctx context.Context, db claimQuerier, n int, now time.Time) ([]outbox.Entry, error) {
	ctx, cancel := q.s.withTimeout(ctx)
	defer cancel()
	var b [8]byte
	_, _ = rand.Read(b[:])
	token := int64(binary.LittleEndian.Uint64(b[:]) >> 1)
	rows, err := db.Query(ctx, q.q.claim, q.name, now, n, token, q.visibility.Microseconds())
	if err != nil {
		return nil, q.s.fail(ctx, "outbox claim", err)
	}
	defer rows.Close()
	var out []outbox.Entry
	for rows.Next() {
		var ref int64
		e := outbox.Entry{}
		if err := rows.Scan(&ref, &e.ID, &e.Attempts, &e.Accepted, &e.Sealed); err != nil {
			return nil, q.s.fail(ctx, "outbox claim", err)
		}
		e.Ref = strconv.FormatInt(ref, 10) + "." + strconv.FormatInt(token, 10)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, q.s.fail(ctx, "outbox claim", err)
	}
	return out, nil
}

// listen waits up to wait for a notification of new mail on the queue's
// listening connection, and claims again when one comes. The connection is
// taken out of the pool (it must serve nobody else while it listens) and
// kept across claims, so an idle instance costs one claim per wait; right
// after LISTEN it claims once more, so mail added before LISTEN took
// effect is not missed. A claim after a notification reads the clock
// again: the new row is due from when it was accepted, after the wait
// began.
func (q *rowQueue) listen(ctx context.Context, n int, now func() time.Time, wait time.Duration) ([]outbox.Entry, error) {
	fresh := q.listener == nil
	if fresh {
		if err := q.startListening(ctx); err != nil {
			return nil, err
		}
		if entries, err := q.claim(ctx, q.s.pool, n, now()); err != nil || len(entries) > 0 {
			return entries, err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	_, err := q.listener.WaitForNotification(wctx)
	cancel()
	switch {
	case err == nil:
		return q.claim(ctx, q.s.pool, n, now())
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && !q.listener.IsClosed():
		return nil, nil // no mail within wait: the fetcher polls again
	}
	q.stopListening()
	return nil, q.s.fail(ctx, "outbox listen", err)
}

func (q *rowQueue) startListening(ctx context.Context) error {
	ctx, cancel := q.s.withTimeout(ctx)
	defer cancel()
	c, err := q.s.pool.Acquire(ctx)
	if err != nil {
		return q.s.fail(ctx, "outbox listen", err)
	}
	conn := c.Hijack()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{q.channel}.Sanitize()); err != nil {
		_ = conn.Close(context.Background())
		return q.s.fail(ctx, "outbox listen", err)
	}
	q.listener = conn
	return nil
}

// stopListening closes the listening connection, if any. The engine's
// fetcher has stopped or is the caller, so nothing else uses it.
func (q *rowQueue) stopListening() {
	if q.listener != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = q.listener.Close(ctx)
		q.listener = nil
	}
}

// parseRef splits an Entry.Ref into the row and the claim token.
func parseRef(ref string) (row, claim int64, err error) {
	a, b, ok := strings.Cut(ref, ".")
	row, err1 := strconv.ParseInt(a, 10, 64)
	claim, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("pgstore: outbox: %w: entry ref %q", errCorrupt, ref)
	}
	return row, claim, nil
}

// finish runs one statement on the row of e, with the row's number and
// the claim's token as $1 and $2 when claimed is set, else the row alone.
func (q *rowQueue) finish(ctx context.Context, op, stmt string, e outbox.Entry, claimed bool, args ...any) error {
	row, claim, err := parseRef(e.Ref)
	if err != nil {
		return err
	}
	ctx, cancel := q.s.withTimeout(ctx)
	defer cancel()
	lead := []any{row}
	if claimed {
		lead = append(lead, claim)
	}
	if _, err := q.s.pool.Exec(ctx, stmt, append(lead, args...)...); err != nil {
		return q.s.fail(ctx, op, err)
	}
	return nil
}

// Ack deletes a delivered row even when another instance has claimed it
// since (its visibility timeout passed): the mail did go out, and deleting
// it spares a duplicate. A row another instance dead-lettered meanwhile
// stays.
func (q *rowQueue) Ack(ctx context.Context, e outbox.Entry) error {
	return q.finish(ctx, "outbox ack", q.q.ack, e, false)
}

// Retry reschedules the row only while this claim holds it.
func (q *rowQueue) Retry(ctx context.Context, e outbox.Entry, due time.Time) error {
	return q.finish(ctx, "outbox retry", q.q.retry, e, true, e.Attempts, due)
}

// Dead buries the row only while this claim holds it.
func (q *rowQueue) Dead(ctx context.Context, e outbox.Entry, reason string) error {
	return q.finish(ctx, "outbox dead letter", q.q.dead, e, true, reason, e.Attempts)
}

func (q *rowQueue) Stats(ctx context.Context, now time.Time) (mailer.OutboxStats, error) {
	ctx, cancel := q.s.withTimeout(ctx)
	defer cancel()
	var st mailer.OutboxStats
	var oldest *time.Time
	err := q.s.pool.QueryRow(ctx, q.q.stats, q.name, now).
		Scan(&st.Queued, &st.InFlight, &st.Retrying, &st.Dead, &oldest)
	if err != nil {
		return mailer.OutboxStats{}, q.s.fail(ctx, "outbox stats", err)
	}
	if oldest != nil && st.Queued > 0 {
		st.OldestAge = max(now.Sub(*oldest), 0)
	}
	return st, nil
}

func (q *rowQueue) Ping(ctx context.Context) error {
	ctx, cancel := q.s.withTimeout(ctx)
	defer cancel()
	if err := q.s.pool.Ping(ctx); err != nil {
		return q.s.fail(ctx, "outbox ping", err)
	}
	return nil
}
