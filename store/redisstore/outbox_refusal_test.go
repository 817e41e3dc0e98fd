package redisstore

import (
	"context"
	"testing"

	"github.com/magiclink-go/magiclink/internal/refusaltest"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/mailer"
)

// TestOutboxRefusalChangesNothing runs the refusal scenario with the
// tokens and limits on one Redis and the outbox on another, which the
// scenario kills; both clients record the commands of marked requests.
func TestOutboxRefusalChangesNothing(t *testing.T) {
	t.Parallel()
	mailSrv := testredis.Start(t)
	calls := &markedCalls{}
	rdb := testredis.Start(t).Client(t)
	mrdb := fastFailClient(t, mailSrv.Addr())
	rdb.AddHook(calls)
	mrdb.AddHook(calls)
	s := newStore(t, rdb)
	refusaltest.Run(t, refusaltest.Backend{
		Store: s, Limiter: s,
		OpenOutbox: func(t *testing.T, m mailer.Mailer, o mailer.OutboxOptions) mailer.Outbox {
			ob, err := NewOutbox(mrdb, m, o, WithOutboxPrefix(uniquePrefix()))
			if err != nil {
				t.Fatal(err)
			}
			return ob
		},
		RoundTrips: func(ctx context.Context, send func(context.Context)) []string {
			before := len(calls.names())
			send(context.WithValue(ctx, sendMark{}, true))
			return calls.names()[before:]
		},
		IsOutboxWrite: func(name string) bool { return name == "xadd" },
		Kill:          mailSrv.Stop,
		Restart:       mailSrv.Restart,
	})
}
