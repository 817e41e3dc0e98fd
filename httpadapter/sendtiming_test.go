package httpadapter_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store"
)

// slowMailer is a Memory mailer that takes a while per mail, like a real
// transport: were mail sent synchronously, requests that mail would be
// visibly slower than requests that do not.
type slowMailer struct {
	*mailer.Memory
	delay time.Duration
}

func (m slowMailer) Send(ctx context.Context, msg *mailer.Message) error {
	t := time.NewTimer(m.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return m.Memory.Send(ctx, msg)
}

// TestTimingKnownVersusUnknownAddress: send-magic-link for an address with
// a user and one without take the same time (medians within 10%) through
// the real handler, with a Dispatcher in front of a slow mailer — with
// signup on (both get mail) and with DisableSignup (only the known one
// does). Requests alternate between the two so that machine noise hits
// both alike.
func TestTimingKnownVersusUnknownAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("timing measurement; skipped with -short")
	}
	const perSide = 2000
	for _, disableSignup := range []bool{false, true} {
		t.Run(fmt.Sprintf("DisableSignup=%v", disableSignup), func(t *testing.T) {
			mem := mailer.NewMemory()
			d := mailer.NewDispatcher(slowMailer{Memory: mem, delay: 2 * time.Millisecond},
				mailer.DispatcherOptions{QueueSize: 2*perSide + 1000, Workers: 4, Logger: discardLogger()})
			t.Cleanup(func() { _ = d.Close(context.Background()) })
			// A logger that formats every Info record, as the default
			// (slog.Default, Info, to stderr) does: a log line written for
			// one kind of address only is a timing difference too.
			logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
			r := newRig(t, rigOptions{svc: magiclink.Config{Mailer: d, Limits: magiclink.NoLimits(), DisableSignup: disableSignup, Logger: logger}})
			const known, unknown = "known@example.com", "unknown@example.com"
			if err := r.store.CreateUser(ctxBG, &store.User{ID: "usr_known", Email: known, CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			measure := func() (mk, mu time.Duration) {
				var k, u []time.Duration
				one := func(email string) time.Duration {
					req := httptest.NewRequest(http.MethodPost, sendPath,
						strings.NewReader(`{"email":"`+email+`","callback_origin":"https://app.example.com"}`))
					req.Header.Set("Content-Type", "application/json")
					rec := httptest.NewRecorder()
					start := time.Now()
					r.h.ServeHTTP(rec, req)
					took := time.Since(start)
					if rec.Code != http.StatusOK || rec.Body.String() != "{\"ok\":true}\n" {
						t.Fatalf("%s: %d %q; the answer must be the same 200 for both", email, rec.Code, rec.Body)
					}
					return took
				}
				for i := range 200 { // warm up
					one([]string{known, unknown}[i%2])
				}
				for i := range perSide {
					// Alternate which goes first, so neither always
					// follows the other's work.
					if i%2 == 0 {
						k = append(k, one(known))
						u = append(u, one(unknown))
					} else {
						u = append(u, one(unknown))
						k = append(k, one(known))
					}
				}
				return median(k), median(u)
			}
			diff := func(a, b time.Duration) float64 {
				return math.Abs(float64(a-b)) / float64(min(a, b))
			}
			mk, mu := measure()
			t.Logf("medians over %d requests each: known %v, unknown %v (%.1f%% apart)", perSide, mk, mu, 100*diff(mk, mu))
			if diff(mk, mu) > 0.10 {
				// The machine has two shared cores; a burst of unrelated
				// work can skew one run. Measure again and judge that run,
				// with the same 10% bound.
				mk, mu = measure()
				t.Logf("re-measured: known %v, unknown %v (%.1f%% apart)", mk, mu, 100*diff(mk, mu))
				if diff(mk, mu) > 0.10 {
					t.Errorf("send-magic-link medians differ by %.1f%% (known %v, unknown %v): timing tells whether an address has an account",
						100*diff(mk, mu), mk, mu)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := d.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			k, u := 0, 0
			for _, m := range mem.Messages() {
				switch m.To {
				case known:
					k++
				case unknown:
					u++
				}
			}
			if k == 0 || (disableSignup && u != 0) || (!disableSignup && u == 0) {
				t.Errorf("mails: %d to the known and %d to the unknown address (DisableSignup %v)", k, u, disableSignup)
			}
		})
	}
}

// median returns the middle duration of ds (the upper one of an even count).
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
