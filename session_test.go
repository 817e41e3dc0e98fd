package magiclink_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/magiclink-go/magiclink"
)

func TestSessionRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := magiclink.Identity{UserID: "usr_1", Email: "a@example.com", OrgID: "org_1", Method: "code"}
	s, err := f.svc.IssueSession(id)
	if err != nil {
		t.Fatal(err)
	}
	if want := f.clock.Now().Add(24 * time.Hour); !s.ExpiresAt.Equal(want) {
		t.Fatalf("session expires %v, want %v", s.ExpiresAt, want)
	}
	got, err := f.svc.ParseSession(s.Token)
	if err != nil {
		t.Fatalf("ParseSession: %v", err)
	}
	if got.UserID != "usr_1" || got.Email != "a@example.com" || got.OrgID != "org_1" || got.Method != "code" {
		t.Fatalf("identity %+v", got)
	}
	var claims jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(s.Token, &claims); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"iss", "sub", "email", "iat", "exp", "jti", "amr"} {
		if _, ok := claims[c]; !ok {
			t.Errorf("session lacks claim %q", c)
		}
	}
	f.clock.Advance(24*time.Hour + 6*time.Second)
	if _, err := f.svc.ParseSession(s.Token); !errors.Is(err, magiclink.ErrInvalidSession) {
		t.Fatalf("expired session: got %v", err)
	}
}

func TestSessionRejectsForgeries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	good, err := f.svc.IssueSession(magiclink.Identity{UserID: "usr_1", Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	claims := jwt.MapClaims{"iss": "magiclink", "sub": "usr_admin", "email": "x@example.com", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "amr": []string{"link"}}
	var pubKid string
	for kid, pub := range f.svc.SessionPublicKeys() {
		pubKid = kid
		// HS256 "signed" with the public key: the classic key-confusion attack.
		hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		hs.Header["kid"] = kid
		forged, _ := hs.SignedString([]byte(pub))
		assertRejected(t, f, "HS256 with the public key", forged)
	}
	none := jwt.NewWithClaims(jwt.SigningMethodNone, claims)
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	assertRejected(t, f, "alg none", noneTok)

	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	sign := func(c jwt.MapClaims, kid string, key ed25519.PrivateKey) string {
		tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		tk.Header["kid"] = kid
		s, _ := tk.SignedString(key)
		return s
	}
	assertRejected(t, f, "foreign key, our kid", sign(claims, pubKid, otherKey))
	assertRejected(t, f, "unknown kid", sign(claims, "nope", otherKey))
	noExp := jwt.MapClaims{"iss": "magiclink", "sub": "usr_1", "iat": now.Unix()}
	assertRejected(t, f, "no exp", sign(noExp, pubKid, otherKey))

	parts := strings.Split(good.Token, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), "usr_1", "usr_2", 1))) + "." + parts[2]
	assertRejected(t, f, "tampered payload", tampered)
	assertRejected(t, f, "garbage", "not.a.jwt")
	assertRejected(t, f, "empty", "")
	assertRejected(t, f, "huge", strings.Repeat("a", 10000))

	other := newFixture(t, func(c *magiclink.Config) { c.SessionIssuer = "someone-else" })
	if _, err := other.svc.ParseSession(good.Token); !errors.Is(err, magiclink.ErrInvalidSession) {
		t.Fatalf("wrong issuer: got %v", err)
	}
}

func assertRejected(t *testing.T, f *fixture, name, token string) {
	t.Helper()
	if id, err := f.svc.ParseSession(token); !errors.Is(err, magiclink.ErrInvalidSession) {
		t.Errorf("%s: ParseSession returned %+v, %v; want ErrInvalidSession", name, id, err)
	}
}

func TestSessionKeyRotation(t *testing.T) {
	t.Parallel()
	_, oldKey, _ := ed25519.GenerateKey(rand.Reader)
	_, newKey, _ := ed25519.GenerateKey(rand.Reader)
	before := newFixture(t, func(c *magiclink.Config) { c.SessionKey, c.SessionKeyID = oldKey, "k1" })
	s, err := before.svc.IssueSession(magiclink.Identity{UserID: "usr_1"})
	if err != nil {
		t.Fatal(err)
	}
	after := newFixture(t, func(c *magiclink.Config) {
		c.SessionKey, c.SessionKeyID = newKey, "k2"
		c.SessionVerifyKeys = map[string]ed25519.PublicKey{"k1": oldKey.Public().(ed25519.PublicKey)}
	})
	if _, err := after.svc.ParseSession(s.Token); err != nil {
		t.Fatalf("a session signed with the retired key must still verify: %v", err)
	}
	dropped := newFixture(t, func(c *magiclink.Config) { c.SessionKey, c.SessionKeyID = newKey, "k2" })
	if _, err := dropped.svc.ParseSession(s.Token); !errors.Is(err, magiclink.ErrInvalidSession) {
		t.Fatalf("once the old key is dropped its sessions fail: got %v", err)
	}
}
