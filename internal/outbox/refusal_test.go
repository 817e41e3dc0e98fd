package outbox

import (
	"errors"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store"
)

// retryHint is how magiclink.Service reads a refusal's hint.
type retryHint = interface{ RetryAfter() time.Duration }

// refusedHint reserves, wants a refusal that still matches the store's
// outage and the temporary kind, and returns its RetryAfter.
func refusedHint(t *testing.T, ob *Outbox) time.Duration {
	t.Helper()
	res, err := ob.Reserve(t.Context())
	if err == nil {
		res.Cancel()
		t.Fatal("Reserve with the breaker open: granted, want a refusal")
	}
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, mailer.ErrTemporary) {
		t.Fatalf("refusal %v: want it to match store.ErrUnavailable and mailer.ErrTemporary", err)
	}
	var h retryHint
	if !errors.As(err, &h) {
		t.Fatalf("refusal %v (%T) has no RetryAfter method", err, err)
	}
	return h.RetryAfter()
}

// TestRefusalHintIsTheRemainingCoolDown: a refusal's RetryAfter is the
// time left until the breaker's next trial, on the outbox's clock: the
// whole 250 ms right after the first failure, less as the clock moves,
// then the doubled cool-down after each failed trial (500 ms, 1 s, 2 s,
// 4 s, capped at 4 s), and 0 while a trial is under way (its outcome
// decides).
func TestRefusalHintIsTheRemainingCoolDown(t *testing.T) {
	t.Parallel()
	ob, clock := brokenOutbox(t)
	if got := refusedHint(t, ob); got != coolBase {
		t.Fatalf("right after the failure: RetryAfter %v, want %v", got, coolBase)
	}
	clock.Advance(100 * time.Millisecond)
	if got := refusedHint(t, ob); got != coolBase-100*time.Millisecond {
		t.Fatalf("100 ms in: RetryAfter %v, want %v", got, coolBase-100*time.Millisecond)
	}
	clock.Advance(coolBase - 100*time.Millisecond)
	cool := coolBase
	for _, want := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		res, err := ob.Reserve(t.Context())
		if err != nil {
			t.Fatalf("after a %v cool-down: %v, want the trial", cool, err)
		}
		if got := refusedHint(t, ob); got != 0 {
			t.Fatalf("while the trial is under way: RetryAfter %v, want 0", got)
		}
		if err := res.Commit(t.Context(), &mailer.Message{To: "a@example.com", Subject: "s", Text: "t"}); err == nil {
			t.Fatal("the trial's commit succeeded with the store down")
		}
		if got := refusedHint(t, ob); got != want {
			t.Fatalf("after the trial that ended a %v cool-down failed: RetryAfter %v, want %v", cool, got, want)
		}
		cool = want
		clock.Advance(cool)
	}
}

// TestRefusalMessage: the refusal reads as it did before it carried a
// hint, naming the outbox, the wait and the write's error.
func TestRefusalMessage(t *testing.T) {
	down := errors.New("down")
	for _, tc := range []struct {
		r    refusal
		want string
	}{
		{refusal{name: "x", wait: 1500 * time.Millisecond, err: down}, "x: mail not accepted: the store's last write failed, next trial in 1.5s: down"},
		{refusal{name: "x", err: down}, "x: mail not accepted: the store's last write failed, a trial write is under way: down"},
	} {
		if got := tc.r.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
		if !errors.Is(&tc.r, down) {
			t.Errorf("%q does not wrap the write's error", tc.r.Error())
		}
	}
}
