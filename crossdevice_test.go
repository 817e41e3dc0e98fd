package magiclink_test

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/conc"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

const askerUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"

var askerIP = netip.MustParseAddr("198.51.100.23")

// ask sends a link from a browser and returns its ticket and the mailed
// link's token and code.
func (f *fixture) ask(t *testing.T, email string) (ticket *magiclink.PendingTicket, token, code string) {
	t.Helper()
	before := len(f.mail.all())
	ticket, err := f.svc.SendLinkPending(context.Background(), magiclink.SendRequest{Email: email,
		CallbackOrigin: "https://app.example.com", Next: "/after", ClientIP: askerIP}, askerUA)
	if err != nil || ticket == nil {
		t.Fatalf("SendLinkPending: %v, %v", ticket, err)
	}
	msgs := f.mail.all()
	if len(msgs) != before+1 {
		t.Fatalf("SendLinkPending sent %d mails, want 1", len(msgs)-before)
	}
	u, err := url.Parse(msgs[len(msgs)-1].Link)
	if err != nil {
		t.Fatal(err)
	}
	return ticket, u.Query().Get("token_hash"), msgs[len(msgs)-1].Code
}

func (f *fixture) waiting(t *testing.T, ticket *magiclink.PendingTicket) string {
	t.Helper()
	st, err := f.svc.Pending(context.Background(), ticket.Cookie)
	if err != nil || st.Status != magiclink.PendingWaiting || len(st.Match) != 2 {
		t.Fatalf("Pending: %+v, %v; want waiting with a two-digit number", st, err)
	}
	return st.Match
}

// otherNumber is a number that is not match.
func otherNumber(match string) string {
	n, _ := strconv.Atoi(match)
	return strconv.Itoa((n + 1) % 100)
}

func TestCrossDeviceApprove(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ticket, token, _ := f.ask(t, "Laptop@Example.com")
	if len(ticket.Cookie) != 43 || !ticket.ExpiresAt.Equal(f.clock.Now().Add(15*time.Minute)) {
		t.Fatalf("ticket %d chars, expires %v; want a 256-bit token living as long as the link", len(ticket.Cookie), ticket.ExpiresAt)
	}
	st, err := f.svc.Pending(ctx, ticket.Cookie)
	if err != nil || st.Status != magiclink.PendingWaiting || st.ExpiresIn != 15*time.Minute {
		t.Fatalf("Pending: %+v, %v; want waiting for 15 minutes", st, err)
	}
	match := st.Match

	view, err := f.svc.PendingRequest(ctx, token, "")
	if err != nil || view.SameDevice || view.UserAgent != askerUA || view.IP != askerIP.String() || !view.CreatedAt.Equal(f.clock.Now()) {
		t.Fatalf("PendingRequest from another device: %+v, %v; want what asked", view, err)
	}
	if view, err := f.svc.PendingRequest(ctx, token, ticket.Cookie); err != nil || !view.SameDevice {
		t.Fatalf("PendingRequest in the asking browser: %+v, %v; want SameDevice", view, err)
	}

	f.clock.Advance(time.Minute)
	n, _ := strconv.Atoi(match)
	if err := f.svc.Approve(ctx, token, strconv.Itoa(n), magiclink.WithClientIP(netip.MustParseAddr("203.0.113.9"))); err != nil {
		t.Fatalf("Approve with the number as typed (%q for %q): %v", strconv.Itoa(n), match, err)
	}
	if _, err := f.svc.Verify(ctx, token); !errors.Is(err, magiclink.ErrInvalidToken) {
		t.Fatalf("the approving device signing in with the link too: got %v, want ErrInvalidToken", err)
	}
	st, err = f.svc.Pending(ctx, ticket.Cookie)
	if err != nil || st.Status != magiclink.PendingApproved || st.Identity.Email != "laptop@example.com" ||
		st.Identity.Next != "/after" || st.Identity.UserID == "" {
		t.Fatalf("the asking browser's poll after approval: %+v, %v; want approved with the identity", st, err)
	}
	if _, err := f.svc.Pending(ctx, ticket.Cookie); !errors.Is(err, magiclink.ErrInvalidPending) {
		t.Fatalf("a second poll after the approval was taken: got %v, want ErrInvalidPending", err)
	}
}

