package outboxtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/fakeclock"
	"github.com/magiclink-go/magiclink/mailer"
)

var cases = []suiteCase{
	{"DeliversEveryAcceptedMail", testDelivers},
	{"KeepsOrAssignsTheMessageID", testMessageID},
	{"RetriesTemporaryFailuresWithOneID", testRetries},
	{"BackoffFollowsTheClock", testBackoffClock},
	{"DeadLettersPermanentFailures", testPermanent},
	{"DeadLettersAfterTheRetryBudget", testBudget},
	{"DropsExpiredLinkMails", testExpired},
	{"CloseDrains", testCloseDrains},
	{"CloseDoesNotWaitForPolling", testCloseIdle},
	{"CloseHandsBackMailInFlight", testHandBack},
	{"ReclaimsMailOfAStuckInstance", testReclaim},
	{"CountsTheAttemptLostWithAnInstance", testLostAttempt},
	{"ConcurrentSendersAndInstances", testConcurrent},
	{"SealedAtRest", testSealed},
	{"WrongSecretDeliversNothing", testWrongSecret},
	{"RefusesBadInput", testBadInput},
	{"ReservedMailIsDelivered", testReserveCommit},
	{"CancelledReservationSendsNothing", testReserveCancel},
	{"SecondCommitIsRefused", testDoubleCommit},
	{"ReserveAfterCloseIsRefused", testReserveClosed},
	{"CloseWaitsForReservations", testCloseWaitsForReservations},
	{"CloseGivesUpOnAReservation", testCloseGivesUp},
}

func mustSend(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("send not accepted: %v", err)
	}
}

// deliveredAll reports whether every address in want was delivered.
func deliveredAll(rec *recorder, want []string) func() bool {
	return func() bool {
		got := rec.Delivered()
		for _, to := range want {
			if len(got[to]) == 0 {
				return false
			}
		}
		return true
	}
}

func (r *rig) drained(ob mailer.Outbox) func() bool {
	return func() bool { s := r.stats(ob); return s.Queued == 0 && s.InFlight == 0 && s.Retrying == 0 }
}

// testDelivers: mails accepted by Send and by SendLinkMail (rendered in the
// worker with the outbox's renderer, or before storing with another) all
// arrive intact, each with its own ID, and leave nothing queued.
func testDelivers(t *testing.T, r *rig) {
	rec := newRecorder()
	o, tpl := r.renderingOptions()
	ob := r.open(rec, o)
	ctx := t.Context()
	byTo := map[string]mail{}
	var want []string
	for i := range 45 {
		m := newMail("deliver", i)
		byTo[m.to], want = m, append(want, m.to)
		switch {
		case i < 30:
			mustSend(t, ob.Send(ctx, m.message()))
		case i < 40:
			mustSend(t, ob.SendLinkMail(ctx, tpl, m.data(time.Now().Add(15*time.Minute))))
		default:
			mustSend(t, ob.SendLinkMail(ctx, mailer.DefaultTemplates(), m.data(time.Now().Add(15*time.Minute))))
		}
	}
	r.until("every accepted mail", rec, deliveredAll(rec, want))
	ids := map[string]string{}
	for _, a := range rec.Attempts() {
		m := byTo[a.To]
		if a.ID == "" || a.Link != m.link || a.Code != m.code || a.Subject == "" {
			t.Fatalf("mail to %s arrived altered: %+v", a.To, a)
		}
		if !strings.Contains(a.Text, m.code[:3]+" "+m.code[3:]) || !strings.Contains(a.Text, m.token) {
			t.Fatalf("mail to %s: text lacks its link or code: %q", a.To, a.Text)
		}
		if other, dup := ids[a.ID]; dup && other != a.To {
			t.Fatalf("two mails share the ID %s", a.ID)
		}
		ids[a.ID] = a.To
	}
	r.until("an empty queue", nil, r.drained(ob))
}

