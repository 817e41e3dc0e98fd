package storetest

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/magiclink-go/magiclink/internal/conc"
	"github.com/magiclink-go/magiclink/store"
)

// ensurer is f's store as a store.UserEnsurer; it skips t without one.
func ensurer(t *testing.T, f *fixture) store.UserEnsurer {
	t.Helper()
	e, ok := f.st.(store.UserEnsurer)
	if !ok {
		t.Skip("the store does not implement store.UserEnsurer")
	}
	return e
}

// testFindOrCreateUser: a new address is created (and found by ID), a known
// one returned as stored, and a taken ID refused without storing the
// address.
func testFindOrCreateUser(t *testing.T, f *fixture) {
	e := ensurer(t, f)
	s, ctx := f.st, t.Context()
	u := &store.User{ID: "u_" + hexID(), OrgID: "org_a", Email: "new@example.com", CreatedAt: f.clock.Now()}
	got, created, err := e.FindOrCreateUser(ctx, u)
	if err != nil || !created || got.ID != u.ID || got.Email != u.Email || got.OrgID != u.OrgID {
		t.Fatalf("FindOrCreateUser for a new address: %+v, %v, %v; want u, created", got, created, err)
	}
	if back, err := s.UserByID(ctx, u.ID); err != nil || back.Email != u.Email {
		t.Fatalf("a created user is not found by ID: %+v, %v", back, err)
	}
	got, created, err = e.FindOrCreateUser(ctx, &store.User{ID: "u_" + hexID(), OrgID: "org_a", Email: "new@example.com", CreatedAt: f.clock.Now()})
	if err != nil || created || got.ID != u.ID {
		t.Fatalf("FindOrCreateUser for a known address: %+v, %v, %v; want the first user, not created", got, created, err)
	}
	if _, _, err := e.FindOrCreateUser(ctx, &store.User{ID: u.ID, OrgID: "org_b", Email: "other@example.com"}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("FindOrCreateUser with a taken ID: %v, want ErrExists", err)
	}
	if _, err := s.UserByEmail(ctx, "org_b", "other@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused FindOrCreateUser stored the address: %v", err)
	}
}

// testConcurrentFindOrCreateUser: of 50 concurrent first sign-ins of one
// address exactly one creates the user, and all get that user.
func testConcurrentFindOrCreateUser(t *testing.T, f *fixture) {
	e := ensurer(t, f)
	ctx := t.Context()
	var created atomic.Int32
	ids := make([]string, 50)
	conc.Run(50, func(i int) {
		got, c, err := e.FindOrCreateUser(ctx, &store.User{ID: "u_" + hexID(), Email: "same@example.com"})
		if err != nil {
			t.Errorf("FindOrCreateUser: %v", err)
			return
		}
		ids[i] = got.ID
		if c {
			created.Add(1)
		}
	})
	for i, id := range ids {
		if id != ids[0] {
			t.Fatalf("call %d got user %q, call 0 %q: concurrent first sign-ins must agree", i, id, ids[0])
		}
	}
	if created.Load() != 1 {
		t.Fatalf("50 concurrent FindOrCreateUser for one address created %d users, want 1", created.Load())
	}
}
