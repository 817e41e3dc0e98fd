package magiclink_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/conc"
	"github.com/magiclink-go/magiclink/store"
)

var alice = magiclink.Identity{UserID: "usr_alice", Email: "alice@example.com", OrgID: "org_1", Method: "code"}

func apiSession(t *testing.T, f *fixture, id magiclink.Identity) *magiclink.Tokens {
	t.Helper()
	tok, err := f.svc.StartAPISession(context.Background(), id, magiclink.Client{IP: netip.MustParseAddr("192.0.2.7"), UserAgent: "test/1"})
	if err != nil {
		t.Fatalf("StartAPISession: %v", err)
	}
	return tok
}

func browserSession(t *testing.T, f *fixture, id magiclink.Identity) *magiclink.BrowserSession {
	t.Helper()
	s, err := f.svc.StartBrowserSession(context.Background(), id, magiclink.Client{})
	if err != nil {
		t.Fatalf("StartBrowserSession: %v", err)
	}
	return s
}

func wantInvalid(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, magiclink.ErrInvalidSession) {
		t.Fatalf("%s: got %v, want ErrInvalidSession", what, err)
	}
}

func TestAPISessionRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := apiSession(t, f, alice)
	if want := f.clock.Now().Add(magiclink.DefaultAccessTokenTTL); !tok.AccessTokenExpiresAt.Equal(want) {
		t.Fatalf("access token expires %v, want %v", tok.AccessTokenExpiresAt, want)
	}
	if want := f.clock.Now().Add(magiclink.DefaultSessionMaxTTL); !tok.ExpiresAt.Equal(want) {
		t.Fatalf("session expires %v, want %v", tok.ExpiresAt, want)
	}
	id, err := f.svc.CheckAccessToken(context.Background(), tok.AccessToken)
	if err != nil {
		t.Fatalf("CheckAccessToken: %v", err)
	}
	if id.UserID != alice.UserID || id.Email != alice.Email || id.OrgID != alice.OrgID || id.Method != "code" || id.SessionID != tok.SessionID {
		t.Fatalf("identity %+v, want alice's with session %s", id, tok.SessionID)
	}
	var claims jwt.MapClaims
	parsed, _, err := jwt.NewParser().ParseUnverified(tok.AccessToken, &claims)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"iss", "sub", "aud", "sid", "exp", "iat", "jti", "amr"} {
		if _, ok := claims[c]; !ok {
			t.Errorf("access token lacks claim %q", c)
		}
	}
	if parsed.Header["alg"] != "EdDSA" || parsed.Header["kid"] == nil || claims["sid"] != tok.SessionID {
		t.Fatalf("header %v, sid %v; want EdDSA with a kid and sid %s", parsed.Header, claims["sid"], tok.SessionID)
	}
	if strings.Contains(tok.RefreshToken, tok.AccessToken) || !strings.HasPrefix(tok.RefreshToken, tok.SessionID+".") {
		t.Fatalf("refresh token %q does not have the form <sid>.<secret>", tok.RefreshToken)
	}
}

func TestBrowserSessionSignOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	s := browserSession(t, f, alice)
	id, err := f.svc.CheckSessionToken(ctx, s.Token)
	if err != nil || id.UserID != alice.UserID || id.SessionID != s.ID {
		t.Fatalf("CheckSessionToken: %+v, %v", id, err)
	}
	if err := f.svc.SignOut(ctx, id, magiclink.SignOutLocal); err != nil {
		t.Fatalf("SignOut: %v", err)
	}
	_, err = f.svc.CheckSessionToken(ctx, s.Token)
	wantInvalid(t, "the session token after sign-out", err)
	if err := f.svc.SignOut(ctx, id, ""); err != nil {
		t.Fatalf("signing out twice: %v, want nil", err)
	}
	if err := f.svc.SignOut(ctx, id, "everything"); !errors.Is(err, magiclink.ErrValidation) {
		t.Fatalf("unknown scope: %v, want ErrValidation", err)
	}
}

func TestSessionIdleExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *magiclink.Config) { c.SessionIdleTTL = time.Hour })
	ctx := context.Background()
	s := browserSession(t, f, alice)
	f.clock.Advance(time.Hour - time.Second)
	if _, err := f.svc.CheckSessionToken(ctx, s.Token); err != nil {
		t.Fatalf("used 1s before its idle expiry: %v", err)
	}
	// That use moved the idle expiry an hour on.
	f.clock.Advance(time.Hour - time.Second)
	if _, err := f.svc.CheckSessionToken(ctx, s.Token); err != nil {
		t.Fatalf("used again within the hour: %v", err)
	}
	f.clock.Advance(time.Hour)
	_, err := f.svc.CheckSessionToken(ctx, s.Token)
	wantInvalid(t, "an hour unused", err)
}

func TestSessionMaxAge(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *magiclink.Config) { c.SessionIdleTTL, c.SessionMaxTTL = 2*time.Hour, 24*time.Hour })
	ctx := context.Background()
	tok := apiSession(t, f, alice)
	refresh := tok.RefreshToken
	for range 23 {
		f.clock.Advance(time.Hour)
		next, _, err := f.svc.Refresh(ctx, refresh)
		if err != nil {
			t.Fatalf("refresh at %v: %v", f.clock.Now().Sub(tok.ExpiresAt.Add(-24*time.Hour)), err)
		}
		refresh = next.RefreshToken
	}
	f.clock.Advance(time.Hour)
	_, _, err := f.svc.Refresh(ctx, refresh)
	wantInvalid(t, "a refresh at the maximum age", err)
}

func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	first := apiSession(t, f, alice)
	second, id, err := f.svc.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if id.UserID != alice.UserID || second.SessionID != first.SessionID || second.RefreshToken == first.RefreshToken {
		t.Fatalf("Refresh returned %+v for %+v; want a new pair of the same session", second, id)
	}
	if _, err := f.svc.CheckAccessToken(ctx, second.AccessToken); err != nil {
		t.Fatalf("the new access token: %v", err)
	}
	_, _, err = f.svc.Refresh(ctx, first.RefreshToken)
	wantInvalid(t, "reusing the replaced refresh token", err)
	_, err = f.svc.CheckAccessToken(ctx, second.AccessToken)
	wantInvalid(t, "the newest access token after reuse", err)
	_, _, err = f.svc.Refresh(ctx, second.RefreshToken)
	wantInvalid(t, "the newest refresh token after reuse", err)
	if !strings.Contains(f.logs.String(), first.SessionID) {
		t.Fatal("the reuse was not logged with the session ID")
	}
}

func TestConcurrentRefresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := apiSession(t, f, alice)
	var wins, invalid atomic.Int32
	conc.Run(100, func(int) {
		_, _, err := f.svc.Refresh(context.Background(), tok.RefreshToken)
		switch {
		case err == nil:
			wins.Add(1)
		case errors.Is(err, magiclink.ErrInvalidSession):
			invalid.Add(1)
		default:
			t.Errorf("Refresh: %v", err)
		}
	})
	if wins.Load() != 1 || invalid.Load() != 99 {
		t.Fatalf("100 concurrent refreshes of one token: %d new pairs and %d refusals, want 1 and 99", wins.Load(), invalid.Load())
	}
}

func TestRefreshRefusesBadTokens(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := apiSession(t, f, alice)
	sid, secret, _ := strings.Cut(tok.RefreshToken, ".")
	other := apiSession(t, f, alice)
	_, otherSecret, _ := strings.Cut(other.RefreshToken, ".")
	for name, bad := range map[string]string{
		"empty":                          "",
		"garbage":                        "not a token",
		"the access token":               tok.AccessToken,
		"the secret alone":               secret,
		"a lowercase copy":               strings.ToLower(tok.RefreshToken),
		"an unknown session":             strings.Repeat("A", 22) + "." + secret,
		"another session's secret":       sid + "." + otherSecret,
		"a non-canonical session ID":     sid[:21] + "B." + secret,
		"a padded secret":                sid + "." + secret + "=",
		"another separator":              sid + ":" + secret,
		"a secret with a flipped letter": sid + "." + flip(secret),
	} {
		if _, _, err := f.svc.Refresh(context.Background(), bad); !errors.Is(err, magiclink.ErrInvalidSession) {
			t.Errorf("Refresh with %s: got %v, want ErrInvalidSession", name, err)
		}
	}
	if _, _, err := f.svc.Refresh(context.Background(), tok.RefreshToken); err != nil {
		t.Fatalf("failed attempts with foreign tokens must not revoke the session: %v", err)
	}
}

