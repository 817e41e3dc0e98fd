package magiclink_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/store"
)

func withHooks(h magiclink.Hooks) func(*magiclink.Config) {
	return func(c *magiclink.Config) { c.Hooks = h }
}

const hookAddr = "hooked@example.com"

func sendReq() magiclink.SendRequest {
	return magiclink.SendRequest{Email: "Hooked@Example.com", CallbackOrigin: "https://app.example.com", Next: "/in",
		Locale: "de", ClientIP: netip.MustParseAddr("192.0.2.8")}
}

func TestBeforeSendSeesTheSend(t *testing.T) {
	t.Parallel()
	var got magiclink.SendInfo
	f := newFixture(t, withHooks(magiclink.Hooks{BeforeSend: func(_ context.Context, info magiclink.SendInfo) error {
		got = info
		return nil
	}}))
	if err := f.svc.SendLink(context.Background(), sendReq()); err != nil {
		t.Fatal(err)
	}
	want := magiclink.SendInfo{Email: hookAddr, Origin: "https://app.example.com", Next: "/in", Locale: "de", ClientIP: netip.MustParseAddr("192.0.2.8")}
	if got != want {
		t.Fatalf("BeforeSend got %+v, want %+v", got, want)
	}
	if len(f.mail.all()) != 1 {
		t.Fatal("an allowed send sent no mail")
	}
}

// TestBeforeSendRefusesQuietly: a refusal (an error or a panic) looks like
// success to the caller, stores nothing, mails nothing, keeps the earlier
// code alive, spends the limits as a send would, and logs no address.
func TestBeforeSendRefusesQuietly(t *testing.T) {
	t.Parallel()
	for name, hook := range map[string]func(context.Context, magiclink.SendInfo) error{
		"error": func(_ context.Context, info magiclink.SendInfo) error {
			return fmt.Errorf("%s is on the block list", info.Email)
		},
		"panic": func(context.Context, magiclink.SendInfo) error { panic("hook bug") },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var refuse atomic.Bool
			f := newFixture(t, withHooks(magiclink.Hooks{BeforeSend: func(ctx context.Context, info magiclink.SendInfo) error {
				if refuse.Load() {
					return hook(ctx, info)
				}
				return nil
			}}))
			ctx := context.Background()
			if err := f.svc.SendLink(ctx, sendReq()); err != nil {
				t.Fatal(err)
			}
			first := f.mail.all()[0]
			tokens := f.store.Len()
			refuse.Store(true)
			if err := f.svc.SendLink(ctx, sendReq()); err != nil {
				t.Fatalf("a refused send returned %v, want nil (enumeration-safe)", err)
			}
			if n := len(f.mail.all()); n != 1 {
				t.Fatalf("a refused send mailed: %d mails", n)
			}
			if f.store.Len() != tokens {
				t.Fatalf("a refused send stored a token: %d records, want %d", f.store.Len(), tokens)
			}
			if _, err := f.svc.VerifyCode(ctx, hookAddr, first.Code); err != nil {
				t.Fatalf("the earlier code died with a refused send: %v", err)
			}
			logs := f.logs.String()
			if strings.Contains(logs, "hooked@") || strings.Contains(logs, "block list") {
				t.Fatalf("the refusal logged the address or the hook's message:\n%s", logs)
			}
			if !strings.Contains(logs, "refused") {
				t.Fatalf("no log line says the send was refused:\n%s", logs)
			}
		})
	}
}

func TestBeforeSendRefusalSpendsTheLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withHooks(magiclink.Hooks{BeforeSend: func(context.Context, magiclink.SendInfo) error {
		return errors.New("no")
	}}))
	ctx := context.Background()
	var limited bool
	for range 20 {
		if err := f.svc.SendLink(ctx, sendReq()); errors.Is(err, magiclink.ErrRateLimited) {
			limited = true
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if !limited {
		t.Fatal("20 refused sends to one address were never rate limited: refusals would be told apart by the limit")
	}
}

func TestOnUserCreatedOnceOnFirstSignIn(t *testing.T) {
	t.Parallel()
	var created []store.User
	f := newFixture(t, withHooks(magiclink.Hooks{OnUserCreated: func(_ context.Context, u store.User) error {
		created = append(created, u)
		return nil
	}}))
	ctx := context.Background()
	id, err := f.svc.Verify(ctx, f.link(t, hookAddr).Token)
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != 1 || created[0].ID != id.UserID || created[0].Email != hookAddr || created[0].CreatedAt.IsZero() {
		t.Fatalf("after a first sign-in as %s OnUserCreated saw %+v", id.UserID, created)
	}
	if _, err := f.svc.Verify(ctx, f.link(t, hookAddr).Token); err != nil {
		t.Fatal(err)
	}
	if len(created) != 1 {
		t.Fatalf("OnUserCreated ran for a returning user: %d calls", len(created))
	}
}

func TestOnUserCreatedFailureDoesNotFailTheSignIn(t *testing.T) {
	t.Parallel()
	for name, hook := range map[string]func(context.Context, store.User) error{
		"error": func(context.Context, store.User) error { return errors.New("crm down") },
		"panic": func(context.Context, store.User) error { panic("crm bug") },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, withHooks(magiclink.Hooks{OnUserCreated: hook}))
			id, err := f.svc.Verify(context.Background(), f.link(t, hookAddr).Token)
			if err != nil || id.UserID == "" {
				t.Fatalf("Verify = %+v, %v; the user exists, so the sign-in must go on", id, err)
			}
			if u, err := f.store.UserByEmail(context.Background(), "", hookAddr); err != nil || u.ID != id.UserID {
				t.Fatalf("user not stored: %v, %v", u, err)
			}
			if logs := f.logs.String(); !strings.Contains(logs, "Hooks.OnUserCreated failed") || !strings.Contains(logs, "crm") {
				t.Fatalf("the hook's failure is not logged clearly:\n%s", logs)
			}
		})
	}
}

func TestOnSignInSeesTheIdentity(t *testing.T) {
	t.Parallel()
	var seen magiclink.Identity
	f := newFixture(t, withHooks(magiclink.Hooks{OnSignIn: func(_ context.Context, id magiclink.Identity) (map[string]any, error) {
		seen = id
		return nil, nil
	}}))
	link := f.link(t, hookAddr)
	id, err := f.svc.Verify(context.Background(), link.Token)
	if err != nil {
		t.Fatal(err)
	}
	if seen.UserID == "" || seen.UserID != id.UserID || seen.Email != hookAddr || seen.Method != "link" || id.Claims != nil {
		t.Fatalf("OnSignIn saw %+v; Verify returned %+v", seen, id)
	}
}

// TestOnSignInDenies: a refusal is ErrSignInDenied, uses the link and the
// code up, and starts nothing.
func TestOnSignInDenies(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withHooks(magiclink.Hooks{OnSignIn: func(context.Context, magiclink.Identity) (map[string]any, error) {
		return nil, fmt.Errorf("account suspended: %w", magiclink.ErrSignInDenied)
	}}))
	ctx := context.Background()
	if err := f.svc.SendLink(ctx, sendReq()); err != nil {
		t.Fatal(err)
	}
	m := f.mail.all()[0]
	_, err := f.svc.VerifyCode(ctx, hookAddr, m.Code)
	var e *magiclink.Error
	if !errors.Is(err, magiclink.ErrSignInDenied) || !errors.As(err, &e) || e.Code != "SIGNIN_DENIED" || e == magiclink.ErrSignInDenied {
		t.Fatalf("denied sign-in: %v, want a fresh SIGNIN_DENIED error", err)
	}
	if errors.Is(err, magiclink.ErrInvalidCode) || errors.Is(err, magiclink.ErrInvalidToken) {
		t.Fatalf("a denial must be its own kind: %v", err)
	}
	if _, err := f.svc.VerifyCode(ctx, hookAddr, m.Code); !errors.Is(err, magiclink.ErrInvalidCode) {
		t.Fatalf("the code of a denied sign-in worked again: %v", err)
	}
	if _, err := f.svc.Verify(ctx, linkToken(t, m.Link)); !errors.Is(err, magiclink.ErrInvalidToken) {
		t.Fatalf("the link of a denied code sign-in still works: %v", err)
	}
}

