package pgstore

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/internal/fakeclock"
	"github.com/magiclink-go/magiclink/internal/syncbuf"
	"github.com/magiclink-go/magiclink/internal/testpg"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/ratelimit"
)

// refusalRig is a Service behind the HTTP handler whose tokens and limits
// live on the shared cluster and whose outbox lives on a cluster of its
// own, which the test kills; both pools count their statements.
type refusalRig struct {
	h       *httpadapter.Handler
	svc     *magiclink.Service
	mailSrv *testpg.Server
	tokens  *rig // the token store's database
	outbox  *rig // the outbox's database
	clock   *fakeclock.Clock
	inbox   *mailer.Memory
	logs    *syncbuf.Buffer
}

func newRefusalRig(t *testing.T) *refusalRig {
	t.Helper()
	rr := &refusalRig{mailSrv: testpg.Start(t), tokens: newRig(t),
		clock: fakeclock.New(time.Now().Truncate(time.Millisecond)), inbox: mailer.NewMemory(), logs: &syncbuf.Buffer{}}
	rr.outbox = migratedRig(t, rr.mailSrv.Database(t))
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	templates := mailer.DefaultTemplates()
	ob, err := rr.outbox.store(t, WithTimeout(2*time.Second)).NewOutbox(rr.inbox, mailer.OutboxOptions{Secret: []byte(secret),
		Renderer: templates, PollInterval: 20 * time.Millisecond, Now: rr.clock.Now, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Close(context.Background()) })
	s := rr.tokens.store(t)
	oneEach := ratelimit.Rate{Limit: 1, Period: time.Hour, Burst: 1}
	rr.svc, err = magiclink.New(magiclink.Config{
		Origins: []string{appOrigin}, Secret: []byte(secret), Store: s, Limiter: s, Mailer: ob, Templates: templates,
		Limits: magiclink.Limits{SendPerIP: oneEach, SendPerEmail: oneEach}, Logger: slog.New(slog.NewTextHandler(rr.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rr.svc.Close() })
	if rr.h, err = httpadapter.New(rr.svc, httpadapter.Config{Logger: discard}); err != nil {
		t.Fatal(err)
	}
	return rr
}

// send posts a send for email from ip and returns the answer, its error
// code and the statements it sent to either database (the outbox's
// workers' own left out).
func (rr *refusalRig) send(email, ip string) (rec *httptest.ResponseRecorder, code string, stmts int64) {
	req := httptest.NewRequest(http.MethodPost, "/auth/send-magic-link",
		strings.NewReader(`{"email":"`+email+`","callback_origin":"`+appOrigin+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = ip + ":40000"
	rec = httptest.NewRecorder()
	var inOutbox int64
	inTokens := rr.tokens.stmts.count(func() {
		inOutbox = rr.outbox.stmts.countMatching(notOutboxWork, func() { rr.h.ServeHTTP(rec, req) })
	})
	var body struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec, body.Code, inTokens + inOutbox
}

// issued counts the "sign-in link issued" records of email.
func (rr *refusalRig) issued(email string) int {
	n := 0
	for line := range strings.SplitSeq(rr.logs.String(), "\n") {
		if strings.Contains(line, "sign-in link issued") && strings.Contains(line, "email="+mailer.MaskAddress(email)) {
			n++
		}
	}
	return n
}

// TestOutboxRefusalChangesNothing: once an INSERT into the outbox has
// failed (its cluster killed), sends are refused with 503 MAIL_UNAVAILABLE
// and Retry-After before any statement — no limit charged, no link
// stored, no "issued" record — so the address's earlier code still signs
// in and a later send passes a limit of one per hour. An accepted send is
// the same three statements (limits, token, INSERT) before and after.
func TestOutboxRefusalChangesNothing(t *testing.T) {
	t.Parallel()
	rr := newRefusalRig(t)
	const ada, bob, carol = "ada@example.com", "bob@example.com", "carol@example.com"
	if rec, _, _ := rr.send("warm-up@example.com", "192.0.2.9"); rec.Code != http.StatusOK {
		t.Fatalf("warm-up send: %d %s", rec.Code, rec.Body)
	}
	rec, _, accepted := rr.send(ada, "192.0.2.1")
	if rec.Code != http.StatusOK || accepted != 3 {
		t.Fatalf("accepted send: %d, %d statements; want 200 and 3", rec.Code, accepted)
	}
	wait, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	first, err := rr.inbox.Wait(wait, ada)
	if err != nil {
		t.Fatalf("ada's mail: %v", err)
	}

	rr.mailSrv.Kill(t)
	// The outbox learns of the outage from this send's failed INSERT; the
	// send has stored its link by then, so it is bob's, not ada's.
	if rec, code, _ := rr.send(bob, "192.0.2.2"); rec.Code != http.StatusServiceUnavailable || code != "MAIL_UNAVAILABLE" {
		t.Fatalf("send whose INSERT fails: %d %q, want 503 MAIL_UNAVAILABLE", rec.Code, code)
	}
	// ada's limit is spent: a refusal decided after the limits would be 429.
	for _, c := range [][2]string{{ada, "192.0.2.1"}, {carol, "192.0.2.3"}, {carol, "192.0.2.3"}} {
		rec, code, n := rr.send(c[0], c[1])
		if rec.Code != http.StatusServiceUnavailable || code != "MAIL_UNAVAILABLE" || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("send for %s after the failed write: %d %q Retry-After %q; want 503 MAIL_UNAVAILABLE with Retry-After",
				c[0], rec.Code, code, rec.Header().Get("Retry-After"))
		}
		if n != 0 {
			t.Fatalf("refused send for %s sent %d statements, want none", c[0], n)
		}
	}
	if a, b, c := rr.issued(ada), rr.issued(bob), rr.issued(carol); a != 1 || b != 0 || c != 0 {
		t.Fatalf("\"issued\" records: ada %d, bob %d, carol %d; want 1, 0, 0:\n%s", a, b, c, rr.logs)
	}
	if id, err := rr.svc.VerifyCode(t.Context(), ada, first.Code); err != nil || id.Email != ada {
		t.Fatalf("ada's earlier code after refused sends: %+v, %v", id, err)
	}

	rr.mailSrv.Restart(t)
	rr.clock.Advance(250 * time.Millisecond) // the outbox's cool-down
	rec, code, again := rr.send(carol, "192.0.2.3")
	if rec.Code != http.StatusOK || again != accepted {
		t.Fatalf("carol's send after the outage: %d %q, %d statements; want 200 (her refused sends charged nothing) and %d",
			rec.Code, code, again, accepted)
	}
	if _, err := rr.inbox.Wait(wait, carol); err != nil {
		t.Fatalf("carol's mail: %v", err)
	}
	if n := rr.issued(carol); n != 1 {
		t.Fatalf("%d \"issued\" records for carol, want 1", n)
	}
}