// testMessageID: a valid caller ID is kept; an unsafe one and none are
// replaced by a valid ID.
func testMessageID(t *testing.T, r *rig) {
	rec := newRecorder()
	ob := r.open(rec, r.options())
	ctx := t.Context()
	given, bad, none := newMail("id", 0), newMail("id", 1), newMail("id", 2)
	gm, bm := given.message(), bad.message()
	gm.ID, bm.ID = "caller-id_1.x", "x>\r\nBcc: evil@example.com"
	mustSend(t, ob.Send(ctx, gm))
	mustSend(t, ob.Send(ctx, bm))
	mustSend(t, ob.Send(ctx, none.message()))
	r.until("three mails", rec, deliveredAll(rec, []string{given.to, bad.to, none.to}))
	got := rec.Delivered()
	if id := got[given.to][0]; id != "caller-id_1.x" {
		t.Fatalf("caller's ID replaced by %q", id)
	}
	for _, to := range []string{bad.to, none.to} {
		id := got[to][0]
		if id == "" || id == bm.ID || strings.ContainsFunc(id, func(c rune) bool {
			return !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune(".-_", c))
		}) {
			t.Fatalf("mail to %s got ID %q, want a fresh safe one", to, id)
		}
	}
}

// testRetries: temporary failures are retried with the backoff, every
// attempt carrying the same ID.
func testRetries(t *testing.T, r *rig) {
	rec := newRecorder()
	rec.Fail = func(_ *mailer.Message, n int) error {
		if n <= 3 {
			return mailer.Temporary(errors.New("451 4.3.0 try again later"))
		}
		return nil
	}
	var mu sync.Mutex
	var backoffs []int
	o := r.options()
	o.Backoff = func(n int) time.Duration { mu.Lock(); backoffs = append(backoffs, n); mu.Unlock(); return 0 }
	ob := r.open(rec, o)
	var want []string
	for i := range 3 {
		m := newMail("retry", i)
		want = append(want, m.to)
		mustSend(t, ob.Send(t.Context(), m.message()))
	}
	r.until("delivery after three failures each", rec, deliveredAll(rec, want))
	ids := map[string][]string{}
	for _, a := range rec.Attempts() {
		ids[a.To] = append(ids[a.To], a.ID)
	}
	for _, to := range want {
		if len(ids[to]) != 4 || len(slices.Compact(slices.Clone(ids[to]))) != 1 {
			t.Fatalf("%s: attempts carried IDs %v, want 4 attempts with one ID", to, ids[to])
		}
	}
	mu.Lock()
	slices.Sort(backoffs)
	got := fmt.Sprint(backoffs)
	mu.Unlock()
	if got != "[1 1 1 2 2 2 3 3 3]" {
		t.Fatalf("backoff asked for attempts %s, want 1, 2, 3 per mail", got)
	}
}

// testBackoffClock: a retry waits for its backoff on the outbox's clock;
// Stats shows it as retrying and ages the queue by that clock.
func testBackoffClock(t *testing.T, r *rig) {
	clock := fakeclock.New(time.Now().Truncate(time.Millisecond))
	rec := newRecorder()
	rec.Fail = func(_ *mailer.Message, n int) error {
		if n == 1 {
			return mailer.Temporary(errors.New("421 busy"))
		}
		return nil
	}
	o := r.options()
	o.Now, o.Backoff = clock.Now, func(int) time.Duration { return time.Hour }
	ob := r.open(rec, o)
	m := newMail("clock", 0)
	mustSend(t, ob.Send(t.Context(), m.message()))
	r.until("the first attempt to be scheduled for retry", rec, func() bool { return r.stats(ob).Retrying == 1 })
	clock.Advance(30 * time.Minute)
	s := r.stats(ob)
	if s.Queued != 1 || s.InFlight != 0 || s.OldestAge < 30*time.Minute-time.Second || s.OldestAge > 30*time.Minute+time.Second {
		t.Fatalf("while backing off: %+v, want 1 queued, none in flight, 30m old", s)
	}
	if n := len(rec.Attempts()); n != 1 {
		t.Fatalf("%d attempts before the backoff ended, want 1", n)
	}
	clock.Advance(31 * time.Minute)
	r.until("the retry after the backoff", rec, deliveredAll(rec, []string{m.to}))
	a := rec.Attempts()
	if len(a) != 2 || a[0].ID != a[1].ID {
		t.Fatalf("attempts %d with IDs %s/%s, want 2 with one ID", len(a), a[0].ID, a[len(a)-1].ID)
	}
	r.until("an empty queue", nil, r.drained(ob))
	if s := r.stats(ob); s.OldestAge != 0 || s.Dead != 0 {
		t.Fatalf("empty queue: %+v", s)
	}
}