func TestOnSignInFailureIsAClearError(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		hook func(context.Context, magiclink.Identity) (map[string]any, error)
		want string
	}{
		"error": {func(context.Context, magiclink.Identity) (map[string]any, error) { return nil, errors.New("db down") }, "Hooks.OnSignIn: db down"},
		"panic": {func(context.Context, magiclink.Identity) (map[string]any, error) { panic("nil map") }, "Hooks.OnSignIn panicked: nil map"},
		"reserved claim": {func(context.Context, magiclink.Identity) (map[string]any, error) {
			return map[string]any{"sub": "admin"}, nil
		}, `claim "sub" is set by magiclink`},
		"not JSON": {func(context.Context, magiclink.Identity) (map[string]any, error) {
			return map[string]any{"c": make(chan int)}, nil
		}, "do not encode as JSON"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, withHooks(magiclink.Hooks{OnSignIn: tc.hook}))
			link := f.link(t, hookAddr)
			id, err := f.svc.Verify(context.Background(), link.Token)
			if err == nil || !strings.Contains(err.Error(), tc.want) || id.UserID != "" {
				t.Fatalf("Verify = %+v, %v; want an error containing %q", id, err, tc.want)
			}
			var e *magiclink.Error
			if errors.As(err, &e) {
				t.Fatalf("a failing hook is no client error (%s), it is the host's fault", e.Code)
			}
			if _, err := f.svc.Verify(context.Background(), link.Token); !errors.Is(err, magiclink.ErrInvalidToken) {
				t.Fatalf("the link is used up by the failed sign-in, want ErrInvalidToken; got %v", err)
			}
		})
	}
}

func TestOnSignInClaimsInTheSessionToken(t *testing.T) {
	t.Parallel()
	var plan atomic.Value
	plan.Store("free")
	var deny atomic.Bool
	f := newFixture(t, withHooks(magiclink.Hooks{OnSignIn: func(_ context.Context, id magiclink.Identity) (map[string]any, error) {
		if deny.Load() {
			return nil, magiclink.ErrSignInDenied
		}
		return map[string]any{"roles": []string{"admin"}, "plan": plan.Load(), "uid": id.UserID}, nil
	}}))
	ctx := context.Background()
	id, err := f.svc.Verify(ctx, f.link(t, hookAddr).Token)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := f.svc.StartAPISession(ctx, id, magiclink.Client{})
	if err != nil {
		t.Fatal(err)
	}
	claims := jwtClaims(t, tokens.AccessToken)
	if claims["plan"] != "free" || claims["uid"] != id.UserID || fmt.Sprint(claims["roles"]) != "[admin]" {
		t.Fatalf("hook claims missing from the access token: %v", claims)
	}
	if claims["sub"] != id.UserID || claims["iss"] != "magiclink" || claims["exp"] == nil || claims["jti"] == nil || claims["sid"] != tokens.SessionID {
		t.Fatalf("registered claims lost: %v", claims)
	}
	if back, err := f.svc.CheckAccessToken(ctx, tokens.AccessToken); err != nil || back.UserID != id.UserID {
		t.Fatalf("a token with extra claims does not check: %+v, %v", back, err)
	}
	// A refresh asks the hook again: the claims follow the application.
	plan.Store("pro")
	next, _, err := f.svc.Refresh(ctx, tokens.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if c := jwtClaims(t, next.AccessToken); c["plan"] != "pro" {
		t.Fatalf("refreshed token claims %v, want plan pro", c)
	}
	// A refusal at refresh ends the session.
	deny.Store(true)
	if _, _, err := f.svc.Refresh(ctx, next.RefreshToken); !errors.Is(err, magiclink.ErrSignInDenied) {
		t.Fatalf("refresh refused by the hook: %v, want ErrSignInDenied", err)
	}
	if _, err := f.svc.CheckAccessToken(ctx, next.AccessToken); !errors.Is(err, magiclink.ErrInvalidSession) {
		t.Fatalf("the refused session still works: %v", err)
	}
}

func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// TestAccessTokenNeverLetsClaimsReplaceItsOwn: claims set on an Identity by
// hand (not through the hook's check) still cannot replace sub or exp.
func TestAccessTokenNeverLetsClaimsReplaceItsOwn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tokens, err := f.svc.StartAPISession(context.Background(), magiclink.Identity{UserID: "usr_1", Email: "a@example.com", Method: "link",
		Claims: map[string]any{"sub": "usr_admin", "exp": 9999999999, "sid": "x", "aud": "elsewhere", "ok": true}}, magiclink.Client{})
	if err != nil {
		t.Fatal(err)
	}
	claims := jwtClaims(t, tokens.AccessToken)
	if claims["sub"] != "usr_1" || claims["exp"] == float64(9999999999) || claims["sid"] != tokens.SessionID || claims["aud"] == "elsewhere" || claims["ok"] != true {
		t.Fatalf("claims = %v", claims)
	}
}

// linkToken is the token_hash of a mailed link.
func linkToken(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token_hash")
}
