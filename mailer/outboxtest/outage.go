package outboxtest

import (
	"errors"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/fakeclock"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store"
)

// coolBase is the cool-down after a first failed write that the
// mailer.Outbox contract fixes; each failed trial doubles it.
const coolBase = 250 * time.Millisecond

var outageCases = []suiteCase{
	{"RefusesReservationsAfterAFailedWrite", testRefusesAfterFailedWrite},
}

// refused fails unless ob refuses a reservation now with an error that
// matches store.ErrUnavailable and is temporary.
func (r *rig) refused(ob mailer.Outbox, when string) {
	r.t.Helper()
	res, err := ob.Reserve(r.t.Context())
	if err == nil {
		res.Cancel()
		r.t.Fatalf("%s: Reserve granted, want a refusal", when)
	}
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, mailer.ErrTemporary) {
		r.t.Fatalf("%s: Reserve refused with %v, want a temporary error matching store.ErrUnavailable", when, err)
	}
}

// testRefusesAfterFailedWrite: a reservation granted before the outbox
// knows of a crash fails at its commit; from then on Reserve refuses with
// that error, without asking the store — still while the server is back,
// until the cool-down passes on the outbox's clock. Then one trial at a
// time goes through: its success ends the refusals, its failure doubles
// the cool-down, its Cancel passes the trial on.
func testRefusesAfterFailedWrite(t *testing.T, r *rig) {
	if r.b.Kill == nil || r.b.Restart == nil {
		t.Skip("outboxtest: this backend cannot kill its storage's server (no Kill and Restart); see RunOutages")
	}
	clock := fakeclock.New(time.Now().Truncate(time.Millisecond))
	rec := newRecorder()
	o := r.options()
	o.Now = clock.Now
	ob := r.open(rec, o)
	var want []string
	n := 0
	commit := func(res mailer.Reservation) error {
		m := newMail("outage", n)
		n++
		err := res.Commit(t.Context(), m.message())
		if err == nil {
			want = append(want, m.to)
		}
		return err
	}
	// Delivered before each crash: a server may come back empty.
	mustSend(t, commit(r.reserve(ob)))
	r.until("the mail before the crash", rec, deliveredAll(rec, want))

	r.b.Kill(t)
	if err := commit(r.reserve(ob)); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("commit with the server killed: %v, want an error matching store.ErrUnavailable", err)
	}
	r.refused(ob, "after the failed write")
	r.b.Restart(t)
	clock.Advance(coolBase - time.Millisecond)
	r.refused(ob, "the server back, within the cool-down")
	clock.Advance(time.Millisecond)
	trial := r.reserve(ob)
	r.refused(ob, "while the trial is out")
	mustSend(t, commit(trial))
	a, b := r.reserve(ob), r.reserve(ob)
	mustSend(t, commit(a))
	mustSend(t, commit(b))
	r.until("the mails after the restart", rec, deliveredAll(rec, want))

	r.b.Kill(t)
	if err := commit(r.reserve(ob)); err == nil {
		t.Fatal("commit with the server killed again: accepted")
	}
	clock.Advance(coolBase)
	if err := commit(r.reserve(ob)); err == nil {
		t.Fatal("trial with the server still down: accepted")
	}
	clock.Advance(coolBase)
	r.refused(ob, "after a failed trial, within the doubled cool-down")
	clock.Advance(coolBase)
	r.reserve(ob).Cancel()
	trial = r.reserve(ob)
	r.refused(ob, "while the trial after a cancelled one is out")
	r.b.Restart(t)
	mustSend(t, commit(trial))
	mustSend(t, commit(r.reserve(ob)))
	r.until("every accepted mail", rec, deliveredAll(rec, want))
}
