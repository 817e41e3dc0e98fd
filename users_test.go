package magiclink_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/store"
)

// appUsers is an application's own user table: it numbers users itself and
// knows nothing of magiclink beyond store.Users.
type appUsers struct {
	mu      sync.Mutex
	next    int
	byID    map[string]store.User
	byEmail map[[2]string]string
	down    bool
	noID    bool
}

func newAppUsers() *appUsers {
	return &appUsers{byID: map[string]store.User{}, byEmail: map[[2]string]string{}}
}

func (a *appUsers) CreateUser(_ context.Context, u *store.User) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down {
		return store.ErrUnavailable
	}
	if _, ok := a.byEmail[[2]string{u.OrgID, u.Email}]; ok {
		return store.ErrExists
	}
	a.next++
	u.ID = "app-" + strconv.Itoa(a.next)
	if a.noID {
		u.ID = ""
	}
	a.byID[u.ID] = *u
	a.byEmail[[2]string{u.OrgID, u.Email}] = u.ID
	return nil
}

func (a *appUsers) UserByEmail(_ context.Context, org, email string) (*store.User, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down {
		return nil, store.ErrUnavailable
	}
	id, ok := a.byEmail[[2]string{org, email}]
	if !ok {
		return nil, store.ErrNotFound
	}
	u := a.byID[id]
	return &u, nil
}

func (a *appUsers) UserByID(_ context.Context, id string) (*store.User, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	u, ok := a.byID[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return &u, nil
}

func (a *appUsers) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.byID)
}

func withUsers(u store.Users) func(*magiclink.Config) {
	return func(c *magiclink.Config) { c.Users = u }
}

// TestUsersKeepsUsersInTheApplicationsTable: with Config.Users a first
// sign-in creates the user there, under the application's own ID; the
// store keeps the links and never a user.
func TestUsersKeepsUsersInTheApplicationsTable(t *testing.T) {
	t.Parallel()
	app := newAppUsers()
	f := newFixture(t, withUsers(app))
	ctx := context.Background()
	first, err := f.svc.Verify(ctx, f.link(t, "new@example.com").Token)
	if err != nil {
		t.Fatal(err)
	}
	if first.UserID != "app-1" || app.count() != 1 {
		t.Fatalf("first sign-in: user %q, %d in the app's table; want app-1, 1", first.UserID, app.count())
	}
	if _, err := f.store.UserByEmail(ctx, "", "new@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the store got a user too: %v", err)
	}
	again, err := f.svc.Verify(ctx, f.link(t, "new@example.com").Token)
	if err != nil || again.UserID != "app-1" || app.count() != 1 {
		t.Fatalf("returning user: %+v, %v, %d users", again, err, app.count())
	}
}

// TestUsersSeesOrganisations: a partner organisation's user is a different
// user from the public one with the same address, in the same table.
func TestUsersSeesOrganisations(t *testing.T) {
	t.Parallel()
	app := newAppUsers()
	f := newFixture(t, withUsers(app))
	ctx := context.Background()
	public, err := f.svc.Verify(ctx, f.link(t, "both@example.com").Token)
	if err != nil {
		t.Fatal(err)
	}
	l, err := f.svc.CreateLink(ctx, magiclink.LinkRequest{Email: "both@example.com", Origin: "https://app.example.com", OrgID: "org_partner"})
	if err != nil {
		t.Fatal(err)
	}
	partner, err := f.svc.Verify(ctx, l.Token)
	if err != nil {
		t.Fatal(err)
	}
	if public.UserID == partner.UserID || partner.OrgID != "org_partner" {
		t.Fatalf("public %+v and partner %+v must be two users", public, partner)
	}
	u, err := app.UserByID(ctx, partner.UserID)
	if err != nil || u.OrgID != "org_partner" || u.Email != "both@example.com" {
		t.Fatalf("the partner's user in the app's table: %+v, %v", u, err)
	}
}

func TestUsersConcurrentFirstSignInsMakeOneUser(t *testing.T) {
	t.Parallel()
	app := newAppUsers()
	var created atomic.Int32
	f := newFixture(t, withUsers(app), withHooks(magiclink.Hooks{OnUserCreated: func(context.Context, store.User) error {
		created.Add(1)
		return nil
	}}))
	ctx := context.Background()
	const n = 50
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = f.link(t, "race@example.com").Token
	}
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id, err := f.svc.Verify(ctx, tokens[i])
			if err != nil {
				t.Errorf("Verify %d: %v", i, err)
			}
			ids[i] = id.UserID
		})
	}
	wg.Wait()
	for i, id := range ids {
		if id != ids[0] {
			t.Fatalf("sign-in %d is user %q, sign-in 0 user %q", i, id, ids[0])
		}
	}
	if app.count() != 1 || created.Load() != 1 {
		t.Fatalf("%d concurrent first sign-ins: %d users, OnUserCreated %d times; want 1, 1", n, app.count(), created.Load())
	}
}

func TestUsersFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("unavailable", func(t *testing.T) {
		app := newAppUsers()
		f := newFixture(t, withUsers(app))
		link := f.link(t, "down@example.com")
		app.mu.Lock()
		app.down = true
		app.mu.Unlock()
		if _, err := f.svc.Verify(ctx, link.Token); !errors.Is(err, magiclink.ErrStoreUnavailable) {
			t.Fatalf("Verify with the users table down: %v, want ErrStoreUnavailable", err)
		}
	})
	t.Run("no ID", func(t *testing.T) {
		app := newAppUsers()
		app.noID = true
		f := newFixture(t, withUsers(app))
		id, err := f.svc.Verify(ctx, f.link(t, "noid@example.com").Token)
		if err == nil || id.UserID != "" || err.Error() != "magiclink: Config.Users left a created user without an ID" {
			t.Fatalf("Verify with a Users that sets no ID: %+v, %v", id, err)
		}
	})
}

// TestUsersBesideAStoreNeedsNoEmbedding: an application with its own user
// table passes it beside any store; nothing has to combine the two types,
// so no selector is ambiguous.
func TestUsersBesideAStoreNeedsNoEmbedding(t *testing.T) {
	t.Parallel()
	mem := store.NewMemory()
	t.Cleanup(func() { _ = mem.Close() })
	svc, err := magiclink.New(magiclink.Config{Origins: []string{"https://app.example.com"}, Secret: testSecret, Store: mem, Users: newAppUsers()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	l, err := svc.CreateLink(context.Background(), magiclink.LinkRequest{Email: "a@example.com", Origin: "https://app.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := svc.Verify(context.Background(), l.Token); err != nil || id.UserID != "app-1" {
		t.Fatalf("Verify = %+v, %v", id, err)
	}
}
