// Package storetest is the conformance suite every magiclink store must pass.
//
// A store package runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, clock func() time.Time) storetest.Harness {
//			return storetest.Harness{Store: mystore.New(..., mystore.WithClock(clock))}
//		})
//	}
//
// The suite drives expiry through the clock it hands to the factory, so a
// store must judge expiry by that clock (a backend may also expire records on
// its own, later). Each subtest gets a fresh store from the factory.
package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// Harness is one store under test.
type Harness struct {
	// Store is the store under test, empty.
	Store store.Store
	// Break, when set, makes the backend unreachable (for example by
	// stopping a server). After it, every call must fail with an error
	// matching store.ErrUnavailable. Nil skips the unavailability test.
	Break func(t *testing.T)
}

// Factory returns a fresh, empty store whose notion of "now" is clock. It
// registers its own cleanup with t.
type Factory func(t *testing.T, clock func() time.Time) Harness

// Clock is a manual clock for tests, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// MaxTries is the code try limit the suite uses.
const MaxTries = 5

// Run runs the whole conformance suite against stores made by newStore.
func Run(t *testing.T, newStore Factory) {
	t.Helper()
	setup := func(t *testing.T) (store.Store, *Clock, Harness) {
		t.Helper()
		// Real wall time as the base, so backends that also set their own
		// TTLs from the token's ExpiresAt get sensible values.
		c := NewClock(time.Now().Truncate(time.Millisecond))
		h := newStore(t, c.Now)
		if h.Store == nil {
			t.Fatal("storetest: factory returned a nil Store")
		}
		return h.Store, c, h
	}
	ctx := context.Background()

	t.Run("TokenRoundTrip", func(t *testing.T) {
		s, c, _ := setup(t)
		tok := newToken(c, "round@example.com", true)
		tok.UserID, tok.OrgID, tok.Origin, tok.Next = "u_1", "org_1", "https://app.example", "/a?b=1"
		mustPut(t, s, tok)
		got, err := s.ConsumeToken(ctx, tok.Hash)
		if err != nil {
			t.Fatalf("ConsumeToken of a live token: %v", err)
		}
		if got.Hash != tok.Hash || got.UserID != tok.UserID || got.Email != tok.Email || got.OrgID != tok.OrgID ||
			got.Origin != tok.Origin || got.Next != tok.Next || got.CodeMAC != tok.CodeMAC ||
			!got.ExpiresAt.Equal(tok.ExpiresAt) || !got.CreatedAt.Equal(tok.CreatedAt) {
			t.Fatalf("ConsumeToken returned %+v, want the stored %+v", got, tok)
		}
	})

	t.Run("TokenSingleUse", func(t *testing.T) {
		s, c, _ := setup(t)
		tok := newToken(c, "once@example.com", false)
		mustPut(t, s, tok)
		if _, err := s.ConsumeToken(ctx, tok.Hash); err != nil {
			t.Fatalf("first ConsumeToken: %v", err)
		}
		if _, err := s.ConsumeToken(ctx, tok.Hash); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second ConsumeToken: got %v, want ErrNotFound", err)
		}
	})

	t.Run("TokenUnknown", func(t *testing.T) {
		s, _, _ := setup(t)
		if _, err := s.ConsumeToken(ctx, randomDigest()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("ConsumeToken of an unknown hash: got %v, want ErrNotFound", err)
		}
	})

	t.Run("TokenDuplicate", func(t *testing.T) {
		s, c, _ := setup(t)
		tok := newToken(c, "dup@example.com", false)
		mustPut(t, s, tok)
		if err := s.PutToken(ctx, tok); !errors.Is(err, store.ErrExists) {
			t.Fatalf("PutToken of an existing hash: got %v, want ErrExists", err)
		}
	})

	t.Run("TokenExpiry", func(t *testing.T) {
		s, c, _ := setup(t)
		tok := newToken(c, "exp@example.com", true)
		mustPut(t, s, tok)
		c.Advance(tok.ExpiresAt.Sub(c.Now()) - time.Millisecond)
		live := newToken(c, "live@example.com", false)
		live.ExpiresAt = tok.ExpiresAt
		mustPut(t, s, live)
		if _, err := s.ConsumeToken(ctx, live.Hash); err != nil {
			t.Fatalf("ConsumeToken 1ms before expiry: %v", err)
		}
		c.Advance(time.Millisecond)
		if _, err := s.ConsumeToken(ctx, tok.Hash); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("ConsumeToken at expiry: got %v, want ErrNotFound", err)
		}
	})

	t.Run("CodeExpiry", func(t *testing.T) {
		s, c, _ := setup(t)
		tok := newToken(c, "codeexp@example.com", true)
		mustPut(t, s, tok)
		c.Advance(tok.ExpiresAt.Sub(c.Now()))
		if _, err := s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("ConsumeCode at expiry: got %v, want ErrNotFound", err)
		}
	})

	t.Run("ConcurrentConsume", func(t *testing.T) {
		s, c, _ := setup(t)
		tok := newToken(c, "race@example.com", false)
		mustPut(t, s, tok)
		var wins, notFound atomic.Int32
		parallel(200, func(int) {
			_, err := s.ConsumeToken(ctx, tok.Hash)
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, store.ErrNotFound):
				notFound.Add(1)
			default:
				t.Errorf("ConsumeToken: unexpected error %v", err)
			}
		})
		if wins.Load() != 1 || notFound.Load() != 199 {
			t.Fatalf("200 concurrent consumes: %d succeeded and %d not found, want 1 and 199", wins.Load(), notFound.Load())
		}
	})

	t.Run("CodeConsumesToken", func(t *testing.T) {
		s, c, _ := setup(t)
		tok := newToken(c, "code@example.com", true)
		mustPut(t, s, tok)
		got, err := s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries)
		if err != nil {
			t.Fatalf("ConsumeCode with the right code: %v", err)
		}
		if got.Hash != tok.Hash {
			t.Fatalf("ConsumeCode returned token %x, want %x", got.Hash[:4], tok.Hash[:4])
		}
		if _, err := s.ConsumeToken(ctx, tok.Hash); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("link after its code was used: got %v, want ErrNotFound", err)
		}
		if _, err := s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("code used twice: got %v, want ErrNotFound", err)
		}
	})

	t.Run("CodeOutlivesLink", func(t *testing.T) {
		s, c, _ := setup(t)
		tok := newToken(c, "link@example.com", true)
		tok.UserID, tok.Next = "u_scanned", "/after"
		mustPut(t, s, tok)
		if _, err := s.ConsumeToken(ctx, tok.Hash); err != nil {
			t.Fatalf("ConsumeToken: %v", err)
		}
		got, err := s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries)
		if err != nil {
			t.Fatalf("the code after its link was used (a scanner pressed the button): %v", err)
		}
		if got.Hash != tok.Hash || got.UserID != tok.UserID || got.Next != tok.Next || got.Email != tok.Email {
			t.Fatalf("ConsumeCode after the link returned %+v, want the token's data", got)
		}
		if _, err := s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("code used twice: got %v, want ErrNotFound", err)
		}
		if _, err := s.ConsumeToken(ctx, tok.Hash); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("link used twice: got %v, want ErrNotFound", err)
		}
	})

	t.Run("CodeAfterLinkStillCountsTries", func(t *testing.T) {
		s, c, _ := setup(t)
		tok := newToken(c, "linkthenguess@example.com", true)
		mustPut(t, s, tok)
		if _, err := s.ConsumeToken(ctx, tok.Hash); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= MaxTries; i++ {
			if _, err := s.ConsumeCode(ctx, tok.Email, randomDigest(), MaxTries); !errors.Is(err, store.ErrCodeMismatch) {
				t.Fatalf("wrong try %d: got %v, want ErrCodeMismatch", i, err)
			}
		}
		if _, err := s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("right code after %d wrong tries: got %v, want ErrNotFound", MaxTries, err)
		}
	})

	t.Run("CodeTriesLimit", func(t *testing.T) {
		s, c, _ := setup(t)
		tok := newToken(c, "tries@example.com", true)
		mustPut(t, s, tok)
		for i := 1; i < MaxTries; i++ {
			if _, err := s.ConsumeCode(ctx, tok.Email, randomDigest(), MaxTries); !errors.Is(err, store.ErrCodeMismatch) {
				t.Fatalf("wrong try %d: got %v, want ErrCodeMismatch", i, err)
			}
		}
		if _, err := s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries); err != nil {
			t.Fatalf("right code after %d wrong tries: %v", MaxTries-1, err)
		}

		tok2 := newToken(c, "tries2@example.com", true)
		mustPut(t, s, tok2)
		for i := 1; i <= MaxTries; i++ {
			if _, err := s.ConsumeCode(ctx, tok2.Email, randomDigest(), MaxTries); !errors.Is(err, store.ErrCodeMismatch) {
				t.Fatalf("wrong try %d: got %v, want ErrCodeMismatch", i, err)
			}
		}
		if _, err := s.ConsumeCode(ctx, tok2.Email, tok2.CodeMAC, MaxTries); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("right code after %d wrong tries: got %v, want ErrNotFound (code dead)", MaxTries, err)
		}
		if _, err := s.ConsumeToken(ctx, tok2.Hash); err != nil {
			t.Fatalf("the link must outlive its exhausted code: %v", err)
		}
	})

	t.Run("ConcurrentWrongCodes", func(t *testing.T) {
		s, c, _ := setup(t)
		tok := newToken(c, "guess@example.com", true)
		mustPut(t, s, tok)
		var mismatches atomic.Int32
		parallel(100, func(int) {
			_, err := s.ConsumeCode(ctx, tok.Email, randomDigest(), MaxTries)
			switch {
			case errors.Is(err, store.ErrCodeMismatch):
				mismatches.Add(1)
			case errors.Is(err, store.ErrNotFound):
			default:
				t.Errorf("ConsumeCode: unexpected error %v", err)
			}
		})
		if mismatches.Load() != MaxTries {
			t.Fatalf("100 concurrent wrong guesses were judged %d times, want exactly %d", mismatches.Load(), MaxTries)
		}
		if _, err := s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("right code after a guessing storm: got %v, want ErrNotFound", err)
		}
	})

	t.Run("NewerCodeReplacesOlder", func(t *testing.T) {
		s, c, _ := setup(t)
		first := newToken(c, "two@example.com", true)
		second := newToken(c, "two@example.com", true)
		mustPut(t, s, first)
		mustPut(t, s, second)
		if _, err := s.ConsumeCode(ctx, first.Email, first.CodeMAC, MaxTries); !errors.Is(err, store.ErrCodeMismatch) {
			t.Fatalf("superseded code: got %v, want ErrCodeMismatch", err)
		}
		got, err := s.ConsumeCode(ctx, second.Email, second.CodeMAC, MaxTries)
		if err != nil || got.Hash != second.Hash {
			t.Fatalf("newest code: got %v, %v; want the second token", got, err)
		}
		if _, err := s.ConsumeToken(ctx, first.Hash); err != nil {
			t.Fatalf("the older link stays valid: %v", err)
		}
	})

	t.Run("LinkAndCodeRace", func(t *testing.T) {
		s, c, _ := setup(t)
		tok := newToken(c, "both@example.com", true)
		mustPut(t, s, tok)
		var links, codes atomic.Int32
		parallel(100, func(i int) {
			var err error
			if i%2 == 0 {
				if _, err = s.ConsumeToken(ctx, tok.Hash); err == nil {
					links.Add(1)
				}
			} else if _, err = s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries); err == nil {
				codes.Add(1)
			}
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Errorf("unexpected error %v", err)
			}
		})
		// The code always works once; the link works at most once, and
		// only if it came before the code.
		if codes.Load() != 1 || links.Load() > 1 {
			t.Fatalf("link and code raced: %d link and %d code sign-ins, want at most 1 and exactly 1", links.Load(), codes.Load())
		}
	})

	t.Run("CodeUnknownAddress", func(t *testing.T) {
		s, _, _ := setup(t)
		if _, err := s.ConsumeCode(ctx, "nobody@example.com", randomDigest(), MaxTries); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("ConsumeCode for an address without a code: got %v, want ErrNotFound", err)
		}
	})

	t.Run("Users", func(t *testing.T) {
		s, c, _ := setup(t)
		u := &store.User{ID: "u_" + hexID(), OrgID: "org_a", Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace",
			Phone: "+441234567890", LanguageCode: "en-GB", MailPermission: true, SecretKeyDigest: randomDigest(), CreatedAt: c.Now()}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		byMail, err := s.UserByEmail(ctx, "org_a", "ada@example.com")
		if err != nil {
			t.Fatalf("UserByEmail: %v", err)
		}
		byID, err := s.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatalf("UserByID: %v", err)
		}
		for _, got := range []*store.User{byMail, byID} {
			if got.ID != u.ID || got.OrgID != u.OrgID || got.Email != u.Email || got.FirstName != u.FirstName ||
				got.LastName != u.LastName || got.Phone != u.Phone || got.LanguageCode != u.LanguageCode ||
				got.MailPermission != u.MailPermission || got.SecretKeyDigest != u.SecretKeyDigest || !got.CreatedAt.Equal(u.CreatedAt) {
				t.Fatalf("user read back as %+v, want %+v", got, u)
			}
		}
		if err := s.CreateUser(ctx, &store.User{ID: "u_" + hexID(), OrgID: "org_a", Email: "ada@example.com"}); !errors.Is(err, store.ErrExists) {
			t.Fatalf("second user with the same org and address: got %v, want ErrExists", err)
		}
		if err := s.CreateUser(ctx, &store.User{ID: u.ID, OrgID: "org_b", Email: "other@example.com"}); !errors.Is(err, store.ErrExists) {
			t.Fatalf("second user with the same ID: got %v, want ErrExists", err)
		}
		if err := s.CreateUser(ctx, &store.User{ID: "u_" + hexID(), OrgID: "org_b", Email: "ada@example.com"}); err != nil {
			t.Fatalf("same address in another organisation: %v", err)
		}
		if _, err := s.UserByEmail(ctx, "org_c", "ada@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UserByEmail in an organisation without that user: got %v, want ErrNotFound", err)
		}
		if _, err := s.UserByID(ctx, "u_missing"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UserByID unknown: got %v, want ErrNotFound", err)
		}
	})

	t.Run("ConcurrentCreateUser", func(t *testing.T) {
		s, _, _ := setup(t)
		var created atomic.Int32
		parallel(50, func(int) {
			err := s.CreateUser(ctx, &store.User{ID: "u_" + hexID(), Email: "same@example.com"})
			if err == nil {
				created.Add(1)
			} else if !errors.Is(err, store.ErrExists) {
				t.Errorf("CreateUser: unexpected error %v", err)
			}
		})
		if created.Load() != 1 {
			t.Fatalf("50 concurrent signups for one address created %d users, want 1", created.Load())
		}
	})

	t.Run("Customers", func(t *testing.T) {
		s, _, _ := setup(t)
		if err := s.PutCustomer(ctx, &store.Customer{ID: "cus_1", Email: "a@example.com", OrgID: "org"}); err != nil {
			t.Fatalf("PutCustomer: %v", err)
		}
		if err := s.PutCustomer(ctx, &store.Customer{ID: "cus_1", Email: "b@example.com", OrgID: "org"}); err != nil {
			t.Fatalf("PutCustomer replacing: %v", err)
		}
		got, err := s.CustomerByID(ctx, "cus_1")
		if err != nil || got.Email != "b@example.com" || got.OrgID != "org" {
			t.Fatalf("CustomerByID: got %+v, %v; want the replacement", got, err)
		}
		if _, err := s.CustomerByID(ctx, "cus_2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("CustomerByID unknown: got %v, want ErrNotFound", err)
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		s, c, _ := setup(t)
		tok := newToken(c, "ctx@example.com", true)
		mustPut(t, s, tok)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.ConsumeToken(cctx, tok.Hash); err == nil {
			t.Fatal("ConsumeToken with a canceled context succeeded")
		}
		if _, err := s.ConsumeToken(ctx, tok.Hash); err != nil {
			t.Fatalf("a canceled call must not consume the token: %v", err)
		}
	})

	t.Run("Unavailable", func(t *testing.T) {
		s, c, h := setup(t)
		if h.Break == nil {
			t.Skip("storetest: this store cannot be made unavailable")
		}
		tok := newToken(c, "down@example.com", true)
		mustPut(t, s, tok)
		h.Break(t)
		calls := map[string]func() error{
			"PutToken":     func() error { return s.PutToken(ctx, newToken(c, "x@example.com", true)) },
			"ConsumeToken": func() error { _, err := s.ConsumeToken(ctx, tok.Hash); return err },
			"ConsumeCode":  func() error { _, err := s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries); return err },
			"CreateUser":   func() error { return s.CreateUser(ctx, &store.User{ID: "u_x", Email: "x@example.com"}) },
			"UserByEmail":  func() error { _, err := s.UserByEmail(ctx, "", "x@example.com"); return err },
			"UserByID":     func() error { _, err := s.UserByID(ctx, "u_x"); return err },
			"PutCustomer":  func() error { return s.PutCustomer(ctx, &store.Customer{ID: "c", Email: "x@example.com"}) },
			"CustomerByID": func() error { _, err := s.CustomerByID(ctx, "c"); return err },
		}
		for name, call := range calls {
			if err := call(); !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("%s with the backend down: got %v, want an error matching ErrUnavailable", name, err)
			}
		}
	})
}

func mustPut(t *testing.T, s store.Store, tok *store.Token) {
	t.Helper()
	if err := s.PutToken(context.Background(), tok); err != nil {
		t.Fatalf("PutToken: %v", err)
	}
}

func newToken(c *Clock, email string, withCode bool) *store.Token {
	now := c.Now()
	t := &store.Token{Hash: randomDigest(), Email: email, Origin: "https://app.example", Next: "/",
		CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute)}
	if withCode {
		t.CodeMAC = randomDigest()
	}
	return t
}

func randomDigest() store.Digest {
	var d store.Digest
	_, _ = rand.Read(d[:])
	return d
}

func hexID() string {
	d := randomDigest()
	return fmt.Sprintf("%x", d[:8])
}

// parallel runs f(i) for i in [0,n) on n goroutines released together.
func parallel(n int, f func(i int)) {
	var start, done sync.WaitGroup
	start.Add(1)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			start.Wait()
			f(i)
		}()
	}
	start.Done()
	done.Wait()
}
