package magiclink_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/fakeclock"
	"github.com/magiclink-go/magiclink/internal/syncbuf"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// capture is a Mailer that keeps what it is given.
type capture struct {
	mu   sync.Mutex
	msgs []*mailer.Message
	err  error
}

func (c *capture) Send(_ context.Context, m *mailer.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.msgs = append(c.msgs, m)
	return nil
}

func (c *capture) all() []*mailer.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*mailer.Message(nil), c.msgs...)
}

type fixture struct {
	svc   *magiclink.Service
	store *store.Memory
	clock *fakeclock.Clock
	mail  *capture
	logs  *syncbuf.Buffer
}

func newFixture(t *testing.T, mutate ...func(*magiclink.Config)) *fixture {
	t.Helper()
	f := &fixture{clock: fakeclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), mail: &capture{}, logs: &syncbuf.Buffer{}}
	cfg := magiclink.Config{
		Origins: []string{"https://app.example.com", "https://*.tenant.example"},
		Secret:  testSecret,
		Mailer:  f.mail,
		Clock:   f.clock.Now,
		Logger:  slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	f.store = store.NewMemory(store.WithClock(f.clock.Now), store.WithSweepInterval(0))
	cfg.Store = f.store
	for _, m := range mutate {
		m(&cfg)
	}
	svc, err := magiclink.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	f.svc = svc
	return f
}

func (f *fixture) link(t *testing.T, email string) *magiclink.Link {
	t.Helper()
	l, err := f.svc.CreateLink(context.Background(), magiclink.LinkRequest{Email: email, Origin: "https://app.example.com", Next: "/overview"})
	if err != nil {
		t.Fatalf("CreateLink: %v", err)
	}
	return l
}

// mailed sends a sign-in mail to email and returns its link and code as
// the mail carries them; only mailed links have a code.
func (f *fixture) mailed(t *testing.T, email string) *magiclink.Link {
	t.Helper()
	before := len(f.mail.all())
	if err := f.svc.SendLink(context.Background(), magiclink.SendRequest{Email: email, CallbackOrigin: "https://app.example.com", Next: "/overview"}); err != nil {
		t.Fatalf("SendLink: %v", err)
	}
	msgs := f.mail.all()
	if len(msgs) != before+1 {
		t.Fatalf("SendLink mailed %d messages, want 1", len(msgs)-before)
	}
	m := msgs[len(msgs)-1]
	u, err := url.Parse(m.Link)
	if err != nil || len(m.Code) != 6 {
		t.Fatalf("mail with link %q (%v) and code %q", m.Link, err, m.Code)
	}
	return &magiclink.Link{URL: m.Link, Token: u.Query().Get("token_hash"), Code: m.Code}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	cases := map[string]magiclink.Config{
		"no origins":        {Secret: testSecret},
		"bad origin":        {Origins: []string{"https://a.example/path"}, Secret: testSecret},
		"short secret":      {Origins: []string{"https://a.example"}, Secret: []byte("short")},
		"relative path":     {Origins: []string{"https://a.example"}, Secret: testSecret, LinkPath: "verify"},
		"path with query":   {Origins: []string{"https://a.example"}, Secret: testSecret, LinkPath: "/v?x=1"},
		"tiny TTL":          {Origins: []string{"https://a.example"}, Secret: testSecret, LinkTTL: time.Millisecond},
		"huge TTL":          {Origins: []string{"https://a.example"}, Secret: testSecret, CreateLinkTTL: 48 * time.Hour},
		"negative limit":    {Origins: []string{"https://a.example"}, Secret: testSecret, Limits: magiclink.Limits{SendPerIP: ratelimit.Rate{Limit: -1}}},
		"limit no period":   {Origins: []string{"https://a.example"}, Secret: testSecret, Limits: magiclink.Limits{SendPerIP: ratelimit.Rate{Limit: 1}}},
		"bad session key":   {Origins: []string{"https://a.example"}, Secret: testSecret, SessionKey: []byte("x")},
		"http non-loopback": {Origins: []string{"http://a.example"}, Secret: testSecret},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			svc, err := magiclink.New(cfg)
			if err == nil {
				svc.Close()
				t.Fatal("New accepted a bad configuration")
			}
			if !errors.Is(err, magiclink.ErrInvalidConfig) {
				t.Fatalf("New: got %v, want an error matching ErrInvalidConfig", err)
			}
		})
	}
}

