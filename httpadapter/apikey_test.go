package httpadapter_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

const createPath = "/api/v1/Auth/CreateMagicLink"

// seed002Body is the example request body of seed 002, verbatim except for
// the address, which the published document shows obfuscated as
// "[email protected]".
const seed002Body = `{
"firstName": "Kaan",
"lastName": "KIVIRCIK",
"email": "kaan@example.com",
"phone": "+905555555555",
"languageCode": "tr-TR",
"mailPermission": true
}`

func partnerReq(body string, hdr ...string) *http.Request {
	return jsonReq(createPath, body, append([]string{"X-Api-Key", partnerKey}, hdr...)...)
}

// partnerResult checks the seed-002 envelope and returns Data.
func partnerResult(t *testing.T, rec *httptest.ResponseRecorder, status int) map[string]any {
	t.Helper()
	wantStatus(t, rec, status)
	m := decode(t, rec)
	if len(m) != 4 {
		t.Fatalf("envelope has %d members, want Data, Success, Message, IsResourceKey: %s", len(m), rec.Body)
	}
	if status == http.StatusOK {
		if m["Success"] != true || m["Message"] != nil || m["IsResourceKey"] != true {
			t.Fatalf("success envelope wrong: %s", rec.Body)
		}
		data, _ := m["Data"].(map[string]any)
		if data == nil {
			t.Fatalf("Data missing: %s", rec.Body)
		}
		return data
	}
	if m["Success"] != false || m["Data"] != nil || m["IsResourceKey"] != false {
		t.Fatalf("error envelope wrong: %s", rec.Body)
	}
	if s, _ := m["Message"].(string); s == "" {
		t.Fatalf("error Message empty: %s", rec.Body)
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		if rec.Header().Get("Retry-After") == "" {
			t.Fatalf("%d without Retry-After", status)
		}
	}
	return nil
}

func tokenOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token_hash")
}

func TestCreateMagicLinkSeedFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	// First request: a new user, its SecretKey and a link.
	data := partnerResult(t, e.do(partnerReq(seed002Body)), http.StatusOK)
	secret, _ := data["SecretKey"].(string)
	raw, err := base64.StdEncoding.DecodeString(secret)
	if err != nil || len(raw) != 32 {
		t.Fatalf("SecretKey %q is not 32 bytes of base64: %v", secret, err)
	}
	link, _ := data["MagicLink"].(string)
	if !strings.HasPrefix(link, portalOrigin+"/auth/verify?token_hash=") {
		t.Fatalf("MagicLink = %q, want one to the key's portal", link)
	}
	u, err := e.store.UserByEmail(context.Background(), partnerOrg, "kaan@example.com")
	if err != nil {
		t.Fatalf("user not stored: %v", err)
	}
	if !strings.HasPrefix(u.ID, "usr_") || u.FirstName != "Kaan" || u.LastName != "KIVIRCIK" || u.Phone != "+905555555555" ||
		u.LanguageCode != "tr-TR" || !u.MailPermission {
		t.Fatalf("stored user = %+v", u)
	}
	if u.SecretKeyDigest != store.Digest(sha256.Sum256([]byte(secret))) {
		t.Fatal("stored digest is not SHA-256 of the SecretKey")
	}
	// The link signs in that user, in the key's organisation.
	id, err := e.svc.Verify(context.Background(), tokenOf(t, link))
	if err != nil || id.UserID != u.ID || id.OrgID != partnerOrg {
		t.Fatalf("Verify = %+v, %v", id, err)
	}

	// Without the key, a known address is a conflict.
	partnerResult(t, e.do(partnerReq(seed002Body)), http.StatusConflict)

	// With it: SecretKey null and a fresh link that lives 3 minutes.
	rec := e.do(partnerReq(seed002Body, "X-User-Secret-Key", secret))
	data = partnerResult(t, rec, http.StatusOK)
	if v, present := data["SecretKey"]; !present || v != nil {
		t.Fatalf("SecretKey = %v, want null", v)
	}
	if !strings.Contains(rec.Body.String(), `"SecretKey":null`) {
		t.Fatalf("SecretKey not written as null: %s", rec.Body)
	}
	link2, _ := data["MagicLink"].(string)
	if link2 == link {
		t.Fatal("the same link twice")
	}
	e.clock.Advance(3*time.Minute + time.Second)
	if _, err := e.svc.Verify(context.Background(), tokenOf(t, link2)); err == nil {
		t.Fatal("the link outlived 3 minutes")
	}
}

func TestCreateMagicLinkAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := partnerResult(t, e.do(partnerReq(seed002Body)), http.StatusOK)
	secret := data["SecretKey"].(string)
	other := strings.Replace(seed002Body, "kaan@example.com", "other@example.com", 1)

	tests := []struct {
		name string
		req  *http.Request
	}{
		{"no API key", jsonReq(createPath, seed002Body)},
		{"unknown API key", jsonReq(createPath, seed002Body, "X-Api-Key", "pk_live_wrong_0123456789")},
		{"API key prefix", jsonReq(createPath, seed002Body, "X-Api-Key", partnerKey[:10])},
		{"API key twice", jsonReq(createPath, seed002Body, "X-Api-Key", partnerKey, "X-Api-Key", partnerKey)},
		{"secret key twice", partnerReq(seed002Body, "X-User-Secret-Key", secret, "X-User-Secret-Key", secret)},
		{"wrong secret key", partnerReq(seed002Body, "X-User-Secret-Key", base64.StdEncoding.EncodeToString(make([]byte, 32)))},
		{"secret key of another address", partnerReq(other, "X-User-Secret-Key", secret)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			partnerResult(t, e.do(tt.req), http.StatusUnauthorized)
		})
	}
}

func TestCreateMagicLinkValidation(t *testing.T) {
	t.Parallel()
	replace := func(old, new string) string { return strings.Replace(seed002Body, old, new, 1) }
	drop := func(member string) string {
		lines := strings.Split(seed002Body, "\n")
		var out []string
		for _, l := range lines {
			if !strings.HasPrefix(l, `"`+member+`"`) {
				out = append(out, l)
			}
		}
		s := strings.Join(out, "\n")
		return strings.Replace(s, ",\n}", "\n}", 1)
	}
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
	}{
		{"missing firstName", "application/json", drop("firstName"), 400},
		{"missing lastName", "application/json", drop("lastName"), 400},
		{"missing email", "application/json", drop("email"), 400},
		{"missing phone", "application/json", drop("phone"), 400},
		{"missing languageCode", "application/json", drop("languageCode"), 400},
		{"missing mailPermission", "application/json", drop("mailPermission"), 400},
		{"mailPermission string", "application/json", replace("true", `"true"`), 400},
		{"mailPermission null", "application/json", replace("true", `null`), 400},
		{"firstName number", "application/json", replace(`"Kaan"`, `5`), 400},
		{"firstName empty", "application/json", replace(`"Kaan"`, `"  "`), 400},
		{"firstName too long", "application/json", replace(`"Kaan"`, `"`+strings.Repeat("ä", 101)+`"`), 400},
		{"firstName control", "application/json", replace(`"Kaan"`, `"Ka\u0000an"`), 400},
		{"lastName CRLF", "application/json", replace(`"KIVIRCIK"`, `"K\r\nBcc: x@example.net"`), 400},
		{"firstName trailing CRLF", "application/json", replace(`"Kaan"`, `"Kaan\r\n"`), 400},
		{"firstName line separator", "application/json", replace(`"Kaan"`, `"Ka\u2028an"`), 400},
		{"firstName paragraph separator", "application/json", replace(`"Kaan"`, `"Kaan\u2029"`), 400},
		{"firstName NEL", "application/json", replace(`"Kaan"`, `"Ka\u0085an"`), 400},
		{"firstName bidi override", "application/json", replace(`"Kaan"`, `"\u202eKaan"`), 400},
		{"email invalid", "application/json", replace("kaan@example.com", "kaan"), 400},
		{"email CRLF", "application/json", replace("kaan@example.com", `kaan@example.com\r\nBcc: x@example.net`), 400},
		{"phone without plus", "application/json", replace("+905555555555", "905555555555"), 400},
		{"phone too short", "application/json", replace("+905555555555", "+12345"), 400},
		{"phone too long", "application/json", replace("+905555555555", "+1234567890123456"), 400},
		{"phone leading zero", "application/json", replace("+905555555555", "+0905555555"), 400},
		{"phone letters", "application/json", replace("+905555555555", "+90555abc5555"), 400},
		{"languageCode invalid", "application/json", replace("tr-TR", "tr_TR"), 400},
		{"languageCode empty", "application/json", replace(`"tr-TR"`, `""`), 400},
		{"malformed JSON", "application/json", `{"firstName":`, 400},
		{"trailing data", "application/json", seed002Body + `{}`, 400},
		{"deeply nested", "application/json", strings.Repeat("[", 10000), 400},
		{"array", "application/json", `[]`, 400},
		{"too large", "application/json", `{"pad":"` + strings.Repeat("x", 65*1024) + `"}`, 413},
		{"wrong content type", "text/plain", seed002Body, 415},
		{"no content type", "", seed002Body, 415},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			rec := e.do(newReq(http.MethodPost, createPath, tt.contentType, tt.body, "X-Api-Key", partnerKey))
			partnerResult(t, rec, tt.status)
			if strings.Contains(rec.Body.String(), "x@example.net") {
				t.Fatalf("error echoes input: %s", rec.Body)
			}
			if _, err := e.store.UserByEmail(context.Background(), partnerOrg, "kaan@example.com"); err == nil {
				t.Fatal("a user was created from an invalid request")
			}
		})
	}
}

