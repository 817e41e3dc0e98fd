package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/internal/conc"
	"github.com/magiclink-go/magiclink/internal/testpg"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/ratelimit"
)

const (
	appOrigin = "https://app.example.com"
	secret    = "0123456789abcdef0123456789abcdef-shared-secret"
)

// newService is one server instance on the rig's database: pgstore as its
// store and limiter.
func newService(t *testing.T, r *rig, mail mailer.Mailer, limits magiclink.Limits, opts ...Option) *magiclink.Service {
	t.Helper()
	s := r.store(t, opts...)
	svc, err := magiclink.New(magiclink.Config{Origins: []string{appOrigin}, Secret: []byte(secret),
		Store: s, Limiter: s, Mailer: mail, Limits: limits, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("magiclink.New: %v", err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

func tokenOf(t *testing.T, m *mailer.Message) string {
	t.Helper()
	u, err := url.Parse(m.Link)
	if err != nil {
		t.Fatalf("unparsable link: %v", err)
	}
	return u.Query().Get("token_hash")
}

// TestServicesShareOneDatabase runs two Services — two server instances —
// on one database: 200 concurrent sends for one address under a limit of 5
// per hour yield exactly 5 mails in all, and each link works on the other
// instance, once.
func TestServicesShareOneDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRig(t)
	mail := mailer.NewMemory()
	limits := magiclink.Limits{SendPerEmail: ratelimit.Rate{Limit: 5, Period: time.Hour, Burst: 5}}
	instances := []*magiclink.Service{newService(t, r, mail, limits), newService(t, r, mail, limits)}
	var sent, limited atomic.Int32
	conc.Run(200, func(i int) {
		err := instances[i%2].SendLink(ctx, magiclink.SendRequest{Email: "shared@example.com", CallbackOrigin: appOrigin,
			Next: "/welcome", ClientIP: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})})
		switch {
		case err == nil:
			sent.Add(1)
		case errors.Is(err, magiclink.ErrRateLimited):
			limited.Add(1)
		default:
			t.Errorf("SendLink: %v", err)
		}
	})
	msgs := mail.Messages()
	if sent.Load() != 5 || limited.Load() != 195 || len(msgs) != 5 {
		t.Fatalf("200 concurrent sends over two instances: %d sent, %d limited, %d mails; want 5, 195, 5",
			sent.Load(), limited.Load(), len(msgs))
	}
	var userID string
	for i, m := range msgs {
		token := tokenOf(t, m)
		id, err := instances[(i+1)%2].Verify(ctx, token)
		if err != nil || id.Email != "shared@example.com" || id.Next != "/welcome" {
			t.Fatalf("link %d on the other instance: %+v, %v", i, id, err)
		}
		if userID == "" {
			userID = id.UserID
		} else if id.UserID != userID {
			t.Fatalf("link %d signed in user %q, the first %q: one address, one user", i, id.UserID, userID)
		}
		if _, err := instances[i%2].Verify(ctx, token); !errors.Is(err, magiclink.ErrInvalidToken) {
			t.Fatalf("link %d used twice: %v, want ErrInvalidToken", i, err)
		}
	}
}

// verifyStoreBudget is what a verify may ask of the store: consume the
// link and resolve (or, on a first sign-in, create) its user (DESIGN §6).
const verifyStoreBudget = 2

// TestServiceStatementBudget pins DESIGN §6's budget through the Service:
// a send is 2 statements and a verify 1 for its limit decision plus what
// the Service asks of the store.
func TestServiceStatementBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRig(t)
	mail := mailer.NewMemory()
	svc := newService(t, r, mail, magiclink.DefaultLimits())
	ip := netip.MustParseAddr("192.0.2.10")
	send := func() {
		if err := svc.SendLink(ctx, magiclink.SendRequest{Email: "budget@example.com", CallbackOrigin: appOrigin, ClientIP: ip}); err != nil {
			t.Fatal(err)
		}
	}
	// Both limits in one batch and the token; the Service resolves no user
	// at send time (within DESIGN's ≤ 3).
	if n := r.stmts.count(send); n != 2 {
		t.Fatalf("SendLink took %d statements, want 2", n)
	}
	m, _ := mail.Last("budget@example.com")
	verify := func() {
		if _, err := svc.Verify(ctx, tokenOf(t, m), magiclink.WithClientIP(ip)); err != nil {
			t.Fatal(err)
		}
	}
	first := r.stmts.count(verify)
	send()
	m, _ = mail.Last("budget@example.com")
	known := r.stmts.count(verify)
	t.Logf("statements: verify with a first sign-in %d, of a known user %d (each with its limit decision)", first, known)
	if first != 1+verifyStoreBudget || known != 1+verifyStoreBudget {
		t.Fatalf("Verify took %d statements on a first sign-in and %d for a known user, want %d (limit + store)",
			first, known, 1+verifyStoreBudget)
	}
}