func TestNewWithoutSecretWarns(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	svc, err := magiclink.New(magiclink.Config{Origins: []string{"https://a.example"}, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if !strings.Contains(buf.String(), "no Config.Secret") {
		t.Fatalf("no warning about the random secret; log: %q", buf.String())
	}
}

var linkRE = regexp.MustCompile(`^https://app\.example\.com/auth/verify\?token_hash=[A-Za-z0-9_-]{43}&type=magiclink&next=/overview$`)

func TestCreateLinkAndVerify(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	l := f.link(t, "  Ada@Example.COM ")
	if !linkRE.MatchString(l.URL) {
		t.Fatalf("link %q does not have the documented format", l.URL)
	}
	if !strings.Contains(l.URL, l.Token) || l.Code != "" {
		t.Fatalf("link %q, token %q, code %q; want the token in the URL and no code", l.URL, l.Token, l.Code)
	}
	if want := f.clock.Now().Add(3 * time.Minute); !l.ExpiresAt.Equal(want) {
		t.Fatalf("CreateLink expiry %v, want the 3-minute default %v", l.ExpiresAt, want)
	}
	id, err := f.svc.Verify(ctx, l.Token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if id.Email != "ada@example.com" || id.Origin != "https://app.example.com" || id.Next != "/overview" || id.Method != "link" || !strings.HasPrefix(id.UserID, "usr_") {
		t.Fatalf("identity %+v", id)
	}
	if _, err := f.svc.Verify(ctx, l.Token); !errors.Is(err, magiclink.ErrInvalidToken) {
		t.Fatalf("second Verify: got %v, want ErrInvalidToken", err)
	}
	// The same address signs in as the same user next time.
	id2, err := f.svc.Verify(ctx, f.link(t, "ada@example.com").Token)
	if err != nil || id2.UserID != id.UserID {
		t.Fatalf("second sign-in: %+v, %v; want user %s", id2, err, id.UserID)
	}
}

func TestLinkNextEscaping(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	l, err := f.svc.CreateLink(context.Background(), magiclink.LinkRequest{Email: "a@example.com", Origin: "https://x.tenant.example", Next: "/a%20b?q=1&r=%C3%A9#frag"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(l.URL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Host != "x.tenant.example" || u.Query().Get("type") != "magiclink" || u.Query().Get("next") != "/a%20b?q=1&r=%C3%A9#frag" {
		t.Fatalf("link %q parsed to host %q next %q", l.URL, u.Host, u.Query().Get("next"))
	}
	if u.Fragment != "" || len(u.Query()) != 3 {
		t.Fatalf("next leaked out of its parameter: %q", l.URL)
	}
}

func TestVerifyRejectsBadTokens(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	good := f.link(t, "a@example.com").Token
	cases := []string{"", "x", good[:42], good + "A", strings.Repeat("A", 43) + "=", strings.Repeat("!", 43),
		strings.Repeat("A", 4096), good[:42] + "\x00", strings.ToUpper(good[:1]) + "\n" + good[2:]}
	for _, tok := range cases {
		if _, err := f.svc.Verify(context.Background(), tok); !errors.Is(err, magiclink.ErrInvalidToken) {
			t.Errorf("Verify(%.20q): got %v, want ErrInvalidToken", tok, err)
		}
	}
	if _, err := f.svc.Verify(context.Background(), good); err != nil {
		t.Fatalf("the good token was consumed by the bad attempts: %v", err)
	}
}

func TestVerifyExpired(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	l := f.link(t, "a@example.com")
	f.clock.Advance(3 * time.Minute)
	if _, err := f.svc.Verify(context.Background(), l.Token); !errors.Is(err, magiclink.ErrInvalidToken) {
		t.Fatalf("Verify at expiry: got %v, want ErrInvalidToken", err)
	}
}

func TestVerifyConcurrentExactlyOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	l := f.link(t, "race@example.com")
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.svc.Verify(context.Background(), l.Token); err == nil {
				wins.Add(1)
			} else if !errors.Is(err, magiclink.ErrInvalidToken) {
				t.Errorf("Verify: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("200 concurrent Verify calls: %d succeeded, want 1", wins.Load())
	}
}

func TestVerifyCode(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	l := f.mailed(t, "code@example.com")
	id, err := f.svc.VerifyCode(ctx, "CODE@example.com", " "+l.Code[:3]+" "+l.Code[3:]+" ")
	if err != nil {
		t.Fatalf("VerifyCode: %v", err)
	}
	if id.Method != "code" || id.Email != "code@example.com" || id.Next != "/overview" {
		t.Fatalf("identity %+v", id)
	}
	if _, err := f.svc.Verify(ctx, l.Token); !errors.Is(err, magiclink.ErrInvalidToken) {
		t.Fatalf("link after its code: got %v, want ErrInvalidToken", err)
	}
	if _, err := f.svc.VerifyCode(ctx, "code@example.com", l.Code); !errors.Is(err, magiclink.ErrInvalidCode) {
		t.Fatalf("code reused: got %v, want ErrInvalidCode", err)
	}
}

func TestVerifyCodeTriesAndMalformed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	l := f.mailed(t, "guess@example.com")
	wrong := fmt.Sprintf("%06d", (atoi(l.Code)+1)%1_000_000)
	for _, bad := range []string{"", "12345", "1234567", "abcdef", "12 45", "١٢٣٤٥٦"} {
		if _, err := f.svc.VerifyCode(ctx, "guess@example.com", bad); !errors.Is(err, magiclink.ErrInvalidCode) {
			t.Errorf("VerifyCode(%q): got %v, want ErrInvalidCode", bad, err)
		}
	}
	if _, err := f.svc.VerifyCode(ctx, "not an address", l.Code); !errors.Is(err, magiclink.ErrInvalidEmail) {
		t.Errorf("VerifyCode with a bad address: got %v, want ErrInvalidEmail", err)
	}
	if _, err := f.svc.VerifyCode(ctx, "other@example.com", l.Code); !errors.Is(err, magiclink.ErrInvalidCode) {
		t.Errorf("the code of another address: got %v, want ErrInvalidCode", err)
	}
	for i := 0; i < magiclink.MaxCodeTries; i++ {
		if _, err := f.svc.VerifyCode(ctx, "guess@example.com", wrong); !errors.Is(err, magiclink.ErrInvalidCode) {
			t.Fatalf("wrong try %d: got %v", i+1, err)
		}
	}
	if _, err := f.svc.VerifyCode(ctx, "guess@example.com", l.Code); !errors.Is(err, magiclink.ErrInvalidCode) {
		t.Fatalf("right code after 5 wrong tries: got %v, want ErrInvalidCode", err)
	}
	if _, err := f.svc.Verify(ctx, l.Token); err != nil {
		t.Fatalf("the link outlives its exhausted code: %v", err)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestSendLink(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	err := f.svc.SendLink(ctx, magiclink.SendRequest{Email: "New@Example.com", CallbackOrigin: "https://APP.example.com:443", Next: "/welcome", ClientIP: netip.MustParseAddr("192.0.2.1")})
	if err != nil {
		t.Fatalf("SendLink: %v", err)
	}
	msgs := f.mail.all()
	if len(msgs) != 1 || msgs[0].To != "new@example.com" {
		t.Fatalf("mails: %+v", msgs)
	}
	m := msgs[0]
	if !strings.HasPrefix(m.Link, "https://app.example.com/auth/verify?token_hash=") || !strings.HasSuffix(m.Link, "next=/welcome") {
		t.Fatalf("mailed link %q", m.Link)
	}
	if !strings.Contains(m.Text, m.Link) || !strings.Contains(strings.ReplaceAll(m.Text, " ", ""), m.Code) || !strings.Contains(strings.ReplaceAll(m.HTML, " ", ""), m.Code) {
		t.Fatalf("mail parts lack link or code: %q", m.Text)
	}
	u, _ := url.Parse(m.Link)
	id, err := f.svc.Verify(ctx, u.Query().Get("token_hash"))
	if err != nil || id.Email != "new@example.com" || id.Next != "/welcome" {
		t.Fatalf("Verify of the mailed link: %+v, %v", id, err)
	}
}

func TestSendLinkSameForKnownAndUnknown(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.Verify(ctx, f.link(t, "known@example.com").Token); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"known@example.com", "unknown@example.com"} {
		if err := f.svc.SendLink(ctx, magiclink.SendRequest{Email: email, CallbackOrigin: "https://app.example.com"}); err != nil {
			t.Fatalf("SendLink(%s): %v", email, err)
		}
	}
	if n := len(f.mail.all()); n != 2 {
		t.Fatalf("%d mails, want one to each address", n)
	}
}

func TestSendLinkDisableSignup(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *magiclink.Config) { c.DisableSignup = true })
	ctx := context.Background()
	if err := f.store.CreateUser(ctx, &store.User{ID: "usr_known", Email: "known@example.com"}); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"known@example.com", "stranger@example.com"} {
		if err := f.svc.SendLink(ctx, magiclink.SendRequest{Email: email, CallbackOrigin: "https://app.example.com"}); err != nil {
			t.Fatalf("SendLink(%s) must answer the same for both: %v", email, err)
		}
	}
	msgs := f.mail.all()
	if len(msgs) != 1 || msgs[0].To != "known@example.com" {
		t.Fatalf("with signup disabled only the known address gets mail; got %d mails", len(msgs))
	}
	// A link made for a stranger does not create a user either.
	if _, err := f.svc.Verify(ctx, f.link(t, "stranger@example.com").Token); !errors.Is(err, magiclink.ErrInvalidToken) {
		t.Fatalf("Verify for an unknown address with signup disabled: got %v", err)
	}
	id, err := f.svc.Verify(ctx, f.link(t, "known@example.com").Token)
	if err != nil || id.UserID != "usr_known" {
		t.Fatalf("known user: %+v, %v", id, err)
	}
}

func TestSendLinkValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cases := []struct {
		name  string
		req   magiclink.SendRequest
		want  error
		field string
	}{
		{"bad email", magiclink.SendRequest{Email: "nope", CallbackOrigin: "https://app.example.com"}, magiclink.ErrInvalidEmail, "email"},
		{"header injection", magiclink.SendRequest{Email: "a@example.com\r\nBcc: x@evil.com", CallbackOrigin: "https://app.example.com"}, magiclink.ErrInvalidEmail, "email"},
		{"display name", magiclink.SendRequest{Email: "Eve <eve@example.com>", CallbackOrigin: "https://app.example.com"}, magiclink.ErrInvalidEmail, "email"},
		{"no origin", magiclink.SendRequest{Email: "a@example.com"}, magiclink.ErrOriginNotAllowed, "callback_origin"},
		{"foreign origin", magiclink.SendRequest{Email: "a@example.com", CallbackOrigin: "https://evil.com"}, magiclink.ErrOriginNotAllowed, "callback_origin"},
		{"bare wildcard base", magiclink.SendRequest{Email: "a@example.com", CallbackOrigin: "https://tenant.example"}, magiclink.ErrOriginNotAllowed, "callback_origin"},
		{"protocol-relative next", magiclink.SendRequest{Email: "a@example.com", CallbackOrigin: "https://app.example.com", Next: "//evil.com"}, magiclink.ErrUnsafeNext, "callback_next"},
		{"next on another origin", magiclink.SendRequest{Email: "a@example.com", CallbackOrigin: "https://app.example.com", Next: "https://evil.com/x"}, magiclink.ErrUnsafeNext, "callback_next"},
	}
	for _, c := range cases {
		err := f.svc.SendLink(context.Background(), c.req)
		var e *magiclink.Error
		if !errors.Is(err, c.want) || !errors.As(err, &e) || e.Field != c.field {
			t.Errorf("%s: got %v, want %v on field %q", c.name, err, c.want, c.field)
		}
	}
	if n := len(f.mail.all()); n != 0 {
		t.Fatalf("%d mails sent for invalid requests", n)
	}
}

func TestSendLinkFullURLNextOnSameOrigin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	err := f.svc.SendLink(context.Background(), magiclink.SendRequest{Email: "a@example.com", CallbackOrigin: "https://app.example.com", Next: "https://app.example.com/billing?x=1"})
	if err != nil {
		t.Fatal(err)
	}
	if l := f.mail.all()[0].Link; !strings.HasSuffix(l, "next=/billing%3Fx%3D1") {
		t.Fatalf("link %q should carry only the path of a same-origin next", l)
	}
}

func TestSendLinkNoMailer(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *magiclink.Config) { c.Mailer = nil })
	if err := f.svc.SendLink(context.Background(), magiclink.SendRequest{Email: "a@example.com", CallbackOrigin: "https://app.example.com"}); !errors.Is(err, magiclink.ErrNoMailer) {
		t.Fatalf("got %v, want ErrNoMailer", err)
	}
}

func TestSendLinkMailerFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mail.err = errors.New("queue full")
	err := f.svc.SendLink(context.Background(), magiclink.SendRequest{Email: "a@example.com", CallbackOrigin: "https://app.example.com"})
	if !errors.Is(err, magiclink.ErrMailUnavailable) {
		t.Fatalf("got %v, want ErrMailUnavailable", err)
	}
}

func TestRateLimitPerEmailCaseFolded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *magiclink.Config) {
		c.Limits = magiclink.Limits{SendPerEmail: ratelimit.Rate{Limit: 2, Period: time.Hour, Burst: 2}}
	})
	ctx := context.Background()
	for i, email := range []string{"Ada@example.com", " ada@EXAMPLE.com"} {
		if err := f.svc.SendLink(ctx, magiclink.SendRequest{Email: email, CallbackOrigin: "https://app.example.com"}); err != nil {
			t.Fatalf("send %d: %v", i+1, err)
		}
	}
	err := f.svc.SendLink(ctx, magiclink.SendRequest{Email: "ada@example.com", CallbackOrigin: "https://app.example.com"})
	var e *magiclink.Error
	if !errors.Is(err, magiclink.ErrRateLimited) || !errors.As(err, &e) || e.RetryAfter != 30*time.Minute {
		t.Fatalf("third send: got %v (retry %v), want ErrRateLimited with RetryAfter 30m", err, e.RetryAfter)
	}
	f.clock.Advance(30 * time.Minute)
	if err := f.svc.SendLink(ctx, magiclink.SendRequest{Email: "ada@example.com", CallbackOrigin: "https://app.example.com"}); err != nil {
		t.Fatalf("send after RetryAfter: %v", err)
	}
}