func flip(s string) string {
	b := []byte(s)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

func TestSignOutScopes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	one, two := browserSession(t, f, alice), apiSession(t, f, alice)
	bob := browserSession(t, f, magiclink.Identity{UserID: "usr_bob", Email: "bob@example.com"})
	id, err := f.svc.CheckSessionToken(ctx, one.Token)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SignOut(ctx, id, magiclink.SignOutOthers); err != nil {
		t.Fatalf("SignOut others: %v", err)
	}
	_, err = f.svc.CheckAccessToken(ctx, two.AccessToken)
	wantInvalid(t, "the other session after scope=others", err)
	if _, err := f.svc.CheckSessionToken(ctx, one.Token); err != nil {
		t.Fatalf("the session that signed the others out: %v", err)
	}
	three := browserSession(t, f, alice)
	if err := f.svc.SignOut(ctx, id, magiclink.SignOutGlobal); err != nil {
		t.Fatalf("SignOut global: %v", err)
	}
	for name, tok := range map[string]string{"first": one.Token, "third": three.Token} {
		_, err := f.svc.CheckSessionToken(ctx, tok)
		wantInvalid(t, "the "+name+" session after scope=global", err)
	}
	if _, err := f.svc.CheckSessionToken(ctx, bob.Token); err != nil {
		t.Fatalf("another user's session after alice signed out everywhere: %v", err)
	}
}

func TestRevokeAndListSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	mine := browserSession(t, f, alice)
	f.clock.Advance(time.Second)
	ua := "Mozilla/5.0\r\nX-Injected: 1 " + strings.Repeat("é", 400)
	api, err := f.svc.StartAPISession(ctx, alice, magiclink.Client{IP: netip.MustParseAddr("::ffff:192.0.2.9"), UserAgent: ua})
	if err != nil {
		t.Fatal(err)
	}
	bobs := browserSession(t, f, magiclink.Identity{UserID: "usr_bob", Email: "bob@example.com"})
	list, err := f.svc.Sessions(ctx, alice.UserID)
	if err != nil || len(list) != 2 || list[0].ID != mine.ID || list[1].ID != api.SessionID {
		t.Fatalf("Sessions: %+v, %v; want alice's two, oldest first", list, err)
	}
	if got := list[1].UserAgent; len(got) > 512 || strings.ContainsAny(got, "\r\n") || !strings.HasPrefix(got, "Mozilla/5.0X-Injected") {
		t.Fatalf("User-Agent kept as %q (%d bytes), want it without control characters and at most 512 bytes", got, len(got))
	}
	if list[1].IP != "192.0.2.9" || list[1].Method != "code" {
		t.Fatalf("session IP %q, method %q; want 192.0.2.9 and code", list[1].IP, list[1].Method)
	}
	for name, id := range map[string]string{"another user's session": bobs.ID, "a malformed ID": "../x", "an unknown ID": strings.Repeat("A", 22)} {
		if err := f.svc.RevokeSession(ctx, alice.UserID, id); !errors.Is(err, magiclink.ErrSessionNotFound) {
			t.Errorf("RevokeSession of %s: got %v, want ErrSessionNotFound", name, err)
		}
	}
	if _, err := f.svc.CheckSessionToken(ctx, bobs.Token); err != nil {
		t.Fatalf("bob's session after alice tried to revoke it: %v", err)
	}
	if err := f.svc.RevokeSession(ctx, alice.UserID, api.SessionID); err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	_, err = f.svc.CheckAccessToken(ctx, api.AccessToken)
	wantInvalid(t, "the access token of a revoked session", err)
}

func TestLastSeenAtMostOnceAMinute(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	s := browserSession(t, f, alice)
	start := f.clock.Now()
	lastSeen := func() time.Time {
		list, err := f.svc.Sessions(ctx, alice.UserID)
		if err != nil || len(list) != 1 {
			t.Fatalf("Sessions: %v, %v", list, err)
		}
		return list[0].LastSeenAt
	}
	f.clock.Advance(59 * time.Second)
	if _, err := f.svc.CheckSessionToken(ctx, s.Token); err != nil {
		t.Fatal(err)
	}
	if got := lastSeen(); !got.Equal(start) {
		t.Fatalf("a use 59s after sign-in wrote last seen %v, want it left at %v", got, start)
	}
	f.clock.Advance(2 * time.Second)
	if _, err := f.svc.CheckSessionToken(ctx, s.Token); err != nil {
		t.Fatal(err)
	}
	if got := lastSeen(); !got.Equal(f.clock.Now()) {
		t.Fatalf("a use 61s after sign-in left last seen at %v, want %v", got, f.clock.Now())
	}
}

