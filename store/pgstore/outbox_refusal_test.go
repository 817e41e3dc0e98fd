package pgstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/refusaltest"
	"github.com/magiclink-go/magiclink/internal/testpg"
	"github.com/magiclink-go/magiclink/mailer"
)

// TestOutboxRefusalChangesNothing runs the refusal scenario with the
// tokens and limits on the shared cluster and the outbox on a cluster of
// its own, which the scenario kills; both pools count their statements.
func TestOutboxRefusalChangesNothing(t *testing.T) {
	t.Parallel()
	mailSrv := testpg.Start(t)
	tokens, outbox := newRig(t), migratedRig(t, mailSrv.Database(t))
	s := tokens.store(t)
	refusaltest.Run(t, refusaltest.Backend{
		Store: s, Limiter: s,
		OpenOutbox: func(t *testing.T, m mailer.Mailer, o mailer.OutboxOptions) mailer.Outbox {
			ob, err := outbox.store(t, WithTimeout(2*time.Second)).NewOutbox(m, o)
			if err != nil {
				t.Fatal(err)
			}
			return ob
		},
		// The token store's statements, then the outbox's (its workers' own
		// left out): a send writes the outbox last.
		RoundTrips: func(ctx context.Context, send func(context.Context)) []string {
			var inOutbox []string
			inTokens := tokens.stmts.matching(func(string) bool { return true }, func() {
				inOutbox = outbox.stmts.matching(notOutboxWork, func() { send(ctx) })
			})
			return append(inTokens, inOutbox...)
		},
		IsOutboxWrite: func(sql string) bool {
			return strings.Contains(sql, "INSERT INTO") && strings.Contains(sql, ".outbox ")
		},
		Kill:    mailSrv.Kill,
		Restart: mailSrv.Restart,
	})
}