func TestRateLimitPerIPv6Slash64(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *magiclink.Config) {
		c.Limits = magiclink.Limits{SendPerIP: ratelimit.Rate{Limit: 1, Period: time.Minute, Burst: 1}}
	})
	ctx := context.Background()
	send := func(ip string) error {
		return f.svc.SendLink(ctx, magiclink.SendRequest{Email: "a@example.com", CallbackOrigin: "https://app.example.com", ClientIP: netip.MustParseAddr(ip)})
	}
	if err := send("2001:db8:1:2::1"); err != nil {
		t.Fatal(err)
	}
	err := send("2001:db8:1:2:ffff::9")
	var e *magiclink.Error
	if !errors.As(err, &e) || !errors.Is(err, magiclink.ErrRateLimited) || e.RetryAfter != time.Minute {
		t.Fatalf("second address in the same /64: got %v, want ErrRateLimited with 60s", err)
	}
	if err := send("2001:db8:1:3::1"); err != nil {
		t.Fatalf("another /64 has its own budget: %v", err)
	}
}

func TestVerifyRateLimitPerIP(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *magiclink.Config) {
		c.Limits = magiclink.Limits{VerifyPerIP: ratelimit.Rate{Limit: 3, Period: time.Minute, Burst: 3}}
	})
	ip := magiclink.WithClientIP(netip.MustParseAddr("198.51.100.7"))
	for i := 0; i < 3; i++ {
		if _, err := f.svc.Verify(context.Background(), "garbage", ip); !errors.Is(err, magiclink.ErrInvalidToken) {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	if _, err := f.svc.VerifyCode(context.Background(), "a@example.com", "123456", ip); !errors.Is(err, magiclink.ErrRateLimited) {
		t.Fatalf("fourth try: got %v, want ErrRateLimited", err)
	}
}

func TestNoLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *magiclink.Config) { c.Limits = magiclink.NoLimits() })
	for i := 0; i < 20; i++ {
		if err := f.svc.SendLink(context.Background(), magiclink.SendRequest{Email: "a@example.com", CallbackOrigin: "https://app.example.com"}); err != nil {
			t.Fatalf("send %d with limits off: %v", i, err)
		}
	}
}

