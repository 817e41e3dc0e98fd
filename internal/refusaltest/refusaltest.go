// Package refusaltest is the one scenario of a send refused because the
// outbox's server is down, which every store with an outbox runs against
// its real servers: the refusal comes before any round trip and changes
// nothing. A store's test supplies its own servers, outbox and round-trip
// count through a Backend and calls Run.
package refusaltest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/internal/fakeclock"
	"github.com/magiclink-go/magiclink/internal/syncbuf"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

// Backend is one store's part of the scenario.
type Backend struct {
	// Store and Limiter keep the Service's tokens and limits, on a server
	// that stays up.
	Store   store.Store
	Limiter ratelimit.Limiter
	// OpenOutbox starts the outbox under test on a server of its own,
	// delivering through m with o as given; the scenario closes it.
	OpenOutbox func(t *testing.T, m mailer.Mailer, o mailer.OutboxOptions) mailer.Outbox
	// RoundTrips runs send with a context derived from ctx (a backend may
	// mark it) and returns the round trips send made to either server, in
	// order, one name each, leaving out those of the outbox's own workers.
	RoundTrips func(ctx context.Context, send func(ctx context.Context)) []string
	// IsOutboxWrite reports whether a round trip's name is the outbox's
	// write of a mail (the XADD, the INSERT).
	IsOutboxWrite func(roundTrip string) bool
	// Kill kills the outbox's server, as a crash would; Restart starts it
	// again and returns once it serves.
	Kill, Restart func(t testing.TB)
}

const (
	origin = "https://app.example.com"
	secret = "refusaltest secret: 0123456789abcdef0123456789abcdef"
	// coolDown is the outbox's first cool-down after a failed write
	// (the mailer.Outbox contract).
	coolDown = 250 * time.Millisecond
	waitFor  = 20 * time.Second
)

// Run is the scenario: once a write to the outbox has failed (its server
// killed), sends are refused with 503 MAIL_UNAVAILABLE and Retry-After
// before any round trip — no limit charged, no link stored, no "issued"
// record — so the address's earlier code still signs in and, the server
// back, a later send passes a limit of one per hour. An accepted send is
// the same three round trips (limits, token, outbox write) before and
// after the outage.
func Run(t *testing.T, b Backend) {
	t.Helper()
	r := newRig(t, b)
	const ada, bob, carol = "ada@example.com", "bob@example.com", "carol@example.com"
	accepted, adaCode := r.beforeOutage(ada)

	b.Kill(t)
	// The outbox learns of the outage from this send's failed write; the
	// send has stored its link by then, so it is bob's, not ada's.
	if rec, code, _ := r.send(bob, "192.0.2.2"); rec.Code != http.StatusServiceUnavailable || code != "MAIL_UNAVAILABLE" {
		t.Fatalf("send whose outbox write fails: %d %q, want 503 MAIL_UNAVAILABLE", rec.Code, code)
	}
	// ada's limit is spent: a refusal decided after the limits would be 429.
	for _, c := range [][2]string{{ada, "192.0.2.1"}, {carol, "192.0.2.3"}, {carol, "192.0.2.3"}} {
		r.refused(c[0], c[1])
	}
	if a, bo, c := r.issued(ada), r.issued(bob), r.issued(carol); a != 1 || bo != 0 || c != 0 {
		t.Fatalf("\"issued\" records: ada %d, bob %d, carol %d; want 1, 0, 0:\n%s", a, bo, c, r.logs)
	}
	if id, err := r.svc.VerifyCode(t.Context(), ada, adaCode); err != nil || id.Email != ada {
		t.Fatalf("ada's earlier code after refused sends: %+v, %v", id, err)
	}

	b.Restart(t)
	r.clock.Advance(coolDown)
	rec, code, again := r.send(carol, "192.0.2.3")
	if rec.Code != http.StatusOK || !slices.Equal(again, accepted) {
		t.Fatalf("carol's send after the outage: %d %q, round trips %q; want 200 (her refused sends charged nothing) and %q",
			rec.Code, code, again, accepted)
	}
	r.mail(carol)
	if n := r.issued(carol); n != 1 {
		t.Fatalf("%d \"issued\" records for carol, want 1", n)
	}
}

// rig is a Service behind the HTTP handler on a Backend, with a limit of
// one send per hour per address and per IP.
type rig struct {
	t     *testing.T
	b     Backend
	h     *httpadapter.Handler
	svc   *magiclink.Service
	clock *fakeclock.Clock
	inbox *mailer.Memory
	logs  *syncbuf.Buffer
}

