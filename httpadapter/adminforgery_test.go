package httpadapter_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/store"
)

const (
	adminIssuer   = "https://issuer.example.com"
	adminAudience = "magiclink-admin"
	adminScope    = "magic_link:write"
	adminKid      = "k1"
)

// adminRig is a rig whose admin endpoint accepts EdDSA tokens by kid, with
// issuer, audience and scope required, and knows the customer cus_1.
type adminRig struct {
	*rig
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

func newAdminRig(t *testing.T) *adminRig {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, rigOptions{http: httpadapter.Config{Admin: &httpadapter.AdminConfig{
		Keys: map[string]any{adminKid: pub}, Methods: []string{"EdDSA"}, Issuer: adminIssuer, Audience: adminAudience,
		Scope: adminScope, PortalOrigin: appOrigin,
	}}})
	if err := r.store.PutCustomer(ctxBG, &store.Customer{ID: "cus_1", Email: "customer@example.com"}); err != nil {
		t.Fatal(err)
	}
	return &adminRig{rig: r, priv: priv, pub: pub}
}

// claims returns valid claims; mutate them for a test case.
func validAdminClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"iss": adminIssuer, "aud": adminAudience, "sub": "ops@example.com", "scope": adminScope,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
}

func (a *adminRig) sign(t *testing.T, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = adminKid
	s, err := tok.SignedString(a.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (a *adminRig) post(authorization ...string) (int, string) {
	req := jsonRequest(adminPath, `{"customerId":"cus_1"}`)
	for _, v := range authorization {
		req.Header.Add("Authorization", v)
	}
	rec := a.do(req)
	return rec.Code, rec.Body.String()
}

// rawJWT assembles header.payload.signature from JSON parts, for tokens no
// library would produce.
func rawJWT(header, payload map[string]any, sig []byte) string {
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(payload)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(p) + "." + enc.EncodeToString(sig)
}

// TestAdminForgedTokenCorpus: every forged, expired, misdirected or malformed token
// gets 401 (403 for a valid token without the scope) in seed 003's error
// envelope, and no link.
func TestAdminForgedTokenCorpus(t *testing.T) {
	t.Parallel()
	a := newAdminRig(t)
	valid := a.sign(t, validAdminClaims())
	if code, body := a.post("Bearer " + valid); code != http.StatusOK || !strings.Contains(body, `"magic_link"`) {
		t.Fatalf("control: a valid token got %d %s", code, body)
	}

	with := func(mut func(jwt.MapClaims)) string {
		c := validAdminClaims()
		mut(c)
		return a.sign(t, c)
	}
	hmacWith := func(key []byte, kid any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, validAdminClaims())
		if kid != nil {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	der, _ := x509.MarshalPKIXPublicKey(a.pub)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	none := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, validAdminClaims())
		tok.Header["kid"] = adminKid
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	otherKey := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, validAdminClaims())
		tok.Header["kid"] = adminKid
		s, _ := tok.SignedString(otherPriv)
		return s
	}()
	withKid := func(kid any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, validAdminClaims())
		if kid != nil {
			tok.Header["kid"] = kid
		}
		s, _ := tok.SignedString(a.priv)
		return s
	}
	parts := strings.Split(valid, ".")
	now := time.Now()

	cases := []struct {
		name string
		auth []string
		want int
	}{
		{"alg none", []string{"Bearer " + none}, 401},
		{"alg none, no signature part", []string{"Bearer " + strings.TrimSuffix(none, ".")}, 401},
		{"alg NONE spelled in capitals", []string{"Bearer " + rawJWT(map[string]any{"alg": "NONE", "kid": adminKid}, validAdminClaims(), nil)}, 401},
		{"HS256 signed with the raw public key", []string{"Bearer " + hmacWith(a.pub, adminKid)}, 401},
		{"HS256 signed with the PEM public key", []string{"Bearer " + hmacWith(pubPEM, adminKid)}, 401},
		{"HS256 signed with the public key, no kid", []string{"Bearer " + hmacWith(a.pub, nil)}, 401},
		{"HS256 with an empty key", []string{"Bearer " + rawJWT(map[string]any{"alg": "HS256", "kid": adminKid}, validAdminClaims(), nil)}, 401},
		{"EdDSA signed by another key", []string{"Bearer " + otherKey}, 401},
		{"payload swapped under a valid signature", []string{"Bearer " + parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+adminIssuer+`","aud":"`+adminAudience+`","sub":"root","scope":"`+adminScope+`","exp":9999999999}`)) + "." + parts[2]}, 401},
		{"signature stripped", []string{"Bearer " + parts[0] + "." + parts[1] + "."}, 401},
		{"expired", []string{"Bearer " + with(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })}, 401},
		{"expired beyond the 30s leeway", []string{"Bearer " + with(func(c jwt.MapClaims) { c["exp"] = now.Add(-31 * time.Second).Unix() })}, 401},
		{"nbf in the future", []string{"Bearer " + with(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })}, 401},
		{"iat in the future", []string{"Bearer " + with(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() })}, 401},
		{"missing exp", []string{"Bearer " + with(func(c jwt.MapClaims) { delete(c, "exp") })}, 401},
		{"exp not a number", []string{"Bearer " + with(func(c jwt.MapClaims) { c["exp"] = "never" })}, 401},
		{"exp null", []string{"Bearer " + with(func(c jwt.MapClaims) { c["exp"] = nil })}, 401},
		{"wrong iss", []string{"Bearer " + with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example.com" })}, 401},
		{"missing iss", []string{"Bearer " + with(func(c jwt.MapClaims) { delete(c, "iss") })}, 401},
		{"wrong aud", []string{"Bearer " + with(func(c jwt.MapClaims) { c["aud"] = "other-api" })}, 401},
		{"missing aud", []string{"Bearer " + with(func(c jwt.MapClaims) { delete(c, "aud") })}, 401},
		{"missing sub", []string{"Bearer " + with(func(c jwt.MapClaims) { delete(c, "sub") })}, 401},
		{"unknown kid", []string{"Bearer " + withKid("k2")}, 401},
		{"kid path traversal", []string{"Bearer " + withKid("../../k1")}, 401},
		{"kid not a string", []string{"Bearer " + withKid(1)}, 401},
		{"no kid", []string{"Bearer " + withKid(nil)}, 401},
		{"garbage", []string{"Bearer not-a-jwt"}, 401},
		{"garbage with dots", []string{"Bearer a.b.c"}, 401},
		{"empty bearer", []string{"Bearer "}, 401},
		{"bearer without token", []string{"Bearer"}, 401},
		{"lowercase bearer, forged token", []string{"bearer " + none}, 401},
		{"no scheme", []string{valid}, 401},
		{"Basic scheme", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("admin:admin"))}, 401},
		{"Token scheme", []string{"Token " + valid}, 401},
		{"no Authorization header", nil, 401},
		{"two Authorization headers, valid first", []string{"Bearer " + valid, "Bearer garbage"}, 401},
		{"two Authorization headers, valid second", []string{"Bearer garbage", "Bearer " + valid}, 401},
		{"two valid Authorization headers", []string{"Bearer " + valid, "Bearer " + valid}, 401},
		{"10 KB token", []string{"Bearer " + valid + strings.Repeat("A", 10<<10)}, 401},
		{"10 KB garbage", []string{"Bearer " + strings.Repeat("eyJ", 10<<10/3)}, 401},
		{"valid token without scope", []string{"Bearer " + with(func(c jwt.MapClaims) { delete(c, "scope") })}, 403},
		{"valid token with another scope", []string{"Bearer " + with(func(c jwt.MapClaims) { c["scope"] = "magic_link:read" })}, 403},
		{"valid token with a scope prefix", []string{"Bearer " + with(func(c jwt.MapClaims) { c["scope"] = "magic_link:writer" })}, 403},
	}
	refused := 0
	for _, c := range cases {
		code, body := a.post(c.auth...)
		if code != c.want {
			t.Errorf("%s: got %d %s, want %d", c.name, code, body, c.want)
			continue
		}
		refused++
		var e struct{ Code, Message, RequestID, Docs string }
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Code != map[int]string{401: "UNAUTHORIZED", 403: "FORBIDDEN"}[c.want] || e.RequestID == "" {
			t.Errorf("%s: body %s is not seed 003's %d envelope", c.name, body, c.want)
		}
		if strings.Contains(body, "token_hash") {
			t.Errorf("%s: a link was returned", c.name)
		}
	}
	t.Logf("admin JWT corpus: %d/%d forged or invalid tokens refused", refused, len(cases))

	// RFC 7235 makes the scheme name case-insensitive, so a valid token
	// under "bearer" is accepted; the forged one above is not.
	if code, body := a.post("bearer " + valid); code != http.StatusOK {
		t.Logf("note: lowercase scheme with a valid token answered %d %s", code, body)
	}
}

func edKey() (ed25519.PublicKey, ed25519.PrivateKey, error) { return ed25519.GenerateKey(rand.Reader) }

// signHS256 builds an HS256 JWT from raw header and payload by hand.
func signHS256(header, payload map[string]any, key []byte) string {
	unsigned := strings.TrimSuffix(rawJWT(header, payload, nil), ".")
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(unsigned))
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
