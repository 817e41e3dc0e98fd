package httpadapter_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/netip"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
)

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	svc, err := magiclink.New(magiclink.Config{Origins: []string{appOrigin, "https://*.example.org"}, Secret: testSecret, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	key := func(k httpadapter.APIKey) []httpadapter.APIKey {
		if k.ID == "" {
			k.ID = "k1"
		}
		if k.Key == "" {
			k.Key = partnerKey
		}
		if k.PortalOrigin == "" {
			k.PortalOrigin = appOrigin
		}
		return []httpadapter.APIKey{k}
	}
	admin := func(f func(*httpadapter.AdminConfig)) *httpadapter.AdminConfig {
		a := &httpadapter.AdminConfig{Key: adminSecret, Methods: []string{"HS256"}, PortalOrigin: appOrigin}
		f(a)
		return a
	}
	tests := []struct {
		name  string
		cfg   httpadapter.Config
		field string
	}{
		{"prefix without slash", httpadapter.Config{Prefix: "auth"}, "Prefix"},
		{"prefix with trailing slash", httpadapter.Config{Prefix: "/auth/"}, "Prefix"},
		{"prefix with pattern", httpadapter.Config{Prefix: "/{x}"}, "Prefix"},
		{"prefix with dot segment", httpadapter.Config{Prefix: "/a/../b"}, "Prefix"},
		{"bad header", httpadapter.Config{ClientIPHeader: "X Bad"}, "TrustedProxies"},
		{"bad proxy prefix", httpadapter.Config{TrustedProxies: []netip.Prefix{{}}}, "TrustedProxies"},
		{"API key portal not allowed", httpadapter.Config{APIKeys: key(httpadapter.APIKey{PortalOrigin: "https://evil.example.net"})}, "APIKeys[0].PortalOrigin"},
		{"API key portal is a wildcard", httpadapter.Config{APIKeys: key(httpadapter.APIKey{PortalOrigin: "https://*.example.org"})}, "APIKeys[0].PortalOrigin"},
		{"API key too short", httpadapter.Config{APIKeys: key(httpadapter.APIKey{Key: "short"})}, "APIKeys[0].Key"},
		{"API key without ID", httpadapter.Config{APIKeys: []httpadapter.APIKey{{Key: partnerKey, PortalOrigin: appOrigin}}}, "APIKeys[0].ID"},
		{"API key bad next", httpadapter.Config{APIKeys: key(httpadapter.APIKey{Next: "//evil"})}, "APIKeys[0].Next"},
		{"duplicate API key IDs", httpadapter.Config{APIKeys: append(key(httpadapter.APIKey{}), key(httpadapter.APIKey{Key: partnerKey + "x"})...)}, "APIKeys[1].ID"},
		{"API key org with the reserved prefix", httpadapter.Config{APIKeys: key(httpadapter.APIKey{OrgID: "apikey:other"})}, "APIKeys[0].OrgID"},
		{"API key org beside the public one", httpadapter.Config{APIKeys: key(httpadapter.APIKey{OrgID: "org1", DangerouslySharePublicOrganization: true})}, "APIKeys[0].OrgID"},
		{"duplicate API key values", httpadapter.Config{APIKeys: append(key(httpadapter.APIKey{}), key(httpadapter.APIKey{ID: "k2"})...)}, "APIKeys[1].Key"},
		{"admin without methods", httpadapter.Config{Admin: admin(func(a *httpadapter.AdminConfig) { a.Methods = nil })}, "Admin.Methods"},
		{"admin alg none", httpadapter.Config{Admin: admin(func(a *httpadapter.AdminConfig) { a.Methods = []string{"none"} })}, "Admin.Methods"},
		{"admin unknown alg", httpadapter.Config{Admin: admin(func(a *httpadapter.AdminConfig) { a.Methods = []string{"HS1"} })}, "Admin.Methods"},
		{"admin without key", httpadapter.Config{Admin: admin(func(a *httpadapter.AdminConfig) { a.Key = nil })}, "Admin.Keys"},
		{"admin short HMAC key", httpadapter.Config{Admin: admin(func(a *httpadapter.AdminConfig) { a.Key = []byte("short") })}, "Admin.Key"},
		{"admin key type mismatch", httpadapter.Config{Admin: admin(func(a *httpadapter.AdminConfig) { a.Key = pub })}, "Admin.Key"},
		{"admin kid key mismatch", httpadapter.Config{Admin: admin(func(a *httpadapter.AdminConfig) { a.Keys = map[string]any{"k": "a string"} })}, `Admin.Keys["k"]`},
		{"admin leeway too long", httpadapter.Config{Admin: admin(func(a *httpadapter.AdminConfig) { a.Leeway = 31e9 })}, "Admin.Leeway"},
		{"admin portal not allowed", httpadapter.Config{Admin: admin(func(a *httpadapter.AdminConfig) { a.PortalOrigin = "https://x.example.net" })}, "Admin.PortalOrigin"},
		{"admin portal missing", httpadapter.Config{Admin: admin(func(a *httpadapter.AdminConfig) { a.PortalOrigin = "" })}, "Admin.PortalOrigin"},
		{"admin bad next", httpadapter.Config{Admin: admin(func(a *httpadapter.AdminConfig) { a.DefaultNext = "https://evil.example.net" })}, "Admin.DefaultNext"},
		{"admin scope with space", httpadapter.Config{Admin: admin(func(a *httpadapter.AdminConfig) { a.Scope = "a b" })}, "Admin.Scope"},
		{"docs URL relative", httpadapter.Config{DocsBaseURL: "/errors"}, "DocsBaseURL"},
		{"cookie name invalid", httpadapter.Config{SessionCookie: "a b"}, "SessionCookie"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, err := httpadapter.New(svc, tt.cfg)
			if err == nil || h != nil {
				t.Fatalf("New accepted %s", tt.name)
			}
			if !errors.Is(err, magiclink.ErrInvalidConfig) {
				t.Fatalf("error %v does not match ErrInvalidConfig", err)
			}
			var e *magiclink.Error
			if !errors.As(err, &e) || e.Field != tt.field {
				t.Fatalf("error field = %q, want %q (%v)", e.Field, tt.field, err)
			}
		})
	}
	t.Run("nil service", func(t *testing.T) {
		t.Parallel()
		if _, err := httpadapter.New(nil, httpadapter.Config{}); !errors.Is(err, magiclink.ErrInvalidConfig) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("zero config is valid", func(t *testing.T) {
		t.Parallel()
		if _, err := httpadapter.New(svc, httpadapter.Config{}); err != nil {
			t.Fatal(err)
		}
	})
}
