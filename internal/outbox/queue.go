// Package outbox is the delivery engine shared by the durable outboxes of
// magiclink (store/redisstore, store/pgstore): sealing, payload encoding,
// the worker pool, retries with backoff, dead letters and Close. A backend
// supplies only storage, as a Queue; the engine makes it a mailer.Outbox,
// and mailer/outboxtest checks the result.
//
// A Queue needs, per entry, its ID, acceptance time, attempt count, sealed
// payload, a "claimable from" time and, while claimed, its claimer and
// claim time. Claim takes entries claimable by now (or claimed longer ago
// than the visibility timeout, counting the lost attempt) and marks them
// claimed by this instance, atomically so that two instances never claim
// one entry at once (Redis: a consumer group; SQL: UPDATE … WHERE id IN
// (SELECT … FOR UPDATE SKIP LOCKED) RETURNING …). Retry and Dead act only
// while the entry is still claimed by this instance; Ack may act
// regardless. The engine calls Claim from one goroutine per instance and
// the other methods from its workers.
package outbox

import (
	"context"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
)

// Entry is one queued mail as a Queue hands it out.
type Entry struct {
	// Ref is the backend's handle of this copy of the entry, such as a
	// stream entry ID; it may change when the entry is rescheduled.
	Ref string
	// ID is the mail's Message-ID, fixed at acceptance.
	ID string
	// Attempts counts the failed attempts so far. A Queue handing out an
	// entry again after its visibility timeout counts the lost attempt.
	Attempts int
	// Accepted is when the mail was accepted, by the outbox's clock.
	Accepted time.Time
	// Sealed is the sealed payload.
	Sealed []byte
}

// Queue is the storage of an outbox. Every method must be safe for
// concurrent use. A method that finishes an entry (Ack, Retry, Dead) must
// do nothing when the entry was already finished through another claim of
// it, so that a mail reclaimed by another instance is not multiplied.
type Queue interface {
	// Add stores a new entry durably before it returns nil.
	Add(ctx context.Context, e Entry) error
	// Claim hands out up to n entries for delivery: retries that are due
	// by now (the outbox's clock, read when Claim judges what is due, so
	// again after a wait), entries whose visibility timeout passed (with
	// the lost attempt counted), and new entries. It waits up to wait for
	// one when none is ready (0: do not wait).
	Claim(ctx context.Context, n int, now func() time.Time, wait time.Duration) ([]Entry, error)
	// Ack removes a delivered entry.
	Ack(ctx context.Context, e Entry) error
	// Retry reschedules a claimed entry, with e.Attempts as its new count,
	// to be claimable again from due on.
	Retry(ctx context.Context, e Entry, due time.Time) error
	// Dead moves a claimed entry to the dead letters; reason is safe to
	// store (no address, link or code).
	Dead(ctx context.Context, e Entry, reason string) error
	// Stats reports the queue's counts at now.
	Stats(ctx context.Context, now time.Time) (mailer.OutboxStats, error)
	// Ping reports whether the storage is reachable.
	Ping(ctx context.Context) error
}
