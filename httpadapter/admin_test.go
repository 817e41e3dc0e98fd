package httpadapter_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

const adminPath = "/admin/magic_link"

type testKeys struct {
	rsa   *rsa.PrivateKey
	ec    *ecdsa.PrivateKey
	ed    ed25519.PrivateKey
	rsaPE []byte // the RSA public key as PEM, as an attacker could fetch it
}

var loadKeys = sync.OnceValue(func() *testKeys {
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&r.PublicKey)
	if err != nil {
		panic(err)
	}
	return &testKeys{rsa: r, ec: ec, ed: ed, rsaPE: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})}
})

// claims returns valid admin claims at the test clock's start.
func claims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss": "https://issuer.example.com", "aud": "magiclink-admin", "sub": "ops-user-1",
		"iat": t0.Unix(), "exp": t0.Add(5 * time.Minute).Unix(),
	}
}

func sign(t *testing.T, m jwt.SigningMethod, key any, c jwt.MapClaims, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hs(t *testing.T, c jwt.MapClaims) string {
	return sign(t, jwt.SigningMethodHS256, adminSecret, c, "")
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
			continue
		}
		c[kv[i].(string)] = kv[i+1]
	}
	return c
}

func adminReq(token, body string, hdr ...string) *http.Request {
	if token != "" {
		hdr = append([]string{"Authorization", "Bearer " + token}, hdr...)
	}
	return jsonReq(adminPath, body, hdr...)
}

// adminResult checks the seed-003 error body for status.
func adminResult(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) map[string]any {
	t.Helper()
	wantStatus(t, rec, status)
	m := decode(t, rec)
	if m["code"] != code {
		t.Fatalf("code = %v, want %s: %s", m["code"], code, rec.Body)
	}
	if m["requestId"] != rec.Header().Get("X-Request-Id") || m["requestId"] == "" {
		t.Fatalf("requestId %v != X-Request-Id %q", m["requestId"], rec.Header().Get("X-Request-Id"))
	}
	if m["docs"] != httpadapter.DefaultDocsBaseURL+"/"+code {
		t.Fatalf("docs = %v", m["docs"])
	}
	if s, _ := m["message"].(string); s == "" {
		t.Fatalf("message empty: %s", rec.Body)
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("401 without a Bearer challenge")
	}
	if (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) && rec.Header().Get("Retry-After") == "" {
		t.Fatalf("%d without Retry-After", status)
	}
	return m
}

func (e *env) putCustomer(id, email, org string) {
	e.t.Helper()
	if err := e.store.PutCustomer(context.Background(), &store.Customer{ID: id, Email: email, OrgID: org}); err != nil {
		e.t.Fatal(err)
	}
}

// The request schema of seed 003 with its own example value.
func TestAdminMagicLinkSeedExample(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.putCustomer("cus_<id>", "customer@example.com", "org_energy")
	rec := e.do(adminReq(hs(t, claims()), `{"customerId":"cus_<id>"}`, "X-Request-Id", "37a04f8f-e791-491c-81e1-86cd304649bb"))
	wantStatus(t, rec, http.StatusOK)
	m := decode(t, rec)
	if m["object"] != "magic_link" || len(m) != 2 {
		t.Fatalf("body = %s", rec.Body)
	}
	link := m["link"].(string)
	if !strings.HasPrefix(link, portalOrigin+"/auth/verify?token_hash=") || !strings.HasSuffix(link, "&type=magiclink&next=/overview") {
		t.Fatalf("link = %q", link)
	}
	if rec.Header().Get("X-Request-Id") != "37a04f8f-e791-491c-81e1-86cd304649bb" {
		t.Fatal("X-Request-Id not kept")
	}
	id, err := e.svc.Verify(context.Background(), tokenOf(t, link))
	if err != nil || id.Email != "customer@example.com" || id.OrgID != "org_energy" || id.Next != "/overview" {
		t.Fatalf("Verify = %+v, %v", id, err)
	}
}

