package httpadapter_test

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

// A send for an address with a user and one for an address without one
// must not be told apart by how long they take. Rather than timing them
// (timed tests are noise on a shared machine), these tests pin the cause:
// both take the same path. Every store call, limiter call, mail render,
// mailer call and log line a request makes is recorded in order, and the
// two trails must be the same, apart from the mail itself where it is
// documented to differ (DisableSignup mails known addresses only).

// trail is the ordered record of what requests did.
type trail struct {
	mu     sync.Mutex
	events []string
}

func (t *trail) add(e string) {
	t.mu.Lock()
	t.events = append(t.events, e)
	t.mu.Unlock()
}

// take returns the events so far and starts afresh.
func (t *trail) take() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.events
	t.events = nil
	return e
}

// trailStore records every call the Service can make to its store. It
// does not embed the memory store, so no capability escapes the record:
// what it does not declare, the Service cannot find.
type trailStore struct {
	m  *store.Memory
	tr *trail
}

var (
	_ store.Store           = (*trailStore)(nil)
	_ store.PendingRequests = (*trailStore)(nil)
	_ store.TokensAt        = (*trailStore)(nil)
)

func (s *trailStore) PutToken(ctx context.Context, t *store.Token) error {
	s.tr.add("store.PutToken")
	return s.m.PutToken(ctx, t)
}

func (s *trailStore) PutTokenAt(ctx context.Context, t *store.Token, now time.Time) error {
	s.tr.add("store.PutTokenAt")
	return s.m.PutTokenAt(ctx, t, now)
}

func (s *trailStore) ConsumeToken(ctx context.Context, h store.Digest) (*store.Token, error) {
	s.tr.add("store.ConsumeToken")
	return s.m.ConsumeToken(ctx, h)
}

func (s *trailStore) ConsumeTokenAt(ctx context.Context, h store.Digest, now time.Time) (*store.Token, error) {
	s.tr.add("store.ConsumeTokenAt")
	return s.m.ConsumeTokenAt(ctx, h, now)
}

func (s *trailStore) ConsumeCode(ctx context.Context, email string, mac store.Digest, maxTries int) (*store.Token, error) {
	s.tr.add("store.ConsumeCode")
	return s.m.ConsumeCode(ctx, email, mac, maxTries)
}

func (s *trailStore) CreateUser(ctx context.Context, u *store.User) error {
	s.tr.add("store.CreateUser")
	return s.m.CreateUser(ctx, u)
}

func (s *trailStore) UserByEmail(ctx context.Context, orgID, email string) (*store.User, error) {
	s.tr.add("store.UserByEmail")
	return s.m.UserByEmail(ctx, orgID, email)
}

func (s *trailStore) UserByID(ctx context.Context, id string) (*store.User, error) {
	s.tr.add("store.UserByID")
	return s.m.UserByID(ctx, id)
}

func (s *trailStore) PutCustomer(ctx context.Context, c *store.Customer) error {
	s.tr.add("store.PutCustomer")
	return s.m.PutCustomer(ctx, c)
}

func (s *trailStore) CustomerByID(ctx context.Context, id string) (*store.Customer, error) {
	s.tr.add("store.CustomerByID")
	return s.m.CustomerByID(ctx, id)
}

func (s *trailStore) CreateSession(ctx context.Context, x *store.Session) error {
	s.tr.add("store.CreateSession")
	return s.m.CreateSession(ctx, x)
}

func (s *trailStore) SessionByToken(ctx context.Context, h store.Digest, touch store.Touch) (*store.Session, error) {
	s.tr.add("store.SessionByToken")
	return s.m.SessionByToken(ctx, h, touch)
}

func (s *trailStore) SessionByID(ctx context.Context, id string, touch store.Touch) (*store.Session, error) {
	s.tr.add("store.SessionByID")
	return s.m.SessionByID(ctx, id, touch)
}

func (s *trailStore) RotateRefresh(ctx context.Context, id string, current, next store.Digest, touch store.Touch) (*store.Session, error) {
	s.tr.add("store.RotateRefresh")
	return s.m.RotateRefresh(ctx, id, current, next, touch)
}

