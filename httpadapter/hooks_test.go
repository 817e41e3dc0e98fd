package httpadapter_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/store"
)

func withHooks(h magiclink.Hooks) envOption {
	return func(c *magiclink.Config, _ *httpadapter.Config) { c.Hooks = h }
}

func TestSendRefusedByHookAnswersAsAnySend(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withHooks(magiclink.Hooks{BeforeSend: func(_ context.Context, info magiclink.SendInfo) error {
		if strings.HasSuffix(info.Email, "@blocked.example") {
			return errors.New("blocked domain")
		}
		return nil
	}}))
	for _, addr := range []string{"a@blocked.example", "a@example.com"} {
		rec := e.do(jsonReq(sendPath, `{"email":"`+addr+`","callback_origin":"https://app.example.com"}`))
		wantStatus(t, rec, http.StatusOK)
		if strings.TrimSpace(rec.Body.String()) != `{"ok":true}` {
			t.Fatalf("%s: body %s, want {\"ok\":true}", addr, rec.Body)
		}
	}
	if _, ok := e.inbox.Last("a@blocked.example"); ok {
		t.Fatal("a refused send was mailed")
	}
	if _, ok := e.inbox.Last("a@example.com"); !ok {
		t.Fatal("an allowed send was not mailed")
	}
}

// TestSignInDeniedByHook: JSON gets 403 SIGNIN_DENIED and no tokens, a
// form the page with 403 and no cookie; the link is used up either way.
func TestSignInDeniedByHook(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withHooks(magiclink.Hooks{OnSignIn: func(context.Context, magiclink.Identity) (map[string]any, error) {
		return nil, fmt.Errorf("suspended: %w", magiclink.ErrSignInDenied)
	}}))
	tok, _ := e.issue("a@example.com", "/")
	rec := e.do(jsonReq(verifyPath, `{"token_hash":"`+tok+`","type":"magiclink"}`))
	wantStatus(t, rec, http.StatusForbidden)
	if m := decode(t, rec); m["code"] != "SIGNIN_DENIED" || m["access_token"] != nil {
		t.Fatalf("denied JSON sign-in: %s", rec.Body)
	}
	rec = e.do(jsonReq(verifyPath, `{"token_hash":"`+tok+`","type":"magiclink"}`))
	wantStatus(t, rec, http.StatusBadRequest)

	tok, _ = e.issue("a@example.com", "/")
	rec = e.do(formReq("https://app.example.com"+verifyPath, url.Values{"token_hash": {tok}, "type": {"magiclink"}},
		"Sec-Fetch-Site", "same-origin", "Origin", "https://app.example.com"))
	wantStatus(t, rec, http.StatusForbidden)
	if len(rec.Result().Cookies()) != 0 || !strings.Contains(rec.Body.String(), "Sign-in not allowed") {
		t.Fatalf("denied form sign-in: cookies %v, body %s", rec.Result().Cookies(), truncate(rec.Body.String()))
	}
}

func TestSignInHookFailureIsInternal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withHooks(magiclink.Hooks{OnSignIn: func(context.Context, magiclink.Identity) (map[string]any, error) {
		panic("hook bug")
	}}))
	tok, _ := e.issue("a@example.com", "/")
	rec := e.do(jsonReq(verifyPath, `{"token_hash":"`+tok+`","type":"magiclink"}`))
	wantStatus(t, rec, http.StatusInternalServerError)
	if m := decode(t, rec); m["code"] != "INTERNAL" || strings.Contains(rec.Body.String(), "hook bug") {
		t.Fatalf("failing hook: %s", rec.Body)
	}
}

// hostUsers is an application's user table with its own IDs.
type hostUsers struct {
	mu    sync.Mutex
	users []store.User
}

func (h *hostUsers) CreateUser(_ context.Context, u *store.User) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, x := range h.users {
		if x.OrgID == u.OrgID && x.Email == u.Email {
			return store.ErrExists
		}
	}
	u.ID = strconv.Itoa(1000 + len(h.users))
	h.users = append(h.users, *u)
	return nil
}

func (h *hostUsers) UserByEmail(_ context.Context, org, email string) (*store.User, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, x := range h.users {
		if x.OrgID == org && x.Email == email {
			return &x, nil
		}
	}
	return nil, store.ErrNotFound
}

func (h *hostUsers) UserByID(_ context.Context, id string) (*store.User, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, x := range h.users {
		if x.ID == id {
			return &x, nil
		}
	}
	return nil, store.ErrNotFound
}

// TestPartnerUsersInTheHostsTable: the partner endpoint creates its user in
// Config.Users, which gives it its own ID, and the link signs in as it.
func TestPartnerUsersInTheHostsTable(t *testing.T) {
	t.Parallel()
	users := &hostUsers{}
	e := newEnv(t, func(c *magiclink.Config, _ *httpadapter.Config) { c.Users = users })
	data := partnerResult(t, e.do(partnerReq(seed002Body)), http.StatusOK)
	if len(users.users) != 1 || users.users[0].OrgID != partnerOrg || users.users[0].SecretKeyDigest.IsZero() || users.users[0].FirstName != "Kaan" {
		t.Fatalf("host table after a partner create: %+v", users.users)
	}
	if _, err := e.store.UserByEmail(context.Background(), partnerOrg, "kaan@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the store got the user too: %v", err)
	}
	link, _ := url.Parse(data["MagicLink"].(string))
	id, err := e.svc.Verify(context.Background(), link.Query().Get("token_hash"))
	if err != nil || id.UserID != "1000" || id.OrgID != partnerOrg {
		t.Fatalf("the partner's link signs in as %+v, %v; want the host's user 1000", id, err)
	}
	// The key returned once works against the host's table.
	secret := data["SecretKey"].(string)
	partnerResult(t, e.do(partnerReq(seed002Body, "X-User-Secret-Key", secret)), http.StatusOK)
	if len(users.users) != 1 {
		t.Fatalf("a returning partner user was created again: %+v", users.users)
	}
}