// brokenStore fails every call as an unreachable backend would.
type brokenStore struct{ store.Store }

func (brokenStore) PutToken(context.Context, *store.Token) error { return store.ErrUnavailable }
func (brokenStore) ConsumeToken(context.Context, store.Digest) (*store.Token, error) {
	return nil, fmt.Errorf("dial: %w", store.ErrUnavailable)
}
func (brokenStore) ConsumeCode(context.Context, string, store.Digest, int) (*store.Token, error) {
	return nil, store.ErrUnavailable
}
func (brokenStore) UserByEmail(context.Context, string, string) (*store.User, error) {
	return nil, store.ErrUnavailable
}

func TestStoreUnavailable(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *magiclink.Config) { c.Store = brokenStore{} })
	ctx := context.Background()
	errs := []error{
		f.svc.SendLink(ctx, magiclink.SendRequest{Email: "a@example.com", CallbackOrigin: "https://app.example.com"}),
	}
	_, err := f.svc.Verify(ctx, strings.Repeat("A", 43))
	errs = append(errs, err)
	_, err = f.svc.VerifyCode(ctx, "a@example.com", "123456")
	errs = append(errs, err)
	_, err = f.svc.CreateLink(ctx, magiclink.LinkRequest{Email: "a@example.com", Origin: "https://app.example.com"})
	errs = append(errs, err)
	for i, err := range errs {
		var e *magiclink.Error
		if !errors.Is(err, magiclink.ErrStoreUnavailable) || !errors.As(err, &e) || e.RetryAfter <= 0 {
			t.Errorf("call %d: got %v, want ErrStoreUnavailable with RetryAfter", i, err)
		}
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if err := f.svc.SendLink(ctx, magiclink.SendRequest{Email: "leak@example.com", CallbackOrigin: "https://app.example.com"}); err != nil {
		t.Fatal(err)
	}
	m := f.mail.all()[0]
	u, _ := url.Parse(m.Link)
	tok := u.Query().Get("token_hash")
	id, err := f.svc.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := f.svc.StartBrowserSession(ctx, id, magiclink.Client{})
	if err != nil {
		t.Fatal(err)
	}
	api, err := f.svc.StartAPISession(ctx, id, magiclink.Client{})
	if err != nil {
		t.Fatal(err)
	}
	// A refresh and the reuse of the replaced token both log.
	if _, _, err := f.svc.Refresh(ctx, api.RefreshToken); err != nil {
		t.Fatal(err)
	}
	_, _, _ = f.svc.Refresh(ctx, api.RefreshToken)
	f.mail.err = errors.New("boom")
	_ = f.svc.SendLink(ctx, magiclink.SendRequest{Email: "leak@example.com", CallbackOrigin: "https://app.example.com"})
	logs := f.logs.String()
	if logs == "" {
		t.Fatal("nothing was logged; the test would prove nothing")
	}
	for name, secret := range map[string]string{"token": tok, "code": m.Code, "session": sess.Token, "access token": api.AccessToken,
		"refresh token": api.RefreshToken, "address": "leak@example.com", "server secret": string(testSecret)} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s appears in the logs", name)
		}
	}
}