func TestCrossDeviceWrongNumberKills(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ticket, token, code := f.ask(t, "victim@example.com")
	match := f.waiting(t, ticket)
	err := f.svc.Approve(ctx, token, otherNumber(match))
	var e *magiclink.Error
	if !errors.Is(err, magiclink.ErrMatchInvalid) || !errors.As(err, &e) || e.Code != "MATCH_INVALID" || e.Field != "match" {
		t.Fatalf("Approve with a wrong number: got %v, want MATCH_INVALID on field match", err)
	}
	if err := f.svc.Approve(ctx, token, match); !errors.Is(err, magiclink.ErrInvalidToken) {
		t.Fatalf("the right number after a wrong one: got %v, want ErrInvalidToken (the link is used)", err)
	}
	if st, err := f.svc.Pending(ctx, ticket.Cookie); err != nil || st.Status != magiclink.PendingExpired || st.Match != "" {
		t.Fatalf("the asking browser after a denial: %+v, %v; want expired, no number", st, err)
	}
	if !strings.Contains(f.logs.String(), "wrong number") {
		t.Fatalf("a denial must be logged as a warning; logs:\n%s", f.logs.String())
	}
	if id, err := f.svc.VerifyCode(ctx, "victim@example.com", code); err != nil || id.Email != "victim@example.com" {
		t.Fatalf("the mail's code after a denial: %+v, %v; want it to still sign in where typed", id, err)
	}
}

func TestApproveRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ticket, token, _ := f.ask(t, "careful@example.com")
	match := f.waiting(t, ticket)
	for _, bad := range []string{"", "abc", "123", "-1", " 4", "٣"} {
		if err := f.svc.Approve(ctx, token, bad); !errors.Is(err, magiclink.ErrValidation) {
			t.Fatalf("Approve with %q: got %v, want a validation error", bad, err)
		}
	}
	for _, bad := range []string{"", "short", strings.Repeat("A", 43) + "="} {
		if err := f.svc.Approve(ctx, bad, match); !errors.Is(err, magiclink.ErrInvalidToken) {
			t.Fatalf("Approve of token %q: got %v, want ErrInvalidToken", bad, err)
		}
	}
	if err := f.svc.Approve(ctx, strings.Repeat("A", 43), match); !errors.Is(err, magiclink.ErrInvalidToken) {
		t.Fatalf("Approve of an unknown token: got %v, want ErrInvalidToken", err)
	}
	if f.waiting(t, ticket) != match {
		t.Fatal("refused approvals changed the number")
	}
	if err := f.svc.SendLink(ctx, magiclink.SendRequest{Email: "api@example.com", CallbackOrigin: "https://app.example.com"}); err != nil {
		t.Fatal(err)
	}
	msgs := f.mail.all()
	u, _ := url.Parse(msgs[len(msgs)-1].Link)
	plain := u.Query().Get("token_hash")
	if err := f.svc.Approve(ctx, plain, "12"); !errors.Is(err, magiclink.ErrInvalidPending) {
		t.Fatalf("Approve of a link no browser waits for: got %v, want ErrInvalidPending", err)
	}
	if _, err := f.svc.PendingRequest(ctx, plain, ""); !errors.Is(err, magiclink.ErrInvalidPending) {
		t.Fatalf("PendingRequest of a link no browser waits for: got %v, want ErrInvalidPending", err)
	}
	if _, err := f.svc.Verify(ctx, plain); err != nil {
		t.Fatalf("a refused approval must leave the link usable: %v", err)
	}
	if err := f.svc.Approve(ctx, token, match); err != nil {
		t.Fatalf("the right number after refused attempts: %v", err)
	}
}

func TestPendingInvalidCookies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, c := range []string{"", "x", strings.Repeat("A", 43), strings.Repeat("A", 44), "../../etc"} {
		if _, err := f.svc.Pending(context.Background(), c); !errors.Is(err, magiclink.ErrInvalidPending) {
			t.Fatalf("Pending(%q): got %v, want ErrInvalidPending", c, err)
		}
	}
}

