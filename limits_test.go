package magiclink_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/ratelimit"
)

const appOrigin = "https://app.example.com"

func send(svc *magiclink.Service, email string, ip netip.Addr) error {
	return svc.SendLink(context.Background(), magiclink.SendRequest{Email: email, CallbackOrigin: appOrigin, ClientIP: ip})
}

func wantRateLimited(t *testing.T, err error, what string) *magiclink.Error {
	t.Helper()
	var e *magiclink.Error
	if !errors.As(err, &e) || !errors.Is(err, magiclink.ErrRateLimited) {
		t.Fatalf("%s: got %v, want ErrRateLimited", what, err)
	}
	return e
}

// TestSendLockOutByOneIP is finding 16.1 on the default limits and the
// default (memory) limiter: one IP sends twice for each of 200 victims
// until its own limit refuses it; every victim then still gets its mail
// from its own IP. The Redis run of the same scenario is in
// store/redisstore (TestSendLockOutByOneIPRedis).
func TestSendLockOutByOneIP(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	attacker := netip.MustParseAddr("198.51.100.7")
	refused := 0
	for range 2 {
		for i := range 200 {
			if err := send(f.svc, fmt.Sprintf("victim%d@example.com", i), attacker); err != nil {
				wantRateLimited(t, err, "flood")
				refused++
			}
		}
	}
	if refused != 400-10 {
		t.Fatalf("the flood was refused %d times, want 390 (an IP burst of 10)", refused)
	}
	mailed := len(f.mail.all())
	for i := range 200 {
		own := netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i % 256)})
		if err := send(f.svc, fmt.Sprintf("victim%d@example.com", i), own); err != nil {
			t.Fatalf("victim %d from its own IP after the flood: %v", i, err)
		}
	}
	if got := len(f.mail.all()) - mailed; got != 200 {
		t.Fatalf("%d of 200 victims got their mail", got)
	}
}

// TestSendLimitPerMailbox is finding 16.5: sub-address spellings of one
// mailbox share its budget (burst 2); dots are not folded; the user and
// the mail keep the address as given.
func TestSendLimitPerMailbox(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, email := range []string{"ada+1@example.com", "Ada+2@Example.com"} {
		if err := send(f.svc, email, netip.Addr{}); err != nil {
			t.Fatalf("send to %s: %v", email, err)
		}
	}
	for _, email := range []string{"ada+3@example.com", "ada@example.com", "ada+@example.com"} {
		wantRateLimited(t, send(f.svc, email, netip.Addr{}), "a third send to the mailbox as "+email)
	}
	if err := send(f.svc, "a.da@example.com", netip.Addr{}); err != nil {
		t.Fatalf("a dotted spelling is another mailbox: %v", err)
	}
	m := f.mail.all()[0]
	u, _ := url.Parse(m.Link)
	id, err := f.svc.Verify(context.Background(), u.Query().Get("token_hash"))
	if err != nil || m.To != "ada+1@example.com" || id.Email != "ada+1@example.com" {
		t.Fatalf("mail to %q, identity %+v (%v); want the address as given", m.To, id, err)
	}
}

