package httpadapter_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

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

	wantPortalError(t, e.do(jsonReq(sendPath, body)), http.StatusServiceUnavailable, "MAIL_UNAVAILABLE")
	rec := e.do(jsonReq(verifyPath, `{"email":"ada@example.com","code":"`+code+`"}`))
	wantStatus(t, rec, http.StatusOK)
}
