package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/conc"
	"github.com/magiclink-go/magiclink/internal/storefixture"
	"github.com/magiclink-go/magiclink/store"
)

// TestSingleUseUnderLoad: of 500 concurrent consumers of one link exactly
// one gets it, and of 500 concurrent right-code tries exactly one signs in.
func TestSingleUseUnderLoad(t *testing.T) {
	t.Parallel()
	const n = 500
	r := newRig(t)
	s := r.store(t)
	ctx := context.Background()
	tok := newToken("load@example.com", true, time.Minute)
	if err := s.PutToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	var links, codes, other atomic.Int32
	conc.Run(n, func(i int) {
		var err error
		if i%2 == 0 {
			if _, err = s.ConsumeToken(ctx, tok.Hash); err == nil {
				links.Add(1)
			}
		} else if _, err = s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, 5); err == nil {
			codes.Add(1)
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			other.Add(1)
			t.Errorf("consumer %d: %v", i, err)
		}
	})
	// The code always works once; the link at most once, only before it.
	if codes.Load() != 1 || links.Load() > 1 || other.Load() != 0 {
		t.Fatalf("%d concurrent consumers: %d link and %d code sign-ins, want ≤ 1 and exactly 1", n, links.Load(), codes.Load())
	}

	tok2 := newToken("load2@example.com", false, time.Minute)
	if err := s.PutToken(ctx, tok2); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	conc.Run(n, func(int) {
		if _, err := s.ConsumeToken(ctx, tok2.Hash); err == nil {
			wins.Add(1)
		} else if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ConsumeToken: %v", err)
		}
	})
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent consumers of one link: %d succeeded, want 1", n, wins.Load())
	}
}

// TestStatements pins the statement budget of each operation (DESIGN §6):
// consume 1, a code try 1, a put 1, a first sign-in's user 1.
func TestStatements(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	s := r.store(t)
	ctx := context.Background()
	tok := newToken("count@example.com", true, time.Minute)
	cases := []struct {
		name string
		want int64
		f    func() error
	}{
		{"PutToken with a code", 1, func() error { return s.PutToken(ctx, tok) }},
		{"ConsumeCode, wrong code", 1, func() error {
			if _, err := s.ConsumeCode(ctx, tok.Email, storefixture.Digest(), 5); !errors.Is(err, store.ErrCodeMismatch) {
				return fmt.Errorf("got %v, want ErrCodeMismatch", err)
			}
			return nil
		}},
		{"PeekToken", 1, func() error { _, err := s.PeekToken(ctx, tok.Hash); return err }},
		{"ConsumeToken", 1, func() error { _, err := s.ConsumeToken(ctx, tok.Hash); return err }},
		{"ConsumeCode, right code", 1, func() error { _, err := s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, 5); return err }},
		{"ConsumeToken, already used", 1, func() error {
			if _, err := s.ConsumeToken(ctx, tok.Hash); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("got %v, want ErrNotFound", err)
			}
			return nil
		}},
		{"FindOrCreateUser, new", 1, func() error {
			_, created, err := s.FindOrCreateUser(ctx, &store.User{ID: "u_count", Email: tok.Email, CreatedAt: time.Now()})
			if err == nil && !created {
				err = errors.New("not created")
			}
			return err
		}},
		{"FindOrCreateUser, known", 1, func() error {
			_, created, err := s.FindOrCreateUser(ctx, &store.User{ID: "u_count2", Email: tok.Email, CreatedAt: time.Now()})
			if err == nil && created {
				err = errors.New("created a second user")
			}
			return err
		}},
		{"UserByEmail", 1, func() error { _, err := s.UserByEmail(ctx, "", tok.Email); return err }},
		{"CreateUser", 1, func() error { return s.CreateUser(ctx, &store.User{ID: "u_c2", Email: "c2@example.com"}) }},
		{"PutCustomer", 1, func() error { return s.PutCustomer(ctx, &store.Customer{ID: "cus", Email: tok.Email}) }},
	}
	for _, c := range cases {
		var err error
		if got := r.stmts.count(func() { err = c.f() }); err != nil || got != c.want {
			t.Errorf("%s: %d statements, err %v; want %d, nil", c.name, got, err, c.want)
		}
	}
}

// TestVerifyFirstSignIn pins the verify budget: consuming the link and
// creating its user on a first sign-in are 2 statements together.
func TestVerifyFirstSignIn(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	s := r.store(t)
	ctx := context.Background()
	tok := newToken("first@example.com", true, time.Minute)
	if err := s.PutToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	n := r.stmts.count(func() {
		got, err := s.ConsumeToken(ctx, tok.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.FindOrCreateUser(ctx, &store.User{ID: "u_first", OrgID: got.OrgID, Email: got.Email}); err != nil {
			t.Fatal(err)
		}
	})
	if n > 2 {
		t.Fatalf("verify with a first sign-in took %d statements, want ≤ 2", n)
	}
}

// TestFindOrCreateUser: of concurrent first sign-ins of one address exactly
// one creates the user and all get it; an existing user is returned as is.
func TestFindOrCreateUser(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	s := r.store(t)
	ctx := context.Background()
	const n = 50
	var created atomic.Int32
	ids := make([]string, n)
	conc.Run(n, func(i int) {
		u, c, err := s.FindOrCreateUser(ctx, &store.User{ID: fmt.Sprintf("u_%d", i), OrgID: "org", Email: "same@example.com",
			FirstName: "F", CreatedAt: time.Now()})
		if err != nil {
			t.Errorf("FindOrCreateUser %d: %v", i, err)
			return
		}
		if c {
			created.Add(1)
		}
		ids[i] = u.ID
	})
	if created.Load() != 1 {
		t.Fatalf("%d concurrent first sign-ins created %d users, want 1", n, created.Load())
	}
	for i, id := range ids {
		if id != ids[0] {
			t.Fatalf("sign-in %d got user %q, sign-in 0 got %q: want one user", i, id, ids[0])
		}
	}
	stored, err := s.UserByEmail(ctx, "org", "same@example.com")
	if err != nil || stored.ID != ids[0] || stored.FirstName != "F" {
		t.Fatalf("UserByEmail after the race: %+v, %v; want user %q", stored, err, ids[0])
	}
	// Another organisation is another user; a taken ID is ErrExists.
	if _, c, err := s.FindOrCreateUser(ctx, &store.User{ID: "u_other", OrgID: "org2", Email: "same@example.com"}); err != nil || !c {
		t.Fatalf("same address in another organisation: created %v, err %v; want a new user", c, err)
	}
	if _, _, err := s.FindOrCreateUser(ctx, &store.User{ID: "u_other", OrgID: "org3", Email: "x@example.com"}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("taken ID: got %v, want ErrExists", err)
	}
}
