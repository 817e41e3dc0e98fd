package magiclink_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer"
)

// hintError is a mailer error that says when to retry.
type hintError struct{ wait time.Duration }

func (e hintError) Error() string             { return fmt.Sprintf("busy for %v", e.wait) }
func (e hintError) RetryAfter() time.Duration { return e.wait }

// refusingMailer fails every Send with err.
type refusingMailer struct{ err error }

func (m refusingMailer) Send(context.Context, *mailer.Message) error { return m.err }

// refusingReserver refuses every reservation with err.
type refusingReserver struct{ refusingMailer }

func (m refusingReserver) Reserve(context.Context) (mailer.Reservation, error) { return nil, m.err }

// TestMailRefusalCarriesTheMailersHint: a Mailer's or Reserver's error
// whose chain has a RetryAfter method with a positive wait makes the
// ErrMailUnavailable's RetryAfter that wait in whole seconds, rounded up;
// without one (or with no wait) it stays 1 s. The cause still matches.
func TestMailRefusalCarriesTheMailersHint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want time.Duration
	}{
		{"3s", hintError{3 * time.Second}, 3 * time.Second},
		{"wrapped twice", fmt.Errorf("outbox: %w", mailer.Temporary(hintError{3 * time.Second})), 3 * time.Second},
		{"250ms rounds up", hintError{250 * time.Millisecond}, time.Second},
		{"2.1s rounds up", hintError{2100 * time.Millisecond}, 3 * time.Second},
		{"no wait", hintError{0}, time.Second},
		{"negative", hintError{-time.Second}, time.Second},
		{"no hint", mailer.ErrQueueFull, time.Second},
	} {
		for _, via := range []struct {
			name string
			m    mailer.Mailer
		}{{"Send", refusingMailer{tc.err}}, {"Reserve", refusingReserver{refusingMailer{tc.err}}}} {
			t.Run(tc.name+"/"+via.name, func(t *testing.T) {
				t.Parallel()
				f := newFixture(t, func(c *magiclink.Config) { c.Mailer = via.m })
				err := sendFrom(f.svc, "ada@example.com", ipAda)
				var e *magiclink.Error
				if !errors.As(err, &e) || !errors.Is(err, magiclink.ErrMailUnavailable) || !errors.Is(err, tc.err) {
					t.Fatalf("SendLink: %v, want ErrMailUnavailable caused by %v", err, tc.err)
				}
				if e.RetryAfter != tc.want {
					t.Fatalf("RetryAfter = %v, want %v", e.RetryAfter, tc.want)
				}
			})
		}
	}
}