func TestAdminJWTCorpus(t *testing.T) {
	t.Parallel()
	k := loadKeys()
	e := newEnv(t)
	e.putCustomer("cus_1", "c1@example.com", "")
	body := `{"customerId":"cus_1"}`
	now := t0
	tests := []struct {
		name  string
		auth  string // full Authorization header; "" for none
		token string // used as Bearer when auth is ""
		ok    bool
	}{
		{"valid", "", hs(t, claims()), true},
		{"expired within leeway", "", hs(t, with(claims(), "exp", now.Add(-5*time.Second).Unix())), true},
		{"no token", "", "", false},
		{"basic scheme", "Basic " + "YWRtaW46YWRtaW4=", "", false},
		{"bearer without token", "Bearer ", "", false},
		{"token without scheme", hs(t, claims()), "", false},
		{"alg none", "", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(), ""), false},
		{"HS256 with the RSA public key as secret", "", sign(t, jwt.SigningMethodHS256, k.rsaPE, claims(), ""), false},
		{"RS256 though only HS256 is allowed", "", sign(t, jwt.SigningMethodRS256, k.rsa, claims(), ""), false},
		{"HS256 with another secret", "", sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), claims(), ""), false},
		{"expired", "", hs(t, with(claims(), "exp", now.Add(-time.Minute).Unix())), false},
		{"not yet valid", "", hs(t, with(claims(), "nbf", now.Add(time.Minute).Unix())), false},
		{"issued in the future", "", hs(t, with(claims(), "iat", now.Add(time.Hour).Unix())), false},
		{"missing exp", "", hs(t, with(claims(), "exp", nil)), false},
		{"wrong issuer", "", hs(t, with(claims(), "iss", "https://evil.example.net")), false},
		{"missing issuer", "", hs(t, with(claims(), "iss", nil)), false},
		{"wrong audience", "", hs(t, with(claims(), "aud", "someone-else")), false},
		{"audience array without ours", "", hs(t, with(claims(), "aud", []string{"a", "b"})), false},
		{"missing subject", "", hs(t, with(claims(), "sub", nil)), false},
		{"garbage", "", "not.a.jwt", false},
		{"garbage base64", "", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.AAAA", false},
		{"huge", "", strings.Repeat("a", 9000), false},
		{"tampered payload", "", tamper(hs(t, claims())), false},
	}
	t.Run("repeated Authorization header", func(t *testing.T) {
		for _, pair := range [][2]string{{hs(t, claims()), "garbage"}, {"garbage", hs(t, claims())}, {hs(t, claims()), hs(t, claims())}} {
			r := jsonReq(adminPath, body, "Authorization", "Bearer "+pair[0], "Authorization", "Bearer "+pair[1])
			adminResult(t, e.do(r), http.StatusUnauthorized, "UNAUTHORIZED")
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r *http.Request
			switch {
			case tt.auth != "":
				r = jsonReq(adminPath, body, "Authorization", tt.auth)
			default:
				r = adminReq(tt.token, body)
			}
			rec := e.do(r)
			if tt.ok {
				wantStatus(t, rec, http.StatusOK)
				return
			}
			adminResult(t, rec, http.StatusUnauthorized, "UNAUTHORIZED")
		})
	}
}

// tamper changes the subject without re-signing.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	parts[1] = strings.TrimRight(parts[1], "=")
	c := []byte(parts[1])
	c[len(c)/2] ^= 1
	parts[1] = string(c)
	return strings.Join(parts, ".")
}

func TestAdminKeysByKid(t *testing.T) {
	t.Parallel()
	k := loadKeys()
	e := newEnv(t, withHTTP(func(c *httpadapter.Config) {
		c.Admin = &httpadapter.AdminConfig{
			Keys: map[string]any{
				"rsa-1": &k.rsa.PublicKey, "ec-1": &k.ec.PublicKey, "ed-1": k.ed.Public().(ed25519.PublicKey),
				"hs-1": adminSecret,
			},
			Methods:      []string{"RS256", "ES256", "EdDSA", "HS256"},
			PortalOrigin: portalOrigin,
		}
	}))
	e.putCustomer("cus_1", "c1@example.com", "")
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"RS256", sign(t, jwt.SigningMethodRS256, k.rsa, claims(), "rsa-1"), true},
		{"ES256", sign(t, jwt.SigningMethodES256, k.ec, claims(), "ec-1"), true},
		{"EdDSA", sign(t, jwt.SigningMethodEdDSA, k.ed, claims(), "ed-1"), true},
		{"HS256", sign(t, jwt.SigningMethodHS256, adminSecret, claims(), "hs-1"), true},
		{"unknown kid", sign(t, jwt.SigningMethodRS256, k.rsa, claims(), "rsa-2"), false},
		{"no kid", sign(t, jwt.SigningMethodRS256, k.rsa, claims(), ""), false},
		{"kid of another key type", sign(t, jwt.SigningMethodRS256, k.rsa, claims(), "ed-1"), false},
		// Algorithm confusion: HS256 keyed with the RSA public key's bytes,
		// pointing at the RSA kid. The RSA key cannot act as an HMAC secret.
		{"HS256 with the RSA key's kid", sign(t, jwt.SigningMethodHS256, k.rsaPE, claims(), "rsa-1"), false},
		{"PS256 not allowed", sign(t, jwt.SigningMethodPS256, k.rsa, claims(), "rsa-1"), false},
		{"HS256 with the Ed25519 key's bytes and kid", sign(t, jwt.SigningMethodHS256, []byte(k.ed.Public().(ed25519.PublicKey)), claims(), "ed-1"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do(adminReq(tt.token, `{"customerId":"cus_1"}`))
			if tt.ok {
				wantStatus(t, rec, http.StatusOK)
				return
			}
			adminResult(t, rec, http.StatusUnauthorized, "UNAUTHORIZED")
		})
	}
}