func TestAccessTokenExpiresThoughCached(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := apiSession(t, f, alice)
	if _, err := f.svc.CheckAccessToken(context.Background(), tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(magiclink.DefaultAccessTokenTTL + 5*time.Second)
	_, err := f.svc.CheckAccessToken(context.Background(), tok.AccessToken)
	wantInvalid(t, "a verified access token past its exp (and leeway)", err)
}

// TestAccessTokenRejectsForgeries signs tokens with the Service's own key
// where the attack needs it, so only the property under test is wrong.
func TestAccessTokenRejectsForgeries(t *testing.T) {
	t.Parallel()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	f := newFixture(t, func(c *magiclink.Config) { c.SessionKey, c.SessionKeyID = key, "k1" })
	good := apiSession(t, f, alice)
	bob := apiSession(t, f, magiclink.Identity{UserID: "usr_bob", Email: "bob@example.com"})
	now := f.clock.Now()
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": "magiclink", "aud": "magiclink", "sub": alice.UserID, "sid": good.SessionID, "amr": []string{"link"},
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": "x"}
		if edit != nil {
			edit(c)
		}
		return c
	}
	sign := func(c jwt.MapClaims, kid string, k ed25519.PrivateKey) string {
		tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		tk.Header["kid"] = kid
		s, _ := tk.SignedString(k)
		return s
	}
	if _, err := f.svc.CheckAccessToken(context.Background(), sign(claims(nil), "k1", key)); err != nil {
		t.Fatalf("the baseline forgery-free token must pass, or the cases below prove nothing: %v", err)
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
	hs.Header["kid"] = "k1"
	hsTok, _ := hs.SignedString([]byte(key.Public().(ed25519.PublicKey)))
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	parts := strings.Split(good.AccessToken, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), alice.UserID, "usr_bob", 1))) + "." + parts[2]
	cases := map[string]string{
		"HS256 with the public key":       hsTok,
		"alg none":                        none,
		"a foreign key under our kid":     sign(claims(nil), "k1", otherKey),
		"an unknown kid":                  sign(claims(nil), "k9", key),
		"no exp":                          sign(claims(func(c jwt.MapClaims) { delete(c, "exp") }), "k1", key),
		"expired":                         sign(claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() }), "k1", key),
		"another audience":                sign(claims(func(c jwt.MapClaims) { c["aud"] = "other-api" }), "k1", key),
		"no audience":                     sign(claims(func(c jwt.MapClaims) { delete(c, "aud") }), "k1", key),
		"another issuer":                  sign(claims(func(c jwt.MapClaims) { c["iss"] = "someone-else" }), "k1", key),
		"no sid":                          sign(claims(func(c jwt.MapClaims) { delete(c, "sid") }), "k1", key),
		"a sid that names no session":     sign(claims(func(c jwt.MapClaims) { c["sid"] = strings.Repeat("A", 22) }), "k1", key),
		"bob's session with alice as sub": sign(claims(func(c jwt.MapClaims) { c["sid"] = bob.SessionID }), "k1", key),
		"a tampered payload":              tampered,
		"garbage":                         "not.a.jwt",
		"empty":                           "",
		"huge":                            strings.Repeat("a", 10000),
	}
	for name, tok := range cases {
		if id, err := f.svc.CheckAccessToken(context.Background(), tok); !errors.Is(err, magiclink.ErrInvalidSession) {
			t.Errorf("%s: CheckAccessToken returned %+v, %v; want ErrInvalidSession", name, id, err)
		}
	}
	for name, tok := range map[string]string{"an access token": good.AccessToken, "a refresh token": good.RefreshToken} {
		_, err := f.svc.CheckSessionToken(context.Background(), tok)
		wantInvalid(t, name+" as a session cookie", err)
	}
}