func (s *trailStore) RevokeSession(ctx context.Context, userID, id string) error {
	s.tr.add("store.RevokeSession")
	return s.m.RevokeSession(ctx, userID, id)
}

func (s *trailStore) RevokeUserSessions(ctx context.Context, userID, except string) (int, error) {
	s.tr.add("store.RevokeUserSessions")
	return s.m.RevokeUserSessions(ctx, userID, except)
}

func (s *trailStore) UserSessions(ctx context.Context, userID string) ([]*store.Session, error) {
	s.tr.add("store.UserSessions")
	return s.m.UserSessions(ctx, userID)
}

func (s *trailStore) PutTokenPending(ctx context.Context, t *store.Token, p *store.Pending) error {
	s.tr.add("store.PutTokenPending")
	return s.m.PutTokenPending(ctx, t, p)
}

func (s *trailStore) PendingByCookie(ctx context.Context, c store.Digest) (*store.Pending, error) {
	s.tr.add("store.PendingByCookie")
	return s.m.PendingByCookie(ctx, c)
}

func (s *trailStore) PendingByLink(ctx context.Context, l store.Digest) (*store.Pending, error) {
	s.tr.add("store.PendingByLink")
	return s.m.PendingByLink(ctx, l)
}

func (s *trailStore) DecidePending(ctx context.Context, l store.Digest, match uint8) (*store.Pending, error) {
	s.tr.add("store.DecidePending")
	return s.m.DecidePending(ctx, l, match)
}

func (s *trailStore) TakeApproved(ctx context.Context, c store.Digest) (*store.Pending, error) {
	s.tr.add("store.TakeApproved")
	return s.m.TakeApproved(ctx, c)
}

func (s *trailStore) ConsumeTokenFrom(ctx context.Context, l, c store.Digest) (*store.Token, error) {
	s.tr.add("store.ConsumeTokenFrom")
	return s.m.ConsumeTokenFrom(ctx, l, c)
}

// trailLimiter records each limit decision by scope (the key's prefix;
// the rest names the address or IP, which differ between the two sends).
type trailLimiter struct {
	l  *ratelimit.Memory
	tr *trail
}

func scopeOf(key string) string { s, _, _ := strings.Cut(key, ":"); return s }

func (l trailLimiter) Allow(ctx context.Context, key string, r ratelimit.Rate) (ratelimit.Decision, error) {
	l.tr.add("limit.Allow " + scopeOf(key))
	return l.l.Allow(ctx, key, r)
}

func (l trailLimiter) AllowBatch(ctx context.Context, reqs []ratelimit.Request) ([]ratelimit.Decision, error) {
	e := "limit.AllowBatch"
	for _, r := range reqs {
		e += " " + scopeOf(r.Key)
	}
	l.tr.add(e)
	return l.l.AllowBatch(ctx, reqs)
}

// trailRenderer records each mail render on the request path.
type trailRenderer struct {
	r  mailer.Renderer
	tr *trail
}

func (r trailRenderer) Render(d mailer.LinkData) (*mailer.Message, error) {
	r.tr.add("render")
	return r.r.Render(d)
}

// trailMailer is a synchronous mailer: it sends on the request path.
type trailMailer struct{ tr *trail }

func (m trailMailer) Send(context.Context, *mailer.Message) error { m.tr.add("mail.Send"); return nil }

// trailReserver is a mailer that, like the Dispatcher and the outboxes,
// holds room before the store is written and takes the mail to render and
// send off the request path.
type trailReserver struct{ trailMailer }

func (m trailReserver) Reserve(context.Context) (mailer.Reservation, error) {
	m.tr.add("mail.Reserve")
	return trailReservation(m), nil
}

type trailReservation struct{ trailMailer }

func (r trailReservation) Commit(context.Context, *mailer.Message) error {
	r.tr.add("mail.Commit")
	return nil
}