func TestMailbox(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"ada@example.com":       "ada@example.com",
		"ada+tag@example.com":   "ada@example.com",
		"ada+a+b@example.com":   "ada@example.com",
		"ada+@example.com":      "ada@example.com",
		"+tag@example.com":      "+tag@example.com",
		"a.d.a+x@gmail.com":     "a.d.a@gmail.com",
		"ada-tag@example.com":   "ada-tag@example.com",
		"ada+x@xn--bcher-kva.c": "ada@xn--bcher-kva.c",
	} {
		if got := magiclink.Mailbox(in); got != want {
			t.Errorf("mailbox(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCodeTriesPerMailboxAcrossCodes is finding 16.6: wrong tries are
// limited per mailbox across all its codes and whatever IP they come from
// (10 per hour, bursts of 10). Before it, each fresh code gave 5 more.
func TestCodeTriesPerMailboxAcrossCodes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *magiclink.Config) {
		c.Limits = magiclink.DefaultLimits()
		c.Limits.SendPerEmail = ratelimit.Rate{} // as many codes as the attacker likes
	})
	ctx := context.Background()
	try := func(i int, email, code string) error {
		ip := netip.AddrFrom4([4]byte{10, 1, byte(i / 256), byte(i % 256)}) // a fresh IP every time
		_, err := f.svc.VerifyCode(ctx, email, code, magiclink.WithClientIP(ip))
		return err
	}
	for i := range 20 { // malformed tries are no guesses and cost nothing
		if err := try(i, "victim@example.com", "12345"); !errors.Is(err, magiclink.ErrInvalidCode) {
			t.Fatalf("malformed try: %v", err)
		}
	}
	n := 0
	for range 2 {
		l := f.mailed(t, "victim@example.com")
		wrong := fmt.Sprintf("%06d", (atoi(l.Code)+1)%1_000_000)
		for range magiclink.MaxCodeTries {
			if err := try(n, "victim@example.com", wrong); !errors.Is(err, magiclink.ErrInvalidCode) {
				t.Fatalf("wrong try %d: %v", n+1, err)
			}
			n++
		}
	}
	l := f.mailed(t, "victim@example.com")
	e := wantRateLimited(t, try(n, "victim@example.com", l.Code), "an 11th try in the hour, from a fresh IP")
	if e.RetryAfter != 6*time.Minute {
		t.Fatalf("RetryAfter %v, want 6m (10 per hour)", e.RetryAfter)
	}
	wantRateLimited(t, try(n+1, "victim+x@example.com", l.Code), "a try under another spelling of the mailbox")
	f.clock.Advance(6 * time.Minute)
	if err := try(n+2, "victim@example.com", l.Code); err != nil {
		t.Fatalf("the right code once the budget refilled: %v", err)
	}
}

// TestCreateLinkKeepsMailedCode is finding 16.4: a partner or admin mint
// carries no code and does not replace the one the person was mailed;
// both the mailed code and the minted link sign in.
func TestCreateLinkKeepsMailedCode(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	mailed := f.mailed(t, "carol@example.com")
	minted := f.link(t, "carol@example.com")
	if minted.Code != "" {
		t.Fatalf("CreateLink returned a code %q", minted.Code)
	}
	if id, err := f.svc.VerifyCode(ctx, "carol@example.com", mailed.Code); err != nil || id.Method != "code" {
		t.Fatalf("the mailed code after a mint: %+v, %v", id, err)
	}
	if _, err := f.svc.Verify(ctx, minted.Token); err != nil {
		t.Fatalf("the minted link: %v", err)
	}
}

// TestLimitDenialsCounted: every refusal is counted once under its scope,
// read through a real OpenTelemetry SDK.
func TestLimitDenialsCounted(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	one := ratelimit.Rate{Limit: 1, Period: time.Hour, Burst: 1}
	f := newFixture(t, func(c *magiclink.Config) {
		c.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		c.Limits = magiclink.Limits{SendPerIP: one, SendPerEmail: one, VerifyPerIP: one, CodeTriesPerEmail: one}
	})
	ctx := context.Background()
	ip := func(b byte) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, b}) }
	verifyAt := func(b byte) magiclink.VerifyOption { return magiclink.WithClientIP(ip(b)) }
	if err := send(f.svc, "a@example.com", ip(1)); err != nil {
		t.Fatal(err)
	}
	wantRateLimited(t, send(f.svc, "b@example.com", ip(1)), "send_ip")
	wantRateLimited(t, send(f.svc, "a+x@example.com", ip(2)), "send_email")
	_, _ = f.svc.Verify(ctx, "x", verifyAt(3))
	_, err := f.svc.Verify(ctx, "x", verifyAt(3))
	wantRateLimited(t, err, "verify_ip")
	_, _ = f.svc.VerifyCode(ctx, "a@example.com", "000000", verifyAt(4))
	_, err = f.svc.VerifyCode(ctx, "a@example.com", "000001", verifyAt(5))
	wantRateLimited(t, err, "code_email")

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "magiclink.rate_limit.denials" {
				for _, dp := range s.DataPoints {
					got[labels(dp.Attributes)] += dp.Value
				}
			}
		}
	}
	want := map[string]int64{"{scope=send_ip}": 1, "{scope=send_email}": 1, "{scope=verify_ip}": 1, "{scope=code_email}": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("denials %v, want %v", got, want)
	}
}