func TestPendingExpires(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ticket, token, _ := f.ask(t, "slow@example.com")
	match := f.waiting(t, ticket)
	f.clock.Advance(15*time.Minute - time.Second)
	if st, _ := f.svc.Pending(ctx, ticket.Cookie); st.Status != magiclink.PendingWaiting || st.ExpiresIn != time.Second {
		t.Fatalf("a second before expiry: %+v; want waiting, 1s left", st)
	}
	f.clock.Advance(time.Second)
	if st, err := f.svc.Pending(ctx, ticket.Cookie); err != nil || st.Status != magiclink.PendingExpired {
		t.Fatalf("at expiry: %+v, %v; want expired", st, err)
	}
	if err := f.svc.Approve(ctx, token, match); !errors.Is(err, magiclink.ErrInvalidToken) {
		t.Fatalf("Approve at expiry: got %v, want ErrInvalidToken", err)
	}
}

func TestPendingAfterSameBrowserVerify(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ticket, token, _ := f.ask(t, "tabs@example.com")
	if _, err := f.svc.Verify(ctx, token, magiclink.WithPendingCookie(ticket.Cookie)); err != nil {
		t.Fatalf("Verify in the asking browser: %v", err)
	}
	if st, err := f.svc.Pending(ctx, ticket.Cookie); err != nil || st.Status != magiclink.PendingExpired {
		t.Fatalf("the asking tab after the link was used in another tab: %+v, %v; want expired", st, err)
	}
}

func TestRequireSameDevice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *magiclink.Config) { c.RequireSameDevice = true })
	ctx := context.Background()
	ticket, token, _ := f.ask(t, "strict@example.com")
	other, _, _ := f.ask(t, "strict-other@example.com")
	for name, opts := range map[string][]magiclink.VerifyOption{
		"no cookie":              nil,
		"another request's":      {magiclink.WithPendingCookie(other.Cookie)},
		"a malformed cookie":     {magiclink.WithPendingCookie("nope")},
		"an unknown cookie":      {magiclink.WithPendingCookie(strings.Repeat("B", 43))},
		"the IP only, no cookie": {magiclink.WithClientIP(askerIP)},
	} {
		_, err := f.svc.Verify(ctx, token, opts...)
		var e *magiclink.Error
		if !errors.Is(err, magiclink.ErrDeviceMismatch) || !errors.As(err, &e) || e.Code != "DEVICE_MISMATCH" {
			t.Fatalf("Verify with %s: got %v, want DEVICE_MISMATCH", name, err)
		}
	}
	if id, err := f.svc.Verify(ctx, token, magiclink.WithPendingCookie(ticket.Cookie)); err != nil || id.Email != "strict@example.com" {
		t.Fatalf("Verify in the asking browser: %+v, %v", id, err)
	}

	_, token2, code2 := f.ask(t, "strict2@example.com")
	if id, err := f.svc.VerifyCode(ctx, "strict2@example.com", code2); err != nil || id.Email != "strict2@example.com" {
		t.Fatalf("the code on another device under RequireSameDevice: %+v, %v; want it to sign in", id, err)
	}
	if _, err := f.svc.Verify(ctx, token2); !errors.Is(err, magiclink.ErrInvalidToken) {
		t.Fatalf("the link after its code: got %v, want ErrInvalidToken", err)
	}
	created := f.link(t, "partner@example.com")
	if _, err := f.svc.Verify(ctx, created.Token); err != nil {
		t.Fatalf("a CreateLink link, which no browser asked for, under RequireSameDevice: %v", err)
	}
}

// noPendingStore is a store without the PendingRequests capability.
type noPendingStore struct{ store.Store }

func TestRequireSameDeviceNeedsCapableStore(t *testing.T) {
	t.Parallel()
	_, err := magiclink.New(magiclink.Config{Origins: []string{"https://app.example.com"}, Secret: testSecret,
		Store: noPendingStore{store.NewMemory(store.WithSweepInterval(0))}, RequireSameDevice: true})
	var e *magiclink.Error
	if !errors.Is(err, magiclink.ErrInvalidConfig) || !errors.As(err, &e) || e.Field != "RequireSameDevice" {
		t.Fatalf("New with RequireSameDevice on a store without pending requests: got %v, want a config error naming the field", err)
	}
}

