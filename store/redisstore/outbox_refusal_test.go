package redisstore

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/internal/fakeclock"
	"github.com/magiclink-go/magiclink/internal/syncbuf"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/outboxtest"
	"github.com/magiclink-go/magiclink/ratelimit"
)

// refusalRig is a Service behind the HTTP handler whose tokens and limits
// live on one Redis and whose outbox lives on another, which the test
// kills; both clients record the commands of marked requests.
type refusalRig struct {
	h       *httpadapter.Handler
	svc     *magiclink.Service
	mailSrv *testredis.Server
	calls   *markedCalls
	clock   *fakeclock.Clock
	inbox   *mailer.Memory
	logs    *syncbuf.Buffer
}

func newRefusalRig(t *testing.T) *refusalRig {
	t.Helper()
	rig := &refusalRig{mailSrv: testredis.Start(t), calls: &markedCalls{},
		clock: fakeclock.New(time.Now().Truncate(time.Millisecond)), inbox: mailer.NewMemory(), logs: &syncbuf.Buffer{}}
	rdb := testredis.Start(t).Client(t)
	mrdb := fastFailClient(t, rig.mailSrv.Addr())
	rdb.AddHook(rig.calls)
	mrdb.AddHook(rig.calls)
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	templates := mailer.DefaultTemplates()
	ob, err := NewOutbox(mrdb, rig.inbox, mailer.OutboxOptions{Secret: []byte(outboxtest.Secret), Renderer: templates,
		PollInterval: 20 * time.Millisecond, Now: rig.clock.Now, Logger: discard}, WithOutboxPrefix(uniquePrefix()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Close(context.Background()) })
	s := newStore(t, rdb)
	oneEach := ratelimit.Rate{Limit: 1, Period: time.Hour, Burst: 1}
	rig.svc, err = magiclink.New(magiclink.Config{
		Origins: []string{"https://app.example.com"}, Secret: []byte(outboxtest.Secret), Store: s, Limiter: s,
		Mailer: ob, Templates: templates, Limits: magiclink.Limits{SendPerIP: oneEach, SendPerEmail: oneEach},
		Logger: slog.New(slog.NewTextHandler(rig.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rig.svc.Close() })
	if rig.h, err = httpadapter.New(rig.svc, httpadapter.Config{Logger: discard}); err != nil {
		t.Fatal(err)
	}
	return rig
}

// send posts a send for email from ip and returns the answer, its error
// code and the commands it issued on either Redis.
func (rig *refusalRig) send(email, ip string) (rec *httptest.ResponseRecorder, code string, cmds []string) {
	req := httptest.NewRequest(http.MethodPost, "/auth/send-magic-link",
		strings.NewReader(`{"email":"`+email+`","callback_origin":"https://app.example.com"}`))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = ip + ":40000"
	req = req.WithContext(context.WithValue(req.Context(), sendMark{}, true))
	before := len(rig.calls.names())
	rec = httptest.NewRecorder()
	rig.h.ServeHTTP(rec, req)
	var body struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec, body.Code, rig.calls.names()[before:]
}

// issued counts the "sign-in link issued" records of email.
func (rig *refusalRig) issued(email string) int {
	n := 0
	for line := range strings.SplitSeq(rig.logs.String(), "\n") {
		if strings.Contains(line, "sign-in link issued") && strings.Contains(line, "email="+mailer.MaskAddress(email)) {
			n++
		}
	}
	return n
}

// TestOutboxRefusalChangesNothing: once a write to the outbox's Redis has
// failed, sends are refused with 503 MAIL_UNAVAILABLE and Retry-After
// before any round trip — no limit charged, no link stored, no "issued"
// record — so the address's earlier code still signs in and a later send
// passes a limit of one per hour. An accepted send issues the same three
// commands (limits, token, XADD) before and after the outage.
func TestOutboxRefusalChangesNothing(t *testing.T) {
	t.Parallel()
	rig := newRefusalRig(t)
	const ada, bob, carol = "ada@example.com", "bob@example.com", "carol@example.com"
	if rec, _, _ := rig.send("warm-up@example.com", "192.0.2.9"); rec.Code != http.StatusOK { // loads the scripts
		t.Fatalf("warm-up send: %d %s", rec.Code, rec.Body)
	}
	rec, _, accepted := rig.send(ada, "192.0.2.1")
	if rec.Code != http.StatusOK || len(accepted) != 3 || accepted[2] != "xadd" {
		t.Fatalf("accepted send: %d, commands %v; want 200 and 3 commands ending with the XADD", rec.Code, accepted)
	}
	wait, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	first, err := rig.inbox.Wait(wait, ada)
	if err != nil {
		t.Fatalf("ada's mail: %v", err)
	}

	rig.mailSrv.Stop(t)
	// The outbox learns of the outage from this send's failed XADD; the
	// send has stored its link by then, so it is bob's, not ada's.
	if rec, code, _ := rig.send(bob, "192.0.2.2"); rec.Code != http.StatusServiceUnavailable || code != "MAIL_UNAVAILABLE" {
		t.Fatalf("send whose XADD fails: %d %q, want 503 MAIL_UNAVAILABLE", rec.Code, code)
	}
	// ada's limit is spent: a refusal decided after the limits would be 429.
	for _, c := range [][2]string{{ada, "192.0.2.1"}, {carol, "192.0.2.3"}, {carol, "192.0.2.3"}} {
		rec, code, cmds := rig.send(c[0], c[1])
		if rec.Code != http.StatusServiceUnavailable || code != "MAIL_UNAVAILABLE" || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("send for %s after the failed write: %d %q Retry-After %q; want 503 MAIL_UNAVAILABLE with Retry-After",
				c[0], rec.Code, code, rec.Header().Get("Retry-After"))
		}
		if len(cmds) != 0 {
			t.Fatalf("refused send for %s issued %v, want no command at all", c[0], cmds)
		}
	}
	if a, b, c := rig.issued(ada), rig.issued(bob), rig.issued(carol); a != 1 || b != 0 || c != 0 {
		t.Fatalf("\"issued\" records: ada %d, bob %d, carol %d; want 1, 0, 0:\n%s", a, b, c, rig.logs)
	}
	if id, err := rig.svc.VerifyCode(t.Context(), ada, first.Code); err != nil || id.Email != ada {
		t.Fatalf("ada's earlier code after refused sends: %+v, %v", id, err)
	}

	rig.mailSrv.Restart(t)
	rig.clock.Advance(250 * time.Millisecond) // the outbox's cool-down
	rec, code, again := rig.send(carol, "192.0.2.3")
	if rec.Code != http.StatusOK || !slices.Equal(again, accepted) {
		t.Fatalf("carol's send after the outage: %d %q, commands %v; want 200 (her refused sends charged nothing) and %v",
			rec.Code, code, again, accepted)
	}
	if _, err := rig.inbox.Wait(wait, carol); err != nil {
		t.Fatalf("carol's mail: %v", err)
	}
	if n := rig.issued(carol); n != 1 {
		t.Fatalf("%d \"issued\" records for carol, want 1", n)
	}
}
