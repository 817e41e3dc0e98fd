package redisstore

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/fakeclock"
	"github.com/magiclink-go/magiclink/mailer"
)

// refusalPoll is what the asking browser reads from one poll.
type refusalPoll struct {
	status    string
	expiresIn time.Duration
	sameMatch bool
	invalid   bool
}

// TestRefusedPendingSendLooksAcceptedRedis: on Redis (one server and a
// Cluster), a SendLinkPending that Hooks.BeforeSend refuses costs the same
// round trips as an accepted one, mails nothing, and its ticket polls
// exactly like the accepted send's, nobody acting on either, at every step
// of the store's clock until both are gone.
func TestRefusedPendingSendLooksAcceptedRedis(t *testing.T) {
	t.Parallel()
	eachDeployment(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		var rt roundTrips
		rdb.AddHook(&rt)
		// Redis expires records by real time, the store judges them by
		// its clock: start it now, so that Redis keeps them throughout.
		clock := fakeclock.New(time.Now())
		s := newStore(t, rdb, WithClock(clock.Now))
		var refuse atomic.Bool
		mail := mailer.NewMemory()
		svc, err := magiclink.New(magiclink.Config{Origins: []string{"https://app.example.com"}, Secret: []byte("0123456789abcdef0123456789abcdef"),
			Store: s, Limiter: s, Limits: magiclink.NoLimits(), Mailer: mail, Clock: clock.Now,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Hooks: magiclink.Hooks{BeforeSend: func(context.Context, magiclink.SendInfo) error {
				if refuse.Load() {
					return errors.New("blocked")
				}
				return nil
			}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = svc.Close() })
		ask := func(email string) (*magiclink.PendingTicket, int64) {
			var tk *magiclink.PendingTicket
			n := rt.count(func() {
				tk, err = svc.SendLinkPending(ctx, magiclink.SendRequest{Email: email, CallbackOrigin: "https://app.example.com"}, "UA")
			})
			if err != nil || tk == nil {
				t.Fatalf("SendLinkPending(%s): %v, %v", email, tk, err)
			}
			return tk, n
		}
		loadScripts(t, rdb, s.pending.put)
		accepted, acceptedTrips := ask("open@example.com")
		refuse.Store(true)
		mails := mail.Len()
		refused, refusedTrips := ask("blocked@example.com")
		if acceptedTrips != refusedTrips || refusedTrips != 1 {
			t.Fatalf("an accepted send made %d round trips, a refused one %d; want 1 each", acceptedTrips, refusedTrips)
		}
		if mail.Len() != mails {
			t.Fatal("a refused send mailed")
		}
		if len(refused.Cookie) != len(accepted.Cookie) || len(refused.Match) != 2 || !refused.ExpiresAt.Equal(accepted.ExpiresAt) {
			t.Fatalf("refused ticket %+v does not look like the accepted %+v", refused, accepted)
		}
		poll := func(tk *magiclink.PendingTicket) refusalPoll {
			st, err := svc.Pending(ctx, tk.Cookie)
			if err != nil && !errors.Is(err, magiclink.ErrInvalidPending) {
				t.Fatal(err)
			}
			return refusalPoll{status: st.Status, expiresIn: st.ExpiresIn, sameMatch: st.Match == tk.Match, invalid: err != nil}
		}
		steps := []struct {
			advance time.Duration
			want    string // "" for gone
		}{
			{0, magiclink.PendingWaiting},
			{time.Minute, magiclink.PendingWaiting},
			{14*time.Minute - time.Second, magiclink.PendingWaiting},
			{time.Second, magiclink.PendingExpired},
			{time.Minute + 59*time.Second, magiclink.PendingExpired},
			{time.Second, ""},
		}
		for i, st := range steps {
			clock.Advance(st.advance)
			a, r := poll(accepted), poll(refused)
			if a != r {
				t.Fatalf("poll %d: refused answers %+v, accepted %+v; the refusal shows", i, r, a)
			}
			if a.status != st.want || a.invalid != (st.want == "") || a.sameMatch != (st.want == magiclink.PendingWaiting) {
				t.Fatalf("poll %d of the accepted send: %+v; want %q", i, a, st.want)
			}
		}
	})
}