// noSecrets fails when the log holds any of the mail's secrets or its
// address, and when it lacks the masked address of a dead letter.
func (r *rig) checkDeadLetterLog(m mail) {
	r.t.Helper()
	out := r.log.String()
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, mailer.MaskAddress(m.to)) {
		r.t.Fatalf("no Error record with the masked address %s: %q", mailer.MaskAddress(m.to), out)
	}
	for what, s := range map[string]string{"address": m.to, "link secret": m.token, "code": m.code} {
		if strings.Contains(out, s) {
			r.t.Fatalf("the log holds the %s: %q", what, out)
		}
	}
}

// testPermanent: a permanent failure is not retried; the mail becomes a
// dead letter with a masked log line, even when the error quotes the
// address and link.
func testPermanent(t *testing.T, r *rig) {
	rec := newRecorder()
	rec.Fail = func(m *mailer.Message, _ int) error {
		return mailer.Permanent(fmt.Errorf("550 5.1.1 <%s>: no such user (%s, %s)", m.To, m.Link, m.Code))
	}
	ob := r.open(rec, r.options())
	m := newMail("perm", 0)
	mustSend(t, ob.Send(t.Context(), m.message()))
	r.until("a dead letter", rec, func() bool { s := r.stats(ob); return s.Dead == 1 && s.Queued == 0 })
	if n := len(rec.Attempts()); n != 1 {
		t.Fatalf("%d attempts of a permanently failing mail, want 1", n)
	}
	r.checkDeadLetterLog(m)
}

// testBudget: a mail failing temporarily every time gets exactly
// MaxAttempts attempts, then becomes a dead letter.
func testBudget(t *testing.T, r *rig) {
	rec := newRecorder()
	rec.Fail = func(*mailer.Message, int) error { return mailer.Temporary(errors.New("451 later")) }
	o := r.options()
	o.MaxAttempts = 3
	ob := r.open(rec, o)
	m := newMail("budget", 0)
	mustSend(t, ob.Send(t.Context(), m.message()))
	r.until("a dead letter", rec, func() bool { s := r.stats(ob); return s.Dead == 1 && s.Queued == 0 })
	if n := len(rec.Attempts()); n != 3 {
		t.Fatalf("%d attempts, want MaxAttempts = 3", n)
	}
	r.checkDeadLetterLog(m)
}

// testExpired: a link mail whose link expired before a worker got to it
// is dead-lettered, not sent.
func testExpired(t *testing.T, r *rig) {
	clock := fakeclock.New(time.Now().Truncate(time.Millisecond))
	rec := newRecorder()
	o, tpl := r.renderingOptions()
	o.Now = clock.Now
	ob := r.open(rec, o)
	stale, fresh := newMail("expired", 0), newMail("expired", 1)
	mustSend(t, ob.SendLinkMail(t.Context(), tpl, stale.data(clock.Now())))
	mustSend(t, ob.SendLinkMail(t.Context(), tpl, fresh.data(clock.Now().Add(time.Minute))))
	r.until("the fresh mail and a dead letter", rec, func() bool {
		return deliveredAll(rec, []string{fresh.to})() && r.stats(ob).Dead == 1
	})
	for _, a := range rec.Attempts() {
		if a.To == stale.to {
			t.Fatal("a mail with an expired link was sent")
		}
	}
}

