package outboxtest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
)

// reserve returns a reservation of ob or fails.
func (r *rig) reserve(ob mailer.Outbox) mailer.Reservation {
	r.t.Helper()
	res, err := ob.Reserve(r.t.Context())
	if err != nil {
		r.t.Fatalf("Reserve: %v", err)
	}
	return res
}

// testReserveCommit: mails committed to reservations — a message, link
// data for the outbox's own renderer and for another one — arrive intact,
// and so does one whose caller's context ended before the commit (the
// caller already acted on the reservation). Cancel after a commit does
// nothing.
func testReserveCommit(t *testing.T, r *rig) {
	rec := newRecorder()
	o, tpl := r.renderingOptions()
	ob := r.open(rec, o)
	ctx := t.Context()
	ms := []mail{newMail("reserve", 0), newMail("reserve", 1), newMail("reserve", 2), newMail("reserve", 3)}
	expires := time.Now().Add(15 * time.Minute)
	res := []mailer.Reservation{r.reserve(ob), r.reserve(ob), r.reserve(ob), r.reserve(ob)}
	mustSend(t, res[0].Commit(ctx, ms[0].message()))
	mustSend(t, res[1].CommitLink(ctx, tpl, ms[1].data(expires)))
	mustSend(t, res[2].CommitLink(ctx, mailer.DefaultTemplates(), ms[2].data(expires)))
	ended, cancel := context.WithCancel(ctx)
	cancel()
	mustSend(t, res[3].Commit(ended, ms[3].message()))
	for _, x := range res {
		x.Cancel()
	}
	want := []string{ms[0].to, ms[1].to, ms[2].to, ms[3].to}
	r.until("every committed mail", rec, deliveredAll(rec, want))
	byTo := map[string]mail{}
	for _, m := range ms {
		byTo[m.to] = m
	}
	for _, a := range rec.Attempts() {
		m := byTo[a.To]
		if a.ID == "" || a.Link != m.link || a.Code != m.code || !strings.Contains(a.Text, m.token) {
			t.Fatalf("committed mail to %s arrived altered: %+v", a.To, a)
		}
	}
	r.until("an empty queue", nil, r.drained(ob))
	if n := len(rec.Attempts()); n != len(ms) {
		t.Fatalf("%d attempts for %d committed mails", n, len(ms))
	}
}

// testReserveCancel: a cancelled reservation, and commits refused for bad
// input, store nothing; a commit after Cancel is refused; Close does not
// wait for reservations that ended that way.
func testReserveCancel(t *testing.T, r *rig) {
	rec := newRecorder()
	ob := r.open(rec, r.options())
	ctx := t.Context()
	m := newMail("cancel", 0)
	a := r.reserve(ob)
	a.Cancel()
	a.Cancel()
	if err := a.Commit(ctx, m.message()); err == nil {
		t.Fatal("a commit after Cancel was accepted")
	}
	for name, commit := range map[string]func(mailer.Reservation) error{
		"nil message":  func(x mailer.Reservation) error { return x.Commit(ctx, nil) },
		"nil renderer": func(x mailer.Reservation) error { return x.CommitLink(ctx, nil, m.data(time.Now().Add(time.Minute))) },
		"failing renderer": func(x mailer.Reservation) error {
			return x.CommitLink(ctx, failingRenderer{}, m.data(time.Now().Add(time.Minute)))
		},
	} {
		x := r.reserve(ob)
		if err := commit(x); !errors.Is(err, mailer.ErrPermanent) {
			t.Fatalf("commit of a %s: %v, want a permanent error", name, err)
		}
		x.Cancel()
	}
	if s := r.stats(ob); s != (mailer.OutboxStats{}) {
		t.Fatalf("cancelled reservations left something: %+v", s)
	}
	if err := ob.Close(ctx); err != nil {
		t.Fatalf("Close after every reservation ended: %v", err)
	}
	if n := len(rec.Attempts()); n != 0 {
		t.Fatalf("%d attempts, want none", n)
	}
}