func TestCreateMagicLinkEnvelopeOnEveryError(t *testing.T) {
	t.Parallel()
	t.Run("405", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		rec := e.do(newReq(http.MethodGet, createPath, "", "", "X-Api-Key", partnerKey))
		partnerResult(t, rec, http.StatusMethodNotAllowed)
		if rec.Header().Get("Allow") != "OPTIONS, POST" {
			t.Fatalf("Allow = %q", rec.Header().Get("Allow"))
		}
	})
	t.Run("429", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, withLimits(magiclink.Limits{CreatePerAPIKey: ratelimit.Rate{Limit: 1, Period: time.Minute, Burst: 1}}))
		partnerResult(t, e.do(partnerReq(seed002Body)), http.StatusOK)
		rec := e.do(partnerReq(strings.Replace(seed002Body, "kaan@", "kaan2@", 1)))
		partnerResult(t, rec, http.StatusTooManyRequests)
	})
	t.Run("503", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.store.down.Store(true)
		partnerResult(t, e.do(partnerReq(seed002Body)), http.StatusServiceUnavailable)
	})
}

// Each API key works in its own organisation: the same address is a
// separate user per key, and one org's SecretKey is no good in another.
func TestCreateMagicLinkOrganisations(t *testing.T) {
	t.Parallel()
	const otherKey = "pk_live_other_org_0123456789"
	e := newEnv(t, withHTTP(func(c *httpadapter.Config) {
		c.APIKeys = append(c.APIKeys, httpadapter.APIKey{ID: "partner-2", Key: otherKey, OrgID: "org_other", PortalOrigin: appOrigin, Next: "/start"})
	}))
	first := partnerResult(t, e.do(partnerReq(seed002Body)), http.StatusOK)
	rec := e.do(jsonReq(createPath, seed002Body, "X-Api-Key", otherKey))
	second := partnerResult(t, rec, http.StatusOK)
	if first["SecretKey"] == second["SecretKey"] {
		t.Fatal("two organisations share a SecretKey")
	}
	if link := second["MagicLink"].(string); !strings.HasPrefix(link, appOrigin+"/auth/verify?") || !strings.HasSuffix(link, "next=/start") {
		t.Fatalf("link = %q, want the second key's portal and next", link)
	}
	partnerResult(t, e.do(jsonReq(createPath, seed002Body, "X-Api-Key", otherKey, "X-User-Secret-Key", first["SecretKey"].(string))), http.StatusUnauthorized)
}
