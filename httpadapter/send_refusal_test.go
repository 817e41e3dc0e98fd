package httpadapter_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/mailer"
)

// gatedMailer delivers each mail to inner, signals it, then holds the
// worker until the gate opens.
type gatedMailer struct {
	inner   mailer.Mailer
	gate    chan struct{}
	arrived chan struct{}
}

func (g *gatedMailer) Send(ctx context.Context, m *mailer.Message) error {
	if err := g.inner.Send(ctx, m); err != nil {
		return err
	}
	g.arrived <- struct{}{}
	select {
	case <-g.gate:
		return nil
	case <-ctx.Done():
		return mailer.Temporary(ctx.Err())
	}
}

// TestSendQueueFullIs503AndKeepsTheCode: a full mail queue answers 503
// MAIL_UNAVAILABLE with Retry-After, and the code of the address's
// earlier mail still signs in.
func TestSendQueueFullIs503AndKeepsTheCode(t *testing.T) {
	t.Parallel()
	var d *mailer.Dispatcher
	var g *gatedMailer
	e := newEnv(t, func(c *magiclink.Config, _ *httpadapter.Config) {
		g = &gatedMailer{inner: c.Mailer, gate: make(chan struct{}), arrived: make(chan struct{}, 4)}
		d = mailer.NewDispatcher(g, mailer.DispatcherOptions{QueueSize: 1, Workers: 1, Logger: discardLogger()})
		c.Mailer = d
	})
	var once sync.Once
	open := func() { once.Do(func() { close(g.gate) }) }
	t.Cleanup(func() { open(); _ = d.Close(context.Background()) })

	const body = `{"email":"ada@example.com","callback_origin":"https://app.example.com"}`
	wantStatus(t, e.do(jsonReq(sendPath, body)), http.StatusOK)
	<-g.arrived // delivered; the worker is held, the queue empty
	_, code := e.lastMail("ada@example.com")
	if err := d.Send(context.Background(), &mailer.Message{To: "filler@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatalf("filling the queue: %v", err)
	}

	rec := e.do(jsonReq(sendPath, body))
	wantPortalError(t, rec, http.StatusServiceUnavailable, "MAIL_UNAVAILABLE")
	if got := rec.Header().Get("Retry-After"); got != "1" {
		t.Fatalf("queue full: Retry-After = %q, want 1 (the Dispatcher gives no hint)", got)
	}
	rec = e.do(jsonReq(verifyPath, `{"email":"ada@example.com","code":"`+code+`"}`))
	wantStatus(t, rec, http.StatusOK)
}

// hintedRefusal is a mailer refusal that says when to retry.
type hintedRefusal struct{ wait time.Duration }

func (e hintedRefusal) Error() string             { return "outbox: store down, next trial in " + e.wait.String() }
func (e hintedRefusal) RetryAfter() time.Duration { return e.wait }

// hintedReserver refuses every send and reservation with err, as an
// outbox with its breaker open does.
type hintedReserver struct{ err error }

func (m hintedReserver) Send(context.Context, *mailer.Message) error { return m.err }

func (m hintedReserver) Reserve(context.Context) (mailer.Reservation, error) { return nil, m.err }

// TestSendRefusalRetryAfterFollowsTheMailer: a refusal whose error says
// "retry in 3 s" answers Retry-After: 3 on both shapes of a send, the JSON
// one (whose body, seed 001, has retryAfter on 429 only) and the form
// post's page (which words the same wait).
func TestSendRefusalRetryAfterFollowsTheMailer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *magiclink.Config, _ *httpadapter.Config) {
		c.Mailer = hintedReserver{mailer.Temporary(hintedRefusal{3 * time.Second})}
	})

	rec := e.do(jsonReq(sendPath, `{"email":"ada@example.com","callback_origin":"https://app.example.com"}`))
	m := wantPortalError(t, rec, http.StatusServiceUnavailable, "MAIL_UNAVAILABLE")
	if got := rec.Header().Get("Retry-After"); got != "3" {
		t.Errorf("JSON send: Retry-After = %q, want 3", got)
	}
	if ra, ok := m["retryAfter"]; ok {
		t.Errorf("JSON send: body retryAfter = %v on a 503; seed 001 has it on 429 only", ra)
	}

	rec = e.do(formReq(appOrigin+sendPath, url.Values{"email": {"ada@example.com"}, "callback_origin": {appOrigin}}, sameSite...))
	wantStatus(t, rec, http.StatusServiceUnavailable)
	if got := rec.Header().Get("Retry-After"); got != "3" {
		t.Errorf("form send: Retry-After = %q, want 3", got)
	}
	wantContains(t, html.UnescapeString(rec.Body.String()), "Sign-in is temporarily unavailable.", "You can try again in 3 seconds.")
}