// testDoubleCommit: a second commit of one reservation is refused and
// accepts nothing; the first mail arrives once.
func testDoubleCommit(t *testing.T, r *rig) {
	rec := newRecorder()
	o, tpl := r.renderingOptions()
	ob := r.open(rec, o)
	ctx := t.Context()
	first, second := newMail("twice", 0), newMail("twice", 1)
	a := r.reserve(ob)
	mustSend(t, a.Commit(ctx, first.message()))
	if err := a.Commit(ctx, second.message()); !errors.Is(err, mailer.ErrPermanent) {
		t.Fatalf("second Commit: %v, want a permanent error", err)
	}
	if err := a.CommitLink(ctx, tpl, second.data(time.Now().Add(time.Minute))); !errors.Is(err, mailer.ErrPermanent) {
		t.Fatalf("CommitLink after a Commit: %v, want a permanent error", err)
	}
	if err := ob.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got := rec.Delivered()
	if len(got[first.to]) != 1 || len(got[second.to]) != 0 || len(rec.Attempts()) != 1 {
		t.Fatalf("delivered %v, want the first commit's mail once and nothing else", got)
	}
}

// testReserveClosed: after Close, Reserve and Send refuse with ErrClosed;
// a Reserve whose context has ended refuses with its error.
func testReserveClosed(t *testing.T, r *rig) {
	rec := newRecorder()
	ob := r.open(rec, r.options())
	ended, cancel := context.WithCancel(t.Context())
	cancel()
	if res, err := ob.Reserve(ended); !errors.Is(err, context.Canceled) || res != nil {
		t.Fatalf("Reserve with an ended context: %v, %v; want context.Canceled", res, err)
	}
	if err := ob.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if res, err := ob.Reserve(t.Context()); !errors.Is(err, mailer.ErrClosed) || res != nil {
		t.Fatalf("Reserve after Close: %v, %v; want ErrClosed", res, err)
	}
	if err := ob.Send(t.Context(), newMail("closed", 0).message()); !errors.Is(err, mailer.ErrClosed) {
		t.Fatalf("Send after Close: %v, want ErrClosed", err)
	}
}

// testCloseWaitsForReservations: Close stops new reservations at once but
// waits for the one outstanding, and the mail committed to it is delivered
// before Close returns.
func testCloseWaitsForReservations(t *testing.T, r *rig) {
	rec := newRecorder()
	ob := r.open(rec, r.options())
	ctx := t.Context()
	m := newMail("closewait", 0)
	a := r.reserve(ob)
	closed := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		closed <- ob.Close(wctx)
	}()
	r.until("Reserve to refuse once Close began", nil, func() bool {
		res, err := ob.Reserve(ctx)
		if err == nil {
			res.Cancel()
		}
		return errors.Is(err, mailer.ErrClosed)
	})
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with a reservation outstanding", err)
	default:
	}
	mustSend(t, a.Commit(ctx, m.message()))
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := rec.Delivered()[m.to]; len(got) != 1 {
		t.Fatalf("Close returned with the reserved mail delivered %d times, want once", len(got))
	}
}

// testCloseGivesUp: when Close's context ends before an outstanding
// reservation does, Close returns its error and the late commit fails with
// ErrClosed, storing nothing.
func testCloseGivesUp(t *testing.T, r *rig) {
	rec := newRecorder()
	ob := r.open(rec, r.options())
	a := r.reserve(ob)
	ended, cancel := context.WithCancel(t.Context())
	cancel()
	if err := ob.Close(ended); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close with an ended context and a reservation outstanding: %v, want context.Canceled", err)
	}
	if err := a.Commit(t.Context(), newMail("late", 0).message()); !errors.Is(err, mailer.ErrClosed) {
		t.Fatalf("commit after Close gave up: %v, want ErrClosed", err)
	}
	if s := r.stats(ob); s.Queued != 0 || len(rec.Attempts()) != 0 {
		t.Fatalf("the late commit left %+v and %d attempts, want nothing", s, len(rec.Attempts()))
	}
}