// testCloseDrains: Close delivers what is ready, retries that fall due
// included, before it returns; then the outbox refuses mail.
func testCloseDrains(t *testing.T, r *rig) {
	rec := newRecorder()
	rec.Fail = func(_ *mailer.Message, n int) error {
		if n == 1 {
			return mailer.Temporary(errors.New("451 later"))
		}
		return nil
	}
	ob := r.open(rec, r.options())
	ctx := t.Context()
	var want []string
	for i := range 20 {
		m := newMail("drain", i)
		want = append(want, m.to)
		mustSend(t, ob.Send(ctx, m.message()))
	}
	if err := ob.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !deliveredAll(rec, want)() {
		t.Fatalf("Close returned with %d of 20 mails delivered", len(rec.Delivered()))
	}
	m := newMail("drain", 99)
	if err := ob.Send(ctx, m.message()); !errors.Is(err, mailer.ErrClosed) {
		t.Fatalf("Send after Close: %v, want ErrClosed", err)
	}
	if err := ob.SendLinkMail(ctx, mailer.DefaultTemplates(), m.data(time.Now().Add(time.Minute))); !errors.Is(err, mailer.ErrClosed) {
		t.Fatalf("SendLinkMail after Close: %v, want ErrClosed", err)
	}
	if err := ob.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// testCloseIdle: an idle outbox closes at once, however long its poll
// interval: a claim blocked waiting for mail must not hold Close.
func testCloseIdle(t *testing.T, r *rig) {
	o := r.options()
	o.PollInterval = time.Hour
	ob := r.open(newRecorder(), o)
	if err := ob.Ping(t.Context()); err != nil { // the fetcher is waiting by now, or soon
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := ob.Close(ctx); err != nil {
		t.Fatalf("Close of an idle outbox with a 1h poll interval: %v", err)
	}
}

// inFlight opens an outbox whose single worker is stuck in the wrapped
// mailer with one accepted mail, and returns it and the stuck attempt.
func (r *rig) inFlight(o mailer.OutboxOptions, m mail) (mailer.Outbox, *recorder, mailer.Message) {
	r.t.Helper()
	rec := newRecorder()
	rec.Block = make(chan struct{})
	o.Workers = 1
	ob := r.open(rec, o)
	mustSend(r.t, ob.Send(r.t.Context(), m.message()))
	r.until("the attempt to start", rec, func() bool { return len(rec.Attempts()) == 1 })
	return ob, rec, rec.Attempts()[0]
}

// testHandBack: when Close's context ends with a delivery in flight, Close
// interrupts it and returns ctx.Err(), and the mail goes back to the store
// at once: another instance delivers it, with the same ID, long before the
// visibility timeout.
func testHandBack(t *testing.T, r *rig) {
	m := newMail("handback", 0)
	a, _, stuck := r.inFlight(r.options(), m)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := a.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close with an ended context: %v, want context.Canceled", err)
	}
	rec := newRecorder()
	r.open(rec, r.options()) // visibility timeout 1h: only a hand-back explains a delivery
	r.until("the handed-back mail", rec, deliveredAll(rec, []string{m.to}))
	if id := rec.Delivered()[m.to][0]; id != stuck.ID {
		t.Fatalf("handed-back mail arrived with ID %s, first attempt had %s", id, stuck.ID)
	}
}

// testReclaim: a mail claimed by an instance that stopped making progress
// is delivered by another once the visibility timeout has passed, with the
// same ID.
func testReclaim(t *testing.T, r *rig) {
	o := r.options()
	o.VisibilityTimeout = 300 * time.Millisecond
	m := newMail("reclaim", 0)
	_, stuckRec, stuck := r.inFlight(o, m)
	rec := newRecorder()
	b := r.open(rec, o)
	r.until("the reclaimed mail", rec, deliveredAll(rec, []string{m.to}))
	if id := rec.Delivered()[m.to][0]; id != stuck.ID {
		t.Fatalf("reclaimed mail arrived with ID %s, first attempt had %s", id, stuck.ID)
	}
	close(stuckRec.Block) // the stuck instance finishes too: a duplicate with the same ID
	r.until("the stuck delivery to finish", stuckRec, deliveredAll(stuckRec, []string{m.to}))
	r.until("an empty queue", nil, r.drained(b))
	if s := r.stats(b); s.Dead != 0 {
		t.Fatalf("after the reclaim: %+v", s)
	}
}

// testLostAttempt: a reclaim counts the attempt the stuck instance lost,
// so a mail whose deliveries never finish cannot circulate forever: with a
// budget of one attempt, the reclaiming instance buries it unsent.
func testLostAttempt(t *testing.T, r *rig) {
	o := r.options()
	o.VisibilityTimeout = 300 * time.Millisecond
	m := newMail("lost", 0)
	_, stuckRec, _ := r.inFlight(o, m)
	rec := newRecorder()
	o.MaxAttempts = 1
	b := r.open(rec, o)
	r.until("a dead letter", nil, func() bool { return r.stats(b).Dead == 1 })
	if n := len(rec.Attempts()); n != 0 {
		t.Fatalf("%d attempts beyond the budget", n)
	}
	r.checkDeadLetterLog(m)
	close(stuckRec.Block)
}

// testConcurrent: many goroutines send through two instances on one store
// while some attempts fail; every mail arrives, every duplicate and retry
// with its mail's single ID.
func testConcurrent(t *testing.T, r *rig) {
	rec := newRecorder()
	rec.Fail = func(m *mailer.Message, n int) error {
		if n == 1 && len(m.To)%3 == 0 {
			return mailer.Temporary(errors.New("451 later"))
		}
		return nil
	}
	o := r.options()
	obs := []mailer.Outbox{r.open(rec, o), r.open(rec, o)}
	const senders, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, senders*each)
	want := make([]string, 0, senders*each)
	for g := range senders {
		for i := range each {
			want = append(want, newMailTo(g, i))
		}
	}
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				m := newMail(fmt.Sprintf("conc%d", g), i)
				if err := obs[(g+i)%2].Send(context.Background(), m.message()); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent send refused: %v", err)
	}
	r.until("all 400 mails", rec, deliveredAll(rec, want))
	ids := map[string]string{}
	seen := map[string]bool{}
	for _, a := range rec.Attempts() {
		if id, ok := ids[a.To]; ok && id != a.ID {
			t.Fatalf("%s: attempts with IDs %s and %s", a.To, id, a.ID)
		}
		if _, ok := ids[a.To]; !ok && seen[a.ID] {
			t.Fatalf("ID %s used by two mails", a.ID)
		}
		ids[a.To], seen[a.ID] = a.ID, true
	}
	for _, ob := range obs {
		if err := ob.Close(t.Context()); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	r.until("an empty queue", nil, r.drained(obs[0]))
}