func (r trailReservation) CommitLink(context.Context, mailer.Renderer, mailer.LinkData) error {
	r.tr.add("mail.CommitLink") // rendered later, by the mailer's workers
	return nil
}

func (r trailReservation) Cancel() { r.tr.add("mail.Cancel") }

// trailLog records every log record the default level (Info) would write.
type trailLog struct{ tr *trail }

func (h trailLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h trailLog) Handle(_ context.Context, r slog.Record) error {
	h.tr.add("log " + r.Level.String() + " " + r.Message)
	return nil
}
func (h trailLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h trailLog) WithGroup(string) slog.Handler      { return h }

// TestSendKnownAndUnknownAddressTakeTheSamePath: send-magic-link does the
// same work, in the same order, for an address with a user and one
// without, and answers the same bytes: with signup open and with
// DisableSignup, with a reserving mailer (mail leaves after the answer)
// and with a synchronous one.
func TestSendKnownAndUnknownAddressTakeTheSamePath(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name          string
		disableSignup bool
		reserving     bool
		// mailOnlyKnown is the one event the known address's trail has in
		// addition: DisableSignup mails no address without a user.
		mailOnlyKnown string
	}{
		{name: "signup open, reserving mailer", reserving: true},
		{name: "DisableSignup, reserving mailer", disableSignup: true, reserving: true, mailOnlyKnown: "mail.CommitLink"},
		{name: "signup open, synchronous mailer"},
		{name: "DisableSignup, synchronous mailer", disableSignup: true, mailOnlyKnown: "mail.Send"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tr := &trail{}
			mem := store.NewMemory(store.WithSweepInterval(0))
			lim := ratelimit.NewMemory()
			t.Cleanup(func() { _ = mem.Close(); _ = lim.Close() })
			var m mailer.Mailer = trailMailer{tr}
			if c.reserving {
				m = trailReserver{trailMailer{tr}}
			}
			r := newRig(t, rigOptions{svc: magiclink.Config{
				Store: &trailStore{m: mem, tr: tr}, Limiter: trailLimiter{l: lim, tr: tr}, Limits: magiclink.DefaultLimits(),
				Mailer: m, Templates: trailRenderer{r: mailer.DefaultTemplates(), tr: tr},
				DisableSignup: c.disableSignup, Logger: slog.New(trailLog{tr}),
			}})
			const known, unknown = "known@example.com", "unknown@example.com"
			if err := mem.CreateUser(ctxBG, &store.User{ID: "usr_known", Email: known, CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			send := func(email string) (events []string, answer string) {
				req := jsonRequest(sendPath, `{"email":"`+email+`","callback_origin":"https://app.example.com"}`)
				req.Header.Set("User-Agent", "test")
				rec := r.do(req)
				if rec.Code != http.StatusOK {
					t.Fatalf("%s: status %d %s", email, rec.Code, rec.Body)
				}
				var names []string
				for k := range rec.Header() {
					if k != "X-Request-Id" {
						names = append(names, k)
					}
				}
				slices.Sort(names)
				return tr.take(), rec.Body.String() + strings.Join(names, ",")
			}
			ke, ka := send(known)
			ue, ua := send(unknown)
			if ka != ua {
				t.Errorf("answers differ: known %q, unknown %q", ka, ua)
			}
			if len(ke) < 3 {
				t.Fatalf("known address's trail %q is too short to say anything", ke)
			}
			if c.mailOnlyKnown != "" {
				i := slices.Index(ke, c.mailOnlyKnown)
				if i < 0 || slices.Contains(ue, c.mailOnlyKnown) {
					t.Fatalf("%s: want it for the known address only; known %q, unknown %q", c.mailOnlyKnown, ke, ue)
				}
				ke = slices.Delete(ke, i, i+1)
			}
			if !slices.Equal(ke, ue) {
				t.Errorf("the two sends took different paths:\nknown   %q\nunknown %q", ke, ue)
			}
			if renders := slices.Contains(ue, "render"); renders == c.reserving {
				t.Errorf("render on the request path: %v, want %v (a reserving mailer renders off it)", renders, !c.reserving)
			}
		})
	}
}