// TestServiceSendWithOutbox: with the PostgreSQL outbox as its mailer, a
// send is 3 statements (both limits, the token, the accepted mail), and
// the mail arrives.
func TestServiceSendWithOutbox(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	s := r.store(t)
	rec := newRecorder()
	ob, err := s.NewOutbox(rec, mailer.OutboxOptions{Secret: []byte(secret), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Close(context.Background()) })
	svc, err := magiclink.New(magiclink.Config{Origins: []string{appOrigin}, Secret: []byte(secret), Store: s, Limiter: s,
		Mailer: ob, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	ip := netip.MustParseAddr("192.0.2.20")
	for i, to := range []string{"ob1@example.com", "ob2@example.com"} {
		n := r.stmts.countMatching(notOutboxWork, func() {
			if err := svc.SendLink(context.Background(), magiclink.SendRequest{Email: to, CallbackOrigin: appOrigin, ClientIP: ip}); err != nil {
				t.Fatal(err)
			}
		})
		if n != 3 {
			t.Fatalf("send %d with the outbox took %d statements, want 3", i, n)
		}
	}
	for deadline := time.After(20 * time.Second); len(rec.Delivered()) < 2; {
		select {
		case <-rec.Changed():
		case <-deadline:
			t.Fatalf("%d of 2 mails delivered through the outbox", len(rec.Delivered()))
		}
	}
}

// TestServiceStoreDown: with the database killed, the handler answers 503
// STORE_UNAVAILABLE with Retry-After within the store's timeout, never 500;
// once it is back, sends succeed again without a restart of the service.
func TestServiceStoreDown(t *testing.T) {
	t.Parallel()
	srv := testpg.Start(t)
	r := migratedRig(t, srv.Database(t))
	const timeout = 500 * time.Millisecond
	svc := newService(t, r, mailer.NewMemory(), magiclink.Limits{}, WithTimeout(timeout))
	h, err := httpadapter.New(svc, httpadapter.Config{})
	if err != nil {
		t.Fatal(err)
	}
	send := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/auth/send-magic-link",
			strings.NewReader(`{"email":"down@example.com","callback_origin":"`+appOrigin+`"}`))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := send(); rec.Code != http.StatusOK {
		t.Fatalf("send with the database up: %d %s", rec.Code, rec.Body)
	}
	srv.Kill(t)
	start := time.Now()
	rec := send()
	took := time.Since(start)
	var body struct{ Code string }
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != http.StatusServiceUnavailable || body.Code != "STORE_UNAVAILABLE" || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("send with the database killed: %d %q Retry-After %q; want 503 STORE_UNAVAILABLE with Retry-After",
			rec.Code, body.Code, rec.Header().Get("Retry-After"))
	}
	if took > 2*timeout {
		t.Fatalf("the 503 took %v, want within the store's %v timeout", took, timeout)
	}
	srv.Restart(t)
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		rec := send()
		if rec.Code == http.StatusOK {
			break
		}
		if rec.Code != http.StatusServiceUnavailable || time.Since(start) > 30*time.Second {
			t.Fatalf("send after the database returned: %d %s", rec.Code, rec.Body)
		}
	}
}
