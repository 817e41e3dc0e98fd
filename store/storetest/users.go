package storetest

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/magiclink-go/magiclink/internal/conc"
	"github.com/magiclink-go/magiclink/internal/storefixture"
	"github.com/magiclink-go/magiclink/store"
)

// Users and customers.

// testUsers: users read back by address and ID; (org, address) and ID are unique.
func testUsers(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := t.Context()
	u := &store.User{ID: "u_" + hexID(), OrgID: "org_a", Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace",
		Phone: "+441234567890", LanguageCode: "en-GB", MailPermission: true, SecretKeyDigest: storefixture.Digest(), CreatedAt: c.Now()}
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
}

// testConcurrentCreateUser: 50 concurrent signups for one address create one user.
func testConcurrentCreateUser(t *testing.T, f *fixture) {
	s := f.st
	ctx := t.Context()
	var created atomic.Int32
	conc.Run(50, func(int) {
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
}

// testCustomers: PutCustomer creates or replaces.
func testCustomers(t *testing.T, f *fixture) {
	s := f.st
	ctx := t.Context()
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
}
