package magiclink_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
)

// pollAnswer is what the asking browser can read from one poll: the status,
// the time left, whether the number is the ticket's, and the error kind.
type pollAnswer struct {
	status    string
	expiresIn time.Duration
	sameMatch bool
	invalid   bool
	err       bool
}

func poll(svc *magiclink.Service, ticket *magiclink.PendingTicket) pollAnswer {
	st, err := svc.Pending(context.Background(), ticket.Cookie)
	return pollAnswer{status: st.Status, expiresIn: st.ExpiresIn, sameMatch: st.Match == ticket.Match,
		invalid: errors.Is(err, magiclink.ErrInvalidPending), err: err != nil}
}

// pollSteps are the clock advances of a request's life: waiting, a second
// before expiry, expired, kept, gone.
var pollSteps = []time.Duration{0, time.Minute, 14*time.Minute - time.Second, time.Second, time.Minute, 59 * time.Second, time.Second}

// TestRefusedPendingSendLooksAccepted: when Hooks.BeforeSend refuses a
// SendLinkPending, the asking browser gets a ticket of the same shape, and
// every poll over the request's life — waiting with its number, expired,
// gone — answers exactly as for an accepted send nobody acted on. No mail
// goes out, the address's earlier code stays valid, and the refusal is
// logged.
func TestRefusedPendingSendLooksAccepted(t *testing.T) {
	t.Parallel()
	var refuse atomic.Bool
	f := newFixture(t, withHooks(magiclink.Hooks{BeforeSend: func(context.Context, magiclink.SendInfo) error {
		if refuse.Load() {
			return errors.New("blocked")
		}
		return nil
	}}))
	ctx := context.Background()
	_, _, earlierCode := f.ask(t, "blocked@example.com")
	accepted, _, _ := f.ask(t, "open@example.com")
	refuse.Store(true)
	mails := len(f.mail.all())
	refused, err := f.svc.SendLinkPending(ctx, magiclink.SendRequest{Email: "blocked@example.com",
		CallbackOrigin: "https://app.example.com", Next: "/after", ClientIP: askerIP}, askerUA)
	if err != nil || refused == nil {
		t.Fatalf("refused SendLinkPending: %v, %v; want a ticket and no error", refused, err)
	}
	if len(refused.Cookie) != len(accepted.Cookie) || len(refused.Match) != 2 || !refused.ExpiresAt.Equal(accepted.ExpiresAt) {
		t.Fatalf("refused ticket %+v does not look like the accepted %+v", refused, accepted)
	}
	if n := len(f.mail.all()) - mails; n != 0 {
		t.Fatalf("a refused send mailed %d messages", n)
	}
	if _, err := f.svc.VerifyCode(ctx, "blocked@example.com", earlierCode); err != nil {
		t.Fatalf("the earlier code died with a refused send: %v", err)
	}
	comparePolls(t, f.clock.Advance, func(tk *magiclink.PendingTicket) pollAnswer { return poll(f.svc, tk) }, accepted, refused)
}

// comparePolls walks the clock through pollSteps and checks that the two
// tickets answer alike at each step, and that the accepted one goes
// through its life (so that the comparison is not between two dead
// tickets).
func comparePolls(t *testing.T, advance func(time.Duration), poll func(*magiclink.PendingTicket) pollAnswer, accepted, refused *magiclink.PendingTicket) {
	t.Helper()
	want := []string{magiclink.PendingWaiting, magiclink.PendingWaiting, magiclink.PendingWaiting,
		magiclink.PendingExpired, magiclink.PendingExpired, magiclink.PendingExpired, ""}
	for i, d := range pollSteps {
		advance(d)
		a, r := poll(accepted), poll(refused)
		if a != r {
			t.Fatalf("poll %d: refused answers %+v, accepted %+v; the refusal shows", i, r, a)
		}
		if a.status != want[i] || (want[i] == "") != a.invalid || (want[i] == magiclink.PendingWaiting) != a.sameMatch {
			t.Fatalf("poll %d of the accepted send: %+v; want status %q", i, a, want[i])
		}
	}
}
