package httpadapter_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
)

// publicSignIn signs addr in on the public path (a mailed link) and
// returns who signed in.
func publicSignIn(t *testing.T, e *env, addr string) magiclink.Identity {
	t.Helper()
	ctx := context.Background()
	if err := e.svc.SendLink(ctx, magiclink.SendRequest{Email: addr, CallbackOrigin: appOrigin}); err != nil {
		t.Fatalf("SendLink: %v", err)
	}
	token, _ := e.lastMail(addr)
	id, err := e.svc.Verify(ctx, token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return id
}

// partnerSignIn registers addr through the partner endpoint and returns
// who its link signs in.
func partnerSignIn(t *testing.T, e *env, addr string) magiclink.Identity {
	t.Helper()
	data := partnerResult(t, e.do(partnerReq(partnerBody(addr))), http.StatusOK)
	id, err := e.svc.Verify(context.Background(), tokenOf(t, data["MagicLink"].(string)))
	if err != nil {
		t.Fatalf("Verify of the partner's link: %v", err)
	}
	return id
}

func partnerBody(addr string) string {
	return `{"firstName":"A","lastName":"B","email":` + jsonString(addr) + `,"phone":"+905555555555","languageCode":"tr-TR","mailPermission":true}`
}

// TestPartnerKeyOwnOrganisation is finding 16.2: a key configured without
// an OrgID manages its own organisation, so a partner's pre-created
// account is never the one a person's public sign-in lands in, and
// registering an address that has a public account answers 200 like any
// other, not 409. Before the fix the key shared the public organisation:
// the public sign-in landed in the partner's user and the second
// registration was 409.
func TestPartnerKeyOwnOrganisation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withHTTP(func(c *httpadapter.Config) {
		c.APIKeys = []httpadapter.APIKey{{ID: "partner-1", Key: partnerKey, PortalOrigin: portalOrigin}}
	}))

	planted := partnerSignIn(t, e, "ada@example.com")
	person := publicSignIn(t, e, "ada@example.com")
	if person.UserID == planted.UserID || person.OrgID != "" || planted.OrgID != "apikey:partner-1" {
		t.Fatalf("public sign-in %+v after a partner pre-created %+v: want another user, in the public organisation", person, planted)
	}

	public := publicSignIn(t, e, "bob@example.com")
	probe := partnerSignIn(t, e, "bob@example.com") // 200, not 409
	if probe.UserID == public.UserID {
		t.Fatalf("the partner's registration of a public address signs in the public user %q", public.UserID)
	}
	// The person's account is untouched and still the one they sign in to.
	if again := publicSignIn(t, e, "bob@example.com"); again.UserID != public.UserID {
		t.Fatalf("public sign-in after the partner's registration: user %q, want %q", again.UserID, public.UserID)
	}
}

// TestPartnerKeySharingPublicOrganisation: the option says what it does —
// the key reaches public accounts (409 for an address with one).
func TestPartnerKeySharingPublicOrganisation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withHTTP(func(c *httpadapter.Config) {
		c.APIKeys = []httpadapter.APIKey{{ID: "partner-1", Key: partnerKey, PortalOrigin: portalOrigin, DangerouslySharePublicOrganization: true}}
	}))
	publicSignIn(t, e, "bob@example.com")
	partnerResult(t, e.do(partnerReq(partnerBody("bob@example.com"))), http.StatusConflict)
}