func newMailTo(g, i int) string { return fmt.Sprintf("conc%d-%d@example.com", g, i) }

// testSealed: what the store holds — queued, retrying and dead — reveals
// no link secret, no code and no recipient.
func testSealed(t *testing.T, r *rig) {
	if r.b.Raw == nil {
		t.Skip("outboxtest: the backend gives no raw view of its storage")
	}
	clock := fakeclock.New(time.Now().Truncate(time.Millisecond))
	rec := newRecorder()
	rec.Fail = func(*mailer.Message, int) error { return mailer.Temporary(errors.New("451 later")) }
	o, tpl := r.renderingOptions()
	o.Now, o.MaxAttempts, o.Workers = clock.Now, 2, 1
	o.Backoff = func(int) time.Duration { return time.Hour }
	ob := r.open(rec, o)
	var mails []mail
	for i := range 20 {
		m := newMail("sealed", i)
		mails = append(mails, m)
		switch {
		case i < 10:
			msg := m.message()
			msg.ID = fmt.Sprintf("sealtest-%d", i)
			mustSend(t, ob.Send(t.Context(), msg))
		case i < 15:
			mustSend(t, ob.SendLinkMail(t.Context(), tpl, m.data(clock.Now().Add(3*time.Hour))))
		default:
			mustSend(t, ob.SendLinkMail(t.Context(), mailer.DefaultTemplates(), m.data(clock.Now().Add(3*time.Hour))))
		}
	}
	check := func(stage string) {
		t.Helper()
		raw := r.b.Raw(t)
		if !bytes.Contains(raw, []byte("sealtest-0")) {
			t.Fatalf("%s: the raw view does not show the stored mails (no ID sealtest-0 in %d bytes)", stage, len(raw))
		}
		for _, m := range mails {
			for what, s := range map[string]string{"link secret": m.token, "code": m.code, "address": m.to} {
				if bytes.Contains(raw, []byte(s)) {
					t.Fatalf("%s: the store holds a %s in plaintext", stage, what)
				}
			}
		}
	}
	check("accepted")
	r.until("20 retries", rec, func() bool { return r.stats(ob).Retrying == 20 })
	check("retrying")
	clock.Advance(2 * time.Hour)
	r.until("20 dead letters", rec, func() bool { return r.stats(ob).Dead == 20 })
	check("dead letters")
}