func TestSendLinkPendingWithoutCapability(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *magiclink.Config) { c.Store = noPendingStore{c.Store} })
	ticket, err := f.svc.SendLinkPending(context.Background(), magiclink.SendRequest{Email: "a@example.com",
		CallbackOrigin: "https://app.example.com"}, askerUA)
	if err != nil || ticket != nil || len(f.mail.all()) != 1 {
		t.Fatalf("SendLinkPending on a store without pending requests: %v, %v, %d mails; want a plain send", ticket, err, len(f.mail.all()))
	}
}

func TestSendLinkPendingSameForKnownAndUnknown(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	known, token, _ := f.ask(t, "known@example.com")
	if _, err := f.svc.Verify(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	again, _, _ := f.ask(t, "known@example.com")
	unknown, _, _ := f.ask(t, "unknown@example.com")
	for _, tk := range []*magiclink.PendingTicket{known, again, unknown} {
		if len(tk.Cookie) != 43 || !tk.ExpiresAt.Equal(f.clock.Now().Add(15*time.Minute)) {
			t.Fatalf("ticket %+v differs by whether the address has a user", tk)
		}
	}
}

func TestApproveLimitedPerIP(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *magiclink.Config) {
		c.Limits = magiclink.DefaultLimits()
		c.Limits.VerifyPerIP = ratelimit.Rate{Limit: 3, Period: time.Minute, Burst: 3}
	})
	ip := magiclink.WithClientIP(netip.MustParseAddr("192.0.2.200"))
	ctx := context.Background()
	for i := range 3 {
		if err := f.svc.Approve(ctx, strings.Repeat("A", 43), "12", ip); !errors.Is(err, magiclink.ErrInvalidToken) {
			t.Fatalf("attempt %d: got %v, want ErrInvalidToken", i+1, err)
		}
	}
	if err := f.svc.Approve(ctx, strings.Repeat("A", 43), "12", ip); !errors.Is(err, magiclink.ErrRateLimited) {
		t.Fatalf("fourth attempt from one IP: got %v, want ErrRateLimited", err)
	}
	if _, err := f.svc.Verify(ctx, strings.Repeat("A", 43), ip); !errors.Is(err, magiclink.ErrRateLimited) {
		t.Fatalf("Verify after approvals used the IP's budget: got %v, want ErrRateLimited (one budget)", err)
	}
}

func TestApproveAndVerifyRace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for round := range 10 {
		ticket, token, _ := f.ask(t, "race"+strconv.Itoa(round)+"@example.com")
		match := f.waiting(t, ticket)
		var approvals, verifies atomic.Int32
		conc.Run(40, func(i int) {
			if i%2 == 0 {
				if f.svc.Approve(ctx, token, match) == nil {
					approvals.Add(1)
				}
			} else if _, err := f.svc.Verify(ctx, token, magiclink.WithPendingCookie(ticket.Cookie)); err == nil {
				verifies.Add(1)
			}
		})
		if approvals.Load()+verifies.Load() != 1 {
			t.Fatalf("round %d: %d approvals and %d verifies, want exactly one in all", round, approvals.Load(), verifies.Load())
		}
		st, err := f.svc.Pending(ctx, ticket.Cookie)
		want := magiclink.PendingExpired
		if approvals.Load() == 1 {
			want = magiclink.PendingApproved
		}
		if err != nil || st.Status != want {
			t.Fatalf("round %d: the asking browser sees %+v, %v; want %s", round, st, err, want)
		}
	}
}

func TestPendingCookieNeverLogged(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ticket, token, _ := f.ask(t, "quiet@example.com")
	match := f.waiting(t, ticket)
	_ = f.svc.Approve(ctx, token, otherNumber(match))
	_, _ = f.svc.Pending(ctx, ticket.Cookie)
	logs := f.logs.String()
	if strings.Contains(logs, ticket.Cookie) || strings.Contains(logs, token) {
		t.Fatalf("logs contain the pending cookie or the link secret:\n%s", logs)
	}
}