func TestSessionKeyRotationAndJWKS(t *testing.T) {
	t.Parallel()
	_, oldKey, _ := ed25519.GenerateKey(rand.Reader)
	_, newKey, _ := ed25519.GenerateKey(rand.Reader)
	start := newFixture(t).clock.Now() // every fixture's clock starts there
	shared := store.NewMemory(store.WithSweepInterval(0), store.WithClock(func() time.Time { return start }))
	t.Cleanup(func() { _ = shared.Close() })
	before := newFixture(t, func(c *magiclink.Config) { c.Store, c.SessionKey, c.SessionKeyID = shared, oldKey, "k1" })
	tok := apiSession(t, before, alice)
	after := newFixture(t, func(c *magiclink.Config) {
		c.Store, c.SessionKey, c.SessionKeyID = shared, newKey, "k2"
		c.SessionVerifyKeys = map[string]ed25519.PublicKey{"k1": oldKey.Public().(ed25519.PublicKey)}
	})
	if _, err := after.svc.CheckAccessToken(context.Background(), tok.AccessToken); err != nil {
		t.Fatalf("a token signed with the retired key must still verify: %v", err)
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(after.svc.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 || set.Keys[0]["kid"] != "k2" || set.Keys[1]["kid"] != "k1" {
		t.Fatalf("JWKS %s: want k2 (signing) then k1 (rotation)", after.svc.JWKS())
	}
	for i, k := range []ed25519.PrivateKey{newKey, oldKey} {
		x, _ := base64.RawURLEncoding.DecodeString(set.Keys[i]["x"])
		j := set.Keys[i]
		if j["kty"] != "OKP" || j["crv"] != "Ed25519" || j["alg"] != "EdDSA" || j["use"] != "sig" || !ed25519.PublicKey(x).Equal(k.Public()) {
			t.Fatalf("JWKS key %d is %v, want the OKP Ed25519 public key", i, j)
		}
	}
	dropped := newFixture(t, func(c *magiclink.Config) { c.Store, c.SessionKey, c.SessionKeyID = shared, newKey, "k2" })
	_, err := dropped.svc.CheckAccessToken(context.Background(), tok.AccessToken)
	wantInvalid(t, "a token of a dropped key", err)
}

// sessionsDown is a store whose session calls fail as an unreachable
// backend's would.
type sessionsDown struct{ store.Store }

func (sessionsDown) SessionByToken(context.Context, store.Digest, store.Touch) (*store.Session, error) {
	return nil, store.ErrUnavailable
}
func (sessionsDown) SessionByID(context.Context, string, store.Touch) (*store.Session, error) {
	return nil, store.ErrUnavailable
}
func (sessionsDown) RotateRefresh(context.Context, string, store.Digest, store.Digest, store.Touch) (*store.Session, error) {
	return nil, store.ErrUnavailable
}

func TestSessionStoreDownIsNoSignOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := apiSession(t, f, alice)
	s := browserSession(t, f, alice)
	down := newFixture(t, func(c *magiclink.Config) { c.Store = sessionsDown{store.NewMemory(store.WithSweepInterval(0))} })
	// The same key (from the same Secret) verifies the token; only the
	// store is down.
	ctx := context.Background()
	_, err1 := down.svc.CheckAccessToken(ctx, tok.AccessToken)
	_, err2 := down.svc.CheckSessionToken(ctx, s.Token)
	_, _, err3 := down.svc.Refresh(ctx, tok.RefreshToken)
	for i, err := range []error{err1, err2, err3} {
		if !errors.Is(err, magiclink.ErrStoreUnavailable) || errors.Is(err, magiclink.ErrInvalidSession) {
			t.Errorf("call %d with the store down: got %v, want ErrStoreUnavailable (not a sign-out)", i, err)
		}
	}
}

func TestSessionConfigChecks(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]magiclink.Config{
		"SessionIdleTTL": {SessionIdleTTL: 40 * 24 * time.Hour},
		"SessionMaxTTL":  {SessionMaxTTL: 400 * 24 * time.Hour, SessionIdleTTL: time.Hour},
		"AccessTokenTTL": {AccessTokenTTL: time.Second},
	} {
		c.Origins, c.Secret = []string{"https://app.example.com"}, testSecret
		_, err := magiclink.New(c)
		var e *magiclink.Error
		if !errors.As(err, &e) || e.Field != name {
			t.Errorf("New with a bad %s: %v, want an error naming the field", name, err)
		}
	}
}
