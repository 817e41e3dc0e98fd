package magiclink_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/store"
)

func partnerRequest(email, secret string) magiclink.PartnerLinkRequest {
	return magiclink.PartnerLinkRequest{OrgID: "org_partner", Origin: "https://app.example.com", Next: "/welcome",
		Email: email, SecretKey: secret, Profile: magiclink.PartnerProfile{FirstName: "Ada", LastName: "Lovelace",
			Phone: "+905555555555", LanguageCode: "tr-TR", MailPermission: true}}
}

// A registration stores the user with the profile and only the digest of the
// secret key, which is returned once; the key then mints links, and a second
// registration of the address is ErrUserExists.
func TestCreatePartnerLinkRegistersThenLinks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	first, err := f.svc.CreatePartnerLink(ctx, partnerRequest("Ada@Example.com", ""))
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if len(first.SecretKey) != 44 || !strings.HasPrefix(first.Link.URL, "https://app.example.com/auth/verify?") || !strings.HasSuffix(first.Link.URL, "next=/welcome") {
		t.Fatalf("register answered secret %d bytes, link %q", len(first.SecretKey), first.Link.URL)
	}
	u, err := f.store.UserByEmail(ctx, "org_partner", "ada@example.com")
	if err != nil {
		t.Fatalf("user not stored under the normalized address: %v", err)
	}
	if u.FirstName != "Ada" || u.Phone != "+905555555555" || u.LanguageCode != "tr-TR" || !u.MailPermission || u.SecretKeyDigest.IsZero() {
		t.Fatalf("stored user %+v", u)
	}
	if u.SecretKeyDigest != store.Digest(sha256.Sum256([]byte(first.SecretKey))) {
		t.Fatal("the stored digest is not SHA-256 of the returned secret key")
	}
	id, err := f.svc.Verify(ctx, first.Link.Token)
	if err != nil || id.UserID != u.ID || id.OrgID != "org_partner" {
		t.Fatalf("registration link signs in %+v, %v; want user %s", id, err, u.ID)
	}

	again, err := f.svc.CreatePartnerLink(ctx, partnerRequest("ada@example.com", first.SecretKey))
	if err != nil || again.SecretKey != "" || again.Link.URL == first.Link.URL {
		t.Fatalf("link by key: %+v, %v; want a fresh link and no secret", again, err)
	}
	if _, err := f.svc.CreatePartnerLink(ctx, partnerRequest("ada@example.com", "")); !errors.Is(err, magiclink.ErrUserExists) {
		t.Fatalf("second registration: %v, want ErrUserExists", err)
	}
}

// A key that is wrong, belongs to another user, or names an address with no
// user, is one error: the partner learns nothing about other accounts.
func TestCreatePartnerLinkRefusesWrongKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ada, err := f.svc.CreatePartnerLink(ctx, partnerRequest("ada@example.com", ""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreatePartnerLink(ctx, partnerRequest("bob@example.com", "")); err != nil {
		t.Fatal(err)
	}
	// A user stored without a key (a public sign-in) has a zero digest.
	if err := f.store.CreateUser(ctx, &store.User{ID: "usr_nokey", OrgID: "org_partner", Email: "nokey@example.com"}); err != nil {
		t.Fatal(err)
	}
	for name, req := range map[string]magiclink.PartnerLinkRequest{
		"wrong key":        partnerRequest("ada@example.com", "not-the-key"),
		"another user's":   partnerRequest("bob@example.com", ada.SecretKey),
		"unknown address":  partnerRequest("carol@example.com", ada.SecretKey),
		"user with no key": partnerRequest("nokey@example.com", "\x00"),
		"other org's user": func() magiclink.PartnerLinkRequest {
			r := partnerRequest("ada@example.com", ada.SecretKey)
			r.OrgID = "org_other"
			return r
		}(),
	} {
		if _, err := f.svc.CreatePartnerLink(ctx, req); !errors.Is(err, magiclink.ErrSecretKeyInvalid) {
			t.Errorf("%s: %v, want ErrSecretKeyInvalid", name, err)
		}
	}
}

// failingCreate is a store whose CreateUser fails.
type failingCreate struct{ store.Store }

var errCreateUser = fmt.Errorf("create user: %w", store.ErrUnavailable)

func (failingCreate) CreateUser(context.Context, *store.User) error { return errCreateUser }

// When the user cannot be stored, nothing was created and the partner gets
// a retryable error, not a SecretKey for a user that does not exist.
func TestCreatePartnerLinkStoreFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	var mem *store.Memory
	f := newFixture(t, func(c *magiclink.Config) {
		mem = store.NewMemory(store.WithClock(c.Clock), store.WithSweepInterval(0))
		c.Store = failingCreate{mem}
	})
	t.Cleanup(func() { _ = mem.Close() })
	_, err := f.svc.CreatePartnerLink(context.Background(), partnerRequest("ada@example.com", ""))
	if !errors.Is(err, magiclink.ErrStoreUnavailable) || !errors.Is(err, errCreateUser) {
		t.Fatalf("got %v, want ErrStoreUnavailable", err)
	}
	if _, err := mem.UserByEmail(context.Background(), "org_partner", "ada@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a user was stored: %v", err)
	}
}