func TestIPKey(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"192.0.2.1":            "192.0.2.1",
		"::ffff:192.0.2.1":     "192.0.2.1",
		"2001:db8::1":          "2001:db8::/64",
		"2001:db8:0:0:abcd::1": "2001:db8::/64",
		"fe80::1%eth0":         "fe80::/64",
	}
	for in, want := range cases {
		if got := magiclink.IPKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("IPKey(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"a@example.com":           "a@example.com",
		"  A.B+tag@Example.COM  ": "a.b+tag@example.com",
		"user@bücher.example":     "user@xn--bcher-kva.example",
	}
	for in, want := range good {
		if got, err := magiclink.NormalizeEmail(in); err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{"", "a", "a@", "@example.com", "a@b", "a@@example.com", "a b@example.com", "\"a\"@example.com",
		"Eve <eve@example.com>", "a@example.com\r\nBcc: x@y.z", "a@example.com\x00", "(c)a@example.com", "ä@example.com",
		strings.Repeat("a", 250) + "@example.com", "a@.example.com", "a@example.com."}
	for _, in := range bad {
		if _, err := magiclink.NormalizeEmail(in); !errors.Is(err, magiclink.ErrInvalidEmail) {
			t.Errorf("NormalizeEmail(%q): got %v, want ErrInvalidEmail", in, err)
		}
	}
}

func TestErrorMatching(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("wrapped: %w", &magiclink.Error{Code: "RATE_LIMITED", Message: "slow down", RetryAfter: 3 * time.Second})
	if !errors.Is(err, magiclink.ErrRateLimited) || errors.Is(err, magiclink.ErrInvalidToken) {
		t.Fatal("errors.Is must match by Code")
	}
	cause := errors.New("dial tcp: refused")
	wrapped := &magiclink.Error{Code: "STORE_UNAVAILABLE", Message: "store unavailable", Err: cause}
	if !errors.Is(wrapped, cause) || !strings.Contains(wrapped.Error(), "refused") {
		t.Fatal("the cause must stay reachable")
	}
}

func TestSendLinkThroughDispatcherRendersLater(t *testing.T) {
	t.Parallel()
	inbox := mailer.NewMemory()
	d := mailer.NewDispatcher(inbox, mailer.DispatcherOptions{})
	f := newFixture(t, func(c *magiclink.Config) { c.Mailer = d })
	ctx := context.Background()
	if err := f.svc.SendLink(ctx, magiclink.SendRequest{Email: "later@example.com", CallbackOrigin: "https://app.example.com", Locale: "fr"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	m, ok := inbox.Last("later@example.com")
	if !ok || m.Locale != "fr" || !strings.Contains(m.Text, m.Link) || len(m.Code) != 6 {
		t.Fatalf("mail through the Dispatcher: %+v", m)
	}
	u, _ := url.Parse(m.Link)
	if _, err := f.svc.Verify(ctx, u.Query().Get("token_hash")); err != nil {
		t.Fatalf("the link rendered in the worker does not verify: %v", err)
	}
}

func TestWellFormedToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if tok := f.link(t, "a@example.com").Token; !magiclink.WellFormedToken(tok) {
		t.Fatalf("an issued token %q is not well formed", tok)
	}
	for _, s := range []string{"", strings.Repeat("A", 42), strings.Repeat("A", 44), strings.Repeat("+", 43), strings.Repeat("A", 42) + "B"} {
		if magiclink.WellFormedToken(s) {
			t.Errorf("WellFormedToken(%q) = true", s)
		}
	}
}

// TestCodeAfterScannerUsedLink: a scanner that presses the confirm button
// uses the link; the code in the same mail still signs the user in, once.
func TestCodeAfterScannerUsedLink(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	l := f.mailed(t, "scanned@example.com")
	scanner, err := f.svc.Verify(ctx, l.Token)
	if err != nil {
		t.Fatal(err)
	}
	user, err := f.svc.VerifyCode(ctx, "scanned@example.com", l.Code)
	if err != nil {
		t.Fatalf("the code after the link was used: %v", err)
	}
	if user.UserID != scanner.UserID || user.Method != "code" || user.Next != "/overview" {
		t.Fatalf("code sign-in %+v, want the same user and destination as the link", user)
	}
	if _, err := f.svc.VerifyCode(ctx, "scanned@example.com", l.Code); !errors.Is(err, magiclink.ErrInvalidCode) {
		t.Fatalf("the code twice: got %v, want ErrInvalidCode", err)
	}
}

// batchLimiter decides batches with a ratelimit.Memory and counts the batches.
type batchLimiter struct {
	*ratelimit.Memory
	batches atomic.Int32
}

func (b *batchLimiter) AllowBatch(ctx context.Context, reqs []ratelimit.Request) ([]ratelimit.Decision, error) {
	b.batches.Add(1)
	return b.Memory.AllowBatch(ctx, reqs)
}

func TestSendLinkUsesBatchLimiter(t *testing.T) {
	t.Parallel()
	var bl *batchLimiter
	f := newFixture(t, func(c *magiclink.Config) {
		bl = &batchLimiter{Memory: ratelimit.NewMemory(ratelimit.WithClock(c.Clock))}
		c.Limiter = bl
		c.Limits = magiclink.Limits{SendPerIP: ratelimit.Rate{Limit: 10, Period: time.Hour, Burst: 10},
			SendPerEmail: ratelimit.Rate{Limit: 2, Period: time.Hour, Burst: 2}}
	})
	t.Cleanup(func() { _ = bl.Close() })
	ctx := context.Background()
	req := magiclink.SendRequest{Email: "batch@example.com", CallbackOrigin: "https://app.example.com", ClientIP: netip.MustParseAddr("192.0.2.9")}
	for i := 0; i < 2; i++ {
		if err := f.svc.SendLink(ctx, req); err != nil {
			t.Fatalf("send %d: %v", i+1, err)
		}
	}
	err := f.svc.SendLink(ctx, req)
	var e *magiclink.Error
	if !errors.As(err, &e) || !errors.Is(err, magiclink.ErrRateLimited) || e.RetryAfter != 30*time.Minute {
		t.Fatalf("third send: got %v, want ErrRateLimited after 30m from the address limit", err)
	}
	if n := bl.batches.Load(); n != 3 {
		t.Fatalf("%d batch decisions for 3 sends, want 3 (one per send)", n)
	}
	// Without a client IP only one limit applies: no batch needed.
	if err := f.svc.SendLink(ctx, magiclink.SendRequest{Email: "other@example.com", CallbackOrigin: "https://app.example.com"}); err != nil {
		t.Fatal(err)
	}
	if n := bl.batches.Load(); n != 3 {
		t.Fatalf("a single limit went through AllowBatch (%d batches)", n)
	}
}
