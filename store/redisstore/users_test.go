package redisstore

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/conc"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store"
)

// eachDeployment runs test, in parallel subtests, on the two Redis shapes
// whose key layouts differ: one server, where a script may touch any key,
// and a three-master Cluster, where it may touch keys of one slot only.
func eachDeployment(t *testing.T, test func(t *testing.T, rdb redis.UniversalClient)) {
	for name, start := range map[string]func(t *testing.T) redis.UniversalClient{
		"single":  func(t *testing.T) redis.UniversalClient { return testredis.Start(t).Client(t) },
		"cluster": func(t *testing.T) redis.UniversalClient { return testredis.StartCluster(t).Client(t) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, start(t))
		})
	}
}

// loadScripts loads scripts on every master, so that a counted call is
// not lengthened by a NOSCRIPT retry on a node it first reaches.
func loadScripts(t *testing.T, rdb redis.UniversalClient, scripts ...*redis.Script) {
	t.Helper()
	ctx := context.Background()
	load := func(ctx context.Context, c *redis.Client) error {
		for _, sc := range scripts {
			if err := sc.Load(ctx, c).Err(); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, load)
	case *redis.Client:
		err = load(ctx, c)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// signInRig is a Service without limits on s, mailing into mail.
type signInRig struct {
	svc  *magiclink.Service
	mail *mailer.Memory
}

func newSignInRig(t *testing.T, s *Store, hooks magiclink.Hooks) *signInRig {
	t.Helper()
	mail := mailer.NewMemory()
	svc, err := magiclink.New(magiclink.Config{Origins: []string{"https://app.example.com"}, Secret: []byte("0123456789abcdef0123456789abcdef"),
		Store: s, Limiter: s, Limits: magiclink.NoLimits(), Mailer: mail, Hooks: hooks,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return &signInRig{svc: svc, mail: mail}
}

// sendLink mails a link to email and returns its token. A mailed link
// names no user: its verify resolves the address.
func (r *signInRig) sendLink(t *testing.T, email string) string {
	t.Helper()
	if err := r.svc.SendLink(context.Background(), magiclink.SendRequest{Email: email, CallbackOrigin: "https://app.example.com"}); err != nil {
		t.Fatal(err)
	}
	m, ok := r.mail.Last(email)
	if !ok {
		t.Fatalf("no mail to %s", email)
	}
	u, err := url.Parse(m.Link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token_hash")
}

// TestVerifyCommandsByDeployment pins DESIGN §6 on one server and on a
// Cluster: a link verify costs the store 2 commands, a first sign-in
// included (consume, one find-or-create script), and a lookup by ID or by
// address costs 1.
func TestVerifyCommandsByDeployment(t *testing.T) {
	t.Parallel()
	eachDeployment(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		cmds := roundTrips{eachCommand: true}
		rdb.AddHook(&cmds)
		s := newStore(t, rdb)
		loadScripts(t, rdb, s.findOrCreateUser)
		rig := newSignInRig(t, s, magiclink.Hooks{})
		for i := range 20 { // several addresses: on a Cluster they spread over the masters
			email := "first" + string(rune('a'+i)) + "@example.com"
			token := rig.sendLink(t, email)
			var id magiclink.Identity
			var err error
			if n := cmds.count(func() { id, err = rig.svc.Verify(ctx, token) }); err != nil || n != 2 {
				t.Fatalf("first sign-in of %s: %v, %d commands; want 2 (consume, find-or-create)", email, err, n)
			}
			token = rig.sendLink(t, email)
			var again magiclink.Identity
			if n := cmds.count(func() { again, err = rig.svc.Verify(ctx, token) }); err != nil || n != 2 || again.UserID != id.UserID {
				t.Fatalf("returning sign-in of %s: %v, %d commands, user %q (first %q); want 2 and the same user", email, err, n, again.UserID, id.UserID)
			}
			var byID, byMail *store.User
			if n := cmds.count(func() { byID, err = s.UserByID(ctx, id.UserID) }); err != nil || n != 1 || byID.Email != email {
				t.Fatalf("UserByID(%q): %+v, %v, %d commands; want the user in 1", id.UserID, byID, err, n)
			}
			if n := cmds.count(func() { byMail, err = s.UserByEmail(ctx, "", email) }); err != nil || n != 1 || byMail.ID != id.UserID {
				t.Fatalf("UserByEmail(%q): %+v, %v, %d commands; want the user in 1", email, byMail, err, n)
			}
		}
	})
}

// TestConcurrentFirstSignIns: 100 links to one new address verified at
// once — on one server and on a Cluster, under -race — give one user ID,
// created once (OnUserCreated runs once).
func TestConcurrentFirstSignIns(t *testing.T) {
	t.Parallel()
	eachDeployment(t, func(t *testing.T, rdb redis.UniversalClient) {
		s := newStore(t, rdb)
		var created atomic.Int32
		rig := newSignInRig(t, s, magiclink.Hooks{OnUserCreated: func(context.Context, store.User) error {
			created.Add(1)
			return nil
		}})
		const n = 100
		tokens := make([]string, n)
		for i := range tokens {
			tokens[i] = rig.sendLink(t, "race@example.com")
		}
		ids := make([]string, n)
		var mu sync.Mutex
		var errs []error
		conc.Run(n, func(i int) {
			id, err := rig.svc.Verify(context.Background(), tokens[i])
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			ids[i] = id.UserID
		})
		if len(errs) > 0 {
			t.Fatalf("%d of %d verifies failed, first: %v", len(errs), n, errs[0])
		}
		for i, id := range ids {
			if id != ids[0] || id == "" {
				t.Fatalf("verify %d signed in user %q, verify 0 %q: one address must be one user", i, id, ids[0])
			}
		}
		if created.Load() != 1 {
			t.Fatalf("%d concurrent first sign-ins created %d users, want 1", n, created.Load())
		}
		if u, err := s.UserByID(context.Background(), ids[0]); err != nil || u.Email != "race@example.com" {
			t.Fatalf("UserByID of the winner: %+v, %v", u, err)
		}
	})
}

// TestSlotTagsReachEverySlot: every slot has a tag of six octal digits, and
// the tag lies in that slot.
func TestSlotTagsReachEverySlot(t *testing.T) {
	t.Parallel()
	st := newSlotTags()
	for slot := range clusterSlots {
		tag := st.tag(slot)
		if len(tag) != slotTagLen || strings.Trim(tag, "01234567") != "" {
			t.Fatalf("tag(%d) = %q, want six octal digits", slot, tag)
		}
		if got := keySlot(tag); got != slot {
			t.Fatalf("tag(%d) = %q lies in slot %d", slot, tag, got)
		}
	}
}

func TestIDSlotTag(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		id, tag string
	}{
		{"usr_3q2-7wEjRl9Vv0bq0uPzRg.012345", "012345"},
		{".777777", "777777"},
		{"usr_3q2-7wEjRl9Vv0bq0uPzRg", ""},
		{"usr_x.01234", ""},   // five digits
		{"usr_x.012348", ""},  // 8 is no octal digit
		{"usr_x_012345", ""},  // no dot
		{"usr_x.0123456", ""}, // seven digits
		{"012345", ""},        // no dot at all
		{"", ""},
	} {
		tag, ok := idSlotTag(c.id)
		if tag != c.tag || ok != (c.tag != "") {
			t.Errorf("idSlotTag(%q) = %q, %v; want %q", c.id, tag, ok, c.tag)
		}
	}
}

// TestUserKeysShareSlot: on a Cluster, the server itself puts a created
// user's address key and ID key in one slot, for ordinary and hostile
// addresses and organisations, and the user is found both ways.
func TestUserKeysShareSlot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testredis.StartCluster(t).Client(t)
	s := newStore(t, rdb)
	for i, email := range []string{"ada@example.com", "a{b}c@example.com", "}{@example.com", strings.Repeat("x", 300) + "@example.com", ""} {
		for _, org := range []string{"", "org_a", "{tag}"} {
			u := &store.User{ID: "usr_" + string(rune('a'+i)), OrgID: org, Email: email}
			got, created, err := s.FindOrCreateUser(ctx, u)
			if err != nil || !created {
				t.Fatalf("FindOrCreateUser(%q, %q): %v, created %v", org, email, err, created)
			}
			if !strings.HasPrefix(got.ID, "usr_") || got.ID != u.ID {
				t.Fatalf("FindOrCreateUser returned ID %q, left %q in u", got.ID, u.ID)
			}
			emailSlot, err := rdb.ClusterKeySlot(ctx, s.userEmailKey(org, email)).Result()
			if err != nil {
				t.Fatal(err)
			}
			idSlot, err := rdb.ClusterKeySlot(ctx, s.userIDKey(got.ID)).Result()
			if err != nil {
				t.Fatal(err)
			}
			if emailSlot != idSlot {
				t.Fatalf("user %q of %q: address key in slot %d, ID key in slot %d", got.ID, email, emailSlot, idSlot)
			}
			if back, err := s.UserByID(ctx, got.ID); err != nil || back.Email != email || back.OrgID != org {
				t.Fatalf("UserByID(%q): %+v, %v", got.ID, back, err)
			}
			if back, err := s.UserByEmail(ctx, org, email); err != nil || back.ID != got.ID {
				t.Fatalf("UserByEmail(%q, %q): %+v, %v", org, email, back, err)
			}
		}
	}
}

// TestUsersOfEarlierVersions: users an earlier version stored — under the
// ID's own tag, with IDs without a slot tag, and one whose ID merely looks
// tagged — are found by ID and by address, and sign in as themselves, at
// the same command counts (a tagged-looking ID found only in the old layout
// costs its lookup by ID one more command).
func TestUsersOfEarlierVersions(t *testing.T) {
	t.Parallel()
	eachDeployment(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		cmds := roundTrips{eachCommand: true}
		rdb.AddHook(&cmds)
		s := newStore(t, rdb)
		loadScripts(t, rdb, s.findOrCreateUser)
		rig := newSignInRig(t, s, magiclink.Hooks{})
		for _, c := range []struct {
			id      string
			byIDCmd int64
		}{
			{"usr_3q2-7wEjRl9Vv0bq0uPzRg", 1},
			{"app.000001", 2},
		} {
			email := strings.ToLower("old-" + c.id + "@example.com") // as NormalizeEmail leaves it
			old := &store.User{ID: c.id, Email: email}
			rec := encodeUser(old)
			for _, key := range []string{s.legacyUserIDKey(c.id), s.userEmailKey("", email)} {
				if err := rdb.Set(ctx, key, rec, 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			var got *store.User
			var err error
			if n := cmds.count(func() { got, err = s.UserByID(ctx, c.id) }); err != nil || got.Email != email || n != c.byIDCmd {
				t.Fatalf("UserByID(%q) of an earlier version: %+v, %v, %d commands; want %d", c.id, got, err, n, c.byIDCmd)
			}
			if n := cmds.count(func() { got, err = s.UserByEmail(ctx, "", email) }); err != nil || got.ID != c.id || n != 1 {
				t.Fatalf("UserByEmail of an earlier version: %+v, %v, %d commands", got, err, n)
			}
			token := rig.sendLink(t, email)
			var id magiclink.Identity
			if n := cmds.count(func() { id, err = rig.svc.Verify(ctx, token) }); err != nil || id.UserID != c.id || n != 2 {
				t.Fatalf("sign-in of a user of an earlier version: %+v, %v, %d commands; want %q in 2", id, err, n, c.id)
			}
		}
	})
}

// TestForeignSlotTagCluster: an ID that comes with the slot tag of another
// address is kept as given; on a Cluster its keys then lie in two slots,
// and the store claims them in steps, still creating one user.
func TestForeignSlotTagCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testredis.StartCluster(t).Client(t)
	s := newStore(t, rdb)
	email := "foreign@example.com"
	tag := s.slots.tag((keySlot(s.userEmailKey("", email)) + 1) % clusterSlots)
	u := &store.User{ID: "usr_given." + tag, Email: email}
	got, created, err := s.FindOrCreateUser(ctx, u)
	if err != nil || !created || got.ID != "usr_given."+tag {
		t.Fatalf("FindOrCreateUser with a foreign slot tag: %+v, %v, %v; want the ID kept and created", got, created, err)
	}
	if back, err := s.UserByID(ctx, got.ID); err != nil || back.Email != email {
		t.Fatalf("UserByID: %+v, %v", back, err)
	}
	again, created, err := s.FindOrCreateUser(ctx, &store.User{ID: "usr_other", Email: email})
	if err != nil || created || again.ID != got.ID {
		t.Fatalf("FindOrCreateUser of the known address: %+v, %v, %v", again, created, err)
	}
	if err := s.CreateUser(ctx, &store.User{ID: got.ID, Email: "another@example.com"}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateUser with the taken ID: %v, want ErrExists", err)
	}
}