func TestAdminScope(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withHTTP(func(c *httpadapter.Config) { c.Admin.Scope = "magiclink:admin" }))
	e.putCustomer("cus_1", "c1@example.com", "")
	tests := []struct {
		name   string
		c      jwt.MapClaims
		status int
	}{
		{"scope string", with(claims(), "scope", "read magiclink:admin write"), 200},
		{"scp array", with(claims(), "scp", []string{"read", "magiclink:admin"}), 200},
		{"scopes array", with(claims(), "scopes", []string{"magiclink:admin"}), 200},
		{"no scope", claims(), 403},
		{"other scope", with(claims(), "scope", "magiclink:read"), 403},
		{"prefix only", with(claims(), "scope", "magiclink:administrator"), 403},
		{"scope wrong type", with(claims(), "scope", 5), 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do(adminReq(hs(t, tt.c), `{"customerId":"cus_1"}`))
			if tt.status == 200 {
				wantStatus(t, rec, 200)
				return
			}
			adminResult(t, rec, http.StatusForbidden, "FORBIDDEN")
		})
	}
}

func TestAdminBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.putCustomer("cus_1", "c1@example.com", "")
	tok := hs(t, claims())
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		code        string
	}{
		{"unknown customer", "application/json", `{"customerId":"cus_unknown"}`, 404, "NOT_FOUND"},
		{"missing customerId", "application/json", `{}`, 400, "BAD_REQUEST"},
		{"empty customerId", "application/json", `{"customerId":""}`, 400, "BAD_REQUEST"},
		{"malformed JSON", "application/json", `{"customerId":`, 400, "BAD_REQUEST"},
		{"trailing data", "application/json", `{"customerId":"cus_1"}]`, 400, "BAD_REQUEST"},
		{"deeply nested", "application/json", strings.Repeat("[", 10000), 400, "BAD_REQUEST"},
		{"not an object", "application/json", `"cus_1"`, 400, "BAD_REQUEST"},
		{"number", "application/json", `{"customerId":1}`, 422, "UNPROCESSABLE_ENTITY"},
		{"null", "application/json", `{"customerId":null}`, 422, "UNPROCESSABLE_ENTITY"},
		{"array", "application/json", `{"customerId":["cus_1"]}`, 422, "UNPROCESSABLE_ENTITY"},
		{"too long", "application/json", `{"customerId":"` + strings.Repeat("c", 256) + `"}`, 422, "UNPROCESSABLE_ENTITY"},
		{"control characters", "application/json", `{"customerId":"cus_1\r\nX: y"}`, 422, "UNPROCESSABLE_ENTITY"},
		{"NUL", "application/json", `{"customerId":"cus_1\u0000"}`, 422, "UNPROCESSABLE_ENTITY"},
		{"huge string", "application/json", `{"customerId":"` + strings.Repeat("c", 60000) + `"}`, 422, "UNPROCESSABLE_ENTITY"},
		{"too large", "application/json", `{"customerId":"` + strings.Repeat("c", 65*1024) + `"}`, 413, "PAYLOAD_TOO_LARGE"},
		{"wrong content type", "text/plain", `{"customerId":"cus_1"}`, 415, "UNSUPPORTED_MEDIA_TYPE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do(newReq(http.MethodPost, adminPath, tt.contentType, tt.body, "Authorization", "Bearer "+tok))
			adminResult(t, rec, tt.status, tt.code)
			if strings.Contains(rec.Body.String(), "X: y") {
				t.Fatalf("error echoes input: %s", rec.Body)
			}
		})
	}
}

