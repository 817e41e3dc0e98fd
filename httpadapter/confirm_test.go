package httpadapter_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/store"
)

// A person sent an attacker's own link must see whose account the button
// signs in to: the page names the link's address, beside the origin, and
// looking it up leaves the link usable.
func TestConfirmPageNamesTheAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok, _ := e.issue("Mallory@Attacker.example", "/")
	for range 3 { // scanners fetch links repeatedly
		rec := e.do(pageReq(http.MethodGet, "?token_hash="+tok+"&type=magiclink"))
		wantStatus(t, rec, http.StatusOK)
		wantPageHeaders(t, rec)
		body := rec.Body.String()
		for _, want := range []string{
			`<p>You are signing in to Acme as</p>`, `<p class="account">mallory@attacker.example</p>`,
			`<p class="origin">https://app.example.com</p>`, "or that is not your address",
		} {
			if !strings.Contains(body, want) {
				t.Fatalf("confirm page lacks %q:\n%s", want, body)
			}
		}
	}
	if _, err := e.svc.Verify(context.Background(), tok); err != nil {
		t.Fatalf("the link after three page views: %v", err)
	}
}

// A link that is used or expired shows the code form, not a button that
// can only fail.
func TestConfirmPageDeadLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	used, _ := e.issue("used@example.com", "/")
	if _, err := e.svc.Verify(context.Background(), used); err != nil {
		t.Fatal(err)
	}
	unknown := strings.Repeat("A", 43)
	for name, tok := range map[string]string{"used": used, "unknown": unknown} {
		rec := e.do(pageReq(http.MethodGet, "?token_hash="+tok+"&type=magiclink"))
		wantStatus(t, rec, http.StatusOK)
		body := rec.Body.String()
		if !strings.Contains(body, "This link has expired or was already used") || strings.Contains(body, `name="token_hash"`) ||
			!strings.Contains(body, `autocomplete="one-time-code"`) {
			t.Errorf("%s link: want the expired state with the code form, got\n%s", name, body)
		}
	}
}

// A store outage is a 503 page with Retry-After, never a button that names
// no account.
func TestConfirmPageStoreDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok, _ := e.issue("a@example.com", "/")
	e.store.down.Store(true)
	rec := e.do(pageReq(http.MethodGet, "?token_hash="+tok+"&type=magiclink"))
	wantStatus(t, rec, http.StatusServiceUnavailable)
	wantPageHeaders(t, rec)
	if rec.Header().Get("Retry-After") == "" || strings.Contains(rec.Body.String(), `name="token_hash"`) {
		t.Fatalf("503 page without Retry-After or with the button:\n%s", rec.Body)
	}
}

// basicStore hides every optional store capability.
type basicStore struct{ store.Store }

// A store without store.TokenPeeker still gets a working confirm page,
// naming the origin alone.
func TestConfirmPageWithoutPeeker(t *testing.T) {
	t.Parallel()
	var mem *store.Memory
	e := newEnv(t, func(c *magiclink.Config, _ *httpadapter.Config) {
		mem = store.NewMemory(store.WithClock(c.Clock))
		c.Store = basicStore{mem}
	})
	t.Cleanup(func() { _ = mem.Close() })
	tok, _ := e.issue("a@example.com", "/")
	rec := e.do(pageReq(http.MethodGet, "?token_hash="+tok+"&type=magiclink"))
	wantStatus(t, rec, http.StatusOK)
	body := rec.Body.String()
	if !strings.Contains(body, `<p>You are signing in to Acme at</p>`) || strings.Contains(body, `class="account"`) || !strings.Contains(body, `name="token_hash"`) {
		t.Fatalf("page without the capability:\n%s", body)
	}
}