// testWrongSecret: an instance with another secret cannot open the mails
// and delivers none of them: they end as dead letters after the budget.
func testWrongSecret(t *testing.T, r *rig) {
	m := newMail("secret", 0)
	a, _, _ := r.inFlight(r.options(), m)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_ = a.Close(ctx) // hands the mail back
	rec := newRecorder()
	o := r.options()
	o.Secret, o.MaxAttempts = []byte(Secret+" but another one"), 2
	b := r.open(rec, o)
	r.until("a dead letter", nil, func() bool { return r.stats(b).Dead == 1 })
	if n := len(rec.Attempts()); n != 0 {
		t.Fatalf("%d attempts with a payload sealed under another secret", n)
	}
}

type failingRenderer struct{}

func (failingRenderer) Render(mailer.LinkData) (*mailer.Message, error) {
	return nil, errors.New("template broke")
}

// testBadInput: nil messages, nil or failing renderers and ended contexts
// are refused with an error and store nothing.
func testBadInput(t *testing.T, r *rig) {
	rec := newRecorder()
	ob := r.open(rec, r.options())
	if err := ob.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if s := r.stats(ob); s != (mailer.OutboxStats{}) {
		t.Fatalf("empty outbox: %+v", s)
	}
	m := newMail("bad", 0)
	done, cancel := context.WithCancel(t.Context())
	cancel()
	for name, err := range map[string]error{
		"nil message":      ob.Send(t.Context(), nil),
		"nil renderer":     ob.SendLinkMail(t.Context(), nil, m.data(time.Now().Add(time.Minute))),
		"failing renderer": ob.SendLinkMail(t.Context(), failingRenderer{}, m.data(time.Now().Add(time.Minute))),
		"ended context":    ob.Send(done, m.message()),
	} {
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		if name != "ended context" && !errors.Is(err, mailer.ErrPermanent) {
			t.Fatalf("%s: %v, want a permanent error", name, err)
		}
	}
	if s := r.stats(ob); s != (mailer.OutboxStats{}) {
		t.Fatalf("refused sends left something: %+v", s)
	}
	if err := ob.Close(t.Context()); err != nil || len(rec.Attempts()) != 0 {
		t.Fatalf("Close: %v; attempts %d, want none", err, len(rec.Attempts()))
	}
}