func TestAdminEnvelopeOnEveryError(t *testing.T) {
	t.Parallel()
	t.Run("405", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead} {
			rec := e.do(newReq(m, adminPath, "", ""))
			wantStatus(t, rec, http.StatusMethodNotAllowed)
			if rec.Header().Get("Allow") != "OPTIONS, POST" {
				t.Fatalf("Allow = %q", rec.Header().Get("Allow"))
			}
			if m != http.MethodHead {
				adminResult(t, rec, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
			}
		}
	})
	t.Run("429 per subject", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, withLimits(magiclink.Limits{AdminPerSubject: ratelimit.Rate{Limit: 1, Period: time.Minute, Burst: 1}}))
		e.putCustomer("cus_1", "c1@example.com", "")
		wantStatus(t, e.do(adminReq(hs(t, claims()), `{"customerId":"cus_1"}`)), 200)
		adminResult(t, e.do(adminReq(hs(t, claims()), `{"customerId":"cus_1"}`)), http.StatusTooManyRequests, "TOO_MANY_REQUESTS")
		// Another subject has its own budget.
		wantStatus(t, e.do(adminReq(hs(t, with(claims(), "sub", "ops-user-2")), `{"customerId":"cus_1"}`)), 200)
	})
	t.Run("503", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.putCustomer("cus_1", "c1@example.com", "")
		e.store.down.Store(true)
		adminResult(t, e.do(adminReq(hs(t, claims()), `{"customerId":"cus_1"}`)), http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	})
	t.Run("not configured", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, withHTTP(func(c *httpadapter.Config) { c.Admin = nil }))
		adminResult(t, e.do(adminReq(hs(t, claims()), `{"customerId":"cus_1"}`)), http.StatusUnauthorized, "UNAUTHORIZED")
	})
	t.Run("custom docs base", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, withHTTP(func(c *httpadapter.Config) { c.DocsBaseURL = "https://docs.example.com/api-references/errors/" }))
		m := decode(t, e.do(adminReq("", `{}`)))
		if m["docs"] != "https://docs.example.com/api-references/errors/UNAUTHORIZED" {
			t.Fatalf("docs = %v", m["docs"])
		}
	})
}

// hsRaw signs header and payload, given as raw JSON text so that a test can
// write what no JWT library would (a member twice, a date as a string),
// with the default environment's HS256 admin secret.
func hsRaw(header, payload string) string {
	enc := base64.RawURLEncoding
	unsigned := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, adminSecret)
	mac.Write([]byte(unsigned))
	return unsigned + "." + enc.EncodeToString(mac.Sum(nil))
}

// Validly signed tokens that golang-jwt alone accepts are refused: an
// unknown crit header (RFC 7515 §4.1.11), dates as strings, a kid that names
// no configured key, and a member twice (Go would keep the last one, while
// a proxy or log reading the first sees another subject).
func TestAdminJOSERules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.putCustomer("cus_1", "c1@example.com", "")
	iat, exp := t0.Unix(), t0.Add(5*time.Minute).Unix()
	payload := func(extra string) string {
		return fmt.Sprintf(`{"iss":"https://issuer.example.com","aud":"magiclink-admin","sub":"ops-user-1","iat":%d,"exp":%d%s}`, iat, exp, extra)
	}
	const hdr = `{"alg":"HS256","typ":"JWT"}`
	tests := []struct {
		name   string
		token  string
		status int
	}{
		{"control: raw token", hsRaw(hdr, payload("")), 200},
		{"crit header naming an extension", hsRaw(`{"alg":"HS256","typ":"JWT","crit":["exp"]}`, payload("")), 401},
		{"crit header, empty", hsRaw(`{"alg":"HS256","typ":"JWT","crit":[]}`, payload("")), 401},
		{"exp as a string", hsRaw(hdr, fmt.Sprintf(`{"iss":"https://issuer.example.com","aud":"magiclink-admin","sub":"ops-user-1","iat":%d,"exp":"%d"}`, iat, exp)), 401},
		{"iat as a string", hsRaw(hdr, fmt.Sprintf(`{"iss":"https://issuer.example.com","aud":"magiclink-admin","sub":"ops-user-1","iat":"%d","exp":%d}`, iat, exp)), 401},
		{"nbf as a string", hsRaw(hdr, payload(fmt.Sprintf(`,"nbf":"%d"`, iat))), 401},
		{"kid naming no configured key", hsRaw(`{"alg":"HS256","typ":"JWT","kid":"other"}`, payload("")), 401},
		{"sub twice", hsRaw(hdr, payload(`,"sub":"root"`)), 401},
		{"exp twice", hsRaw(hdr, payload(fmt.Sprintf(`,"exp":%d`, exp+3600))), 401},
		{"alg twice in the header", hsRaw(`{"alg":"none","typ":"JWT","alg":"HS256"}`, payload("")), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do(adminReq(tt.token, `{"customerId":"cus_1"}`))
			if tt.status == 200 {
				wantStatus(t, rec, 200)
				return
			}
			adminResult(t, rec, http.StatusUnauthorized, "UNAUTHORIZED")
		})
	}
}
