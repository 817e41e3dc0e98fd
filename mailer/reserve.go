package mailer

import "context"

// Reserver is an optional capability of a Mailer: saying whether it will
// accept one more mail before the caller does anything it cannot take
// back. magiclink.Service reserves first, then charges its rate limits and
// stores the new link, then commits the mail; so a send the mailer refuses
// (queue full, closed, its store down) changes nothing: the address's
// previous code still works, no limit is charged and no link is stored.
//
// The Dispatcher and every Outbox (redisstore.NewOutbox, the pgstore
// outbox) implement it. The contract, which every implementation follows:
//
//   - Reserve returns a nil error only with room held for one mail. It
//     fails with the error Send would return now (ErrQueueFull, ErrClosed,
//     a store outage, ctx.Err()) and then holds nothing. Like a Mailer's
//     error, it may suggest when to retry with a RetryAfter()
//     time.Duration method (see Mailer); an outbox's refusal gives the
//     time until its next trial write.
//   - Reserve makes no network round trip. A mailer backed by a remote
//     store decides from what it already knows (its last write failed, a
//     recent probe) and keeps its budget of one round trip per accepted
//     mail for the Commit. It may wait for room to free, for at most a
//     bound it documents (DispatcherOptions.Wait) and never beyond ctx.
//   - A reservation ends with exactly one of Commit, CommitLink or Cancel.
//     Cancel after a Commit does nothing, so "defer r.Cancel()" right
//     after a successful Reserve is the way to use it.
//   - Commit accepts m as Send would (it keeps a copy; delivery does not
//     use ctx); CommitLink accepts a sign-in mail as
//     LinkSender.SendLinkMail would, rendered with r off the caller's path
//     when the mailer can. A commit does not fail for lack of room; it may
//     still fail when a remote store fails the write (the mail was then not
//     accepted), or with ErrClosed when Close gave up on the reservation.
//     A second commit of one reservation fails and accepts nothing.
//   - Close stops new reservations at once and waits, within its context,
//     for the ones outstanding to end, so a mail reserved before Close is
//     still accepted.
type Reserver interface {
	Reserve(ctx context.Context) (Reservation, error)
}

// Reservation is room for one mail held by a Reserver until it is
// committed or cancelled. A Reservation is used by one goroutine.
type Reservation interface {
	// Commit hands over the mail the room was held for.
	Commit(ctx context.Context, m *Message) error
	// CommitLink hands over a sign-in mail to be rendered with r.
	CommitLink(ctx context.Context, r Renderer, d LinkData) error
	// Cancel gives the room back unused; after a commit it does nothing.
	Cancel()
}