func newRig(t *testing.T, b Backend) *rig {
	t.Helper()
	r := &rig{t: t, b: b, clock: fakeclock.New(time.Now().Truncate(time.Millisecond)),
		inbox: mailer.NewMemory(), logs: &syncbuf.Buffer{}}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	templates := mailer.DefaultTemplates()
	ob := b.OpenOutbox(t, r.inbox, mailer.OutboxOptions{Secret: []byte(secret), Renderer: templates,
		PollInterval: 20 * time.Millisecond, Now: r.clock.Now, Logger: discard})
	t.Cleanup(func() { _ = ob.Close(context.Background()) })
	oneEach := ratelimit.Rate{Limit: 1, Period: time.Hour, Burst: 1}
	var err error
	r.svc, err = magiclink.New(magiclink.Config{
		Origins: []string{origin}, Secret: []byte(secret), Store: b.Store, Limiter: b.Limiter, Mailer: ob,
		Templates: templates, Limits: magiclink.Limits{SendPerIP: oneEach, SendPerEmail: oneEach},
		Logger: slog.New(slog.NewTextHandler(r.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.svc.Close() })
	if r.h, err = httpadapter.New(r.svc, httpadapter.Config{Logger: discard}); err != nil {
		t.Fatal(err)
	}
	return r
}

// beforeOutage warms the servers up (dials, loads scripts), then sends
// for email and returns the send's round trips and the code it mailed.
func (r *rig) beforeOutage(email string) (accepted []string, code string) {
	r.t.Helper()
	if rec, _, _ := r.send("warm-up@example.com", "192.0.2.9"); rec.Code != http.StatusOK {
		r.t.Fatalf("warm-up send: %d %s", rec.Code, rec.Body)
	}
	rec, _, accepted := r.send(email, "192.0.2.1")
	if rec.Code != http.StatusOK || len(accepted) != 3 || !r.b.IsOutboxWrite(accepted[2]) {
		r.t.Fatalf("accepted send: %d, round trips %q; want 200 and 3 round trips ending with the outbox write", rec.Code, accepted)
	}
	return accepted, r.mail(email).Code
}

// refused fails unless a send for email from ip is refused with 503
// MAIL_UNAVAILABLE and a Retry-After, without a single round trip.
func (r *rig) refused(email, ip string) {
	r.t.Helper()
	rec, code, trips := r.send(email, ip)
	if rec.Code != http.StatusServiceUnavailable || code != "MAIL_UNAVAILABLE" {
		r.t.Fatalf("send for %s after the failed write: %d %q; want 503 MAIL_UNAVAILABLE", email, rec.Code, code)
	}
	r.retryAfter(email, rec)
	if len(trips) != 0 {
		r.t.Fatalf("refused send for %s made round trips %q, want none at all", email, trips)
	}
}

// retryAfter fails unless a refused send's Retry-After is a whole number
// of seconds within the breaker's cool-down: 1 to 4.
func (r *rig) retryAfter(email string, rec *httptest.ResponseRecorder) {
	r.t.Helper()
	h := rec.Header().Get("Retry-After")
	secs, err := strconv.Atoi(h)
	if err != nil || secs < 1 || secs > 4 {
		r.t.Fatalf("refused send for %s: Retry-After %q, want the breaker's wait, 1 to 4 whole seconds", email, h)
	}
}

// send posts a send for email from ip and returns the answer, its error
// code and the round trips it made.
func (r *rig) send(email, ip string) (rec *httptest.ResponseRecorder, code string, trips []string) {
	req := httptest.NewRequest(http.MethodPost, "/auth/send-magic-link",
		strings.NewReader(`{"email":"`+email+`","callback_origin":"`+origin+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = ip + ":40000"
	rec = httptest.NewRecorder()
	trips = r.b.RoundTrips(req.Context(), func(ctx context.Context) { r.h.ServeHTTP(rec, req.WithContext(ctx)) })
	var body struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec, body.Code, trips
}

// mail waits for the mail to email.
func (r *rig) mail(email string) *mailer.Message {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.t.Context(), waitFor)
	defer cancel()
	m, err := r.inbox.Wait(ctx, email)
	if err != nil {
		r.t.Fatalf("%s's mail: %v", email, err)
	}
	return m
}

// issued counts the "sign-in link issued" records of email.
func (r *rig) issued(email string) int {
	n := 0
	for line := range strings.SplitSeq(r.logs.String(), "\n") {
		if strings.Contains(line, "sign-in link issued") && strings.Contains(line, "email="+mailer.MaskAddress(email)) {
			n++
		}
	}
	return n
}
