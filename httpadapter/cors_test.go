package httpadapter_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
)

const spaOrigin = "https://spa.example.net"

func withCORS(c *httpadapter.CORSConfig) envOption {
	return withHTTP(func(h *httpadapter.Config) { h.CORS = c })
}

// preflight sends the OPTIONS request a browser sends before a JSON POST.
func preflight(e *env, path, origin string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodOptions, path, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", http.MethodPost)
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, req)
	return rec
}

func TestCORSPreflight(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withCORS(&httpadapter.CORSConfig{Origins: []string{spaOrigin, "https://*.apps.example.org"}, AllowCredentials: true}))
	cases := []struct {
		name, path, origin string
		allowed            bool
	}{
		{"listed origin", httpadapter.PathSendMagicLink, spaOrigin, true},
		{"wildcard subdomain", httpadapter.PathVerify, "https://team.apps.example.org", true},
		{"foreign origin", httpadapter.PathSendMagicLink, "https://evil.example", false},
		{"lookalike suffix", httpadapter.PathSendMagicLink, "https://spa.example.net.evil.example", false},
		{"bare wildcard domain", httpadapter.PathSendMagicLink, "https://apps.example.org", false},
		{"null origin", httpadapter.PathSendMagicLink, "null", false},
		{"partner endpoint stays server-only", httpadapter.PathCreateMagicLink, spaOrigin, false},
		{"admin endpoint stays server-only", httpadapter.PathAdminMagicLink, spaOrigin, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rec := preflight(e, c.path, c.origin)
			got := rec.Header().Get("Access-Control-Allow-Origin")
			if c.allowed {
				if rec.Code != http.StatusNoContent || got != c.origin {
					t.Fatalf("preflight = %d, Allow-Origin %q; want 204 and %q", rec.Code, got, c.origin)
				}
				if rec.Header().Get("Access-Control-Allow-Credentials") != "true" {
					t.Error("credentials not allowed although configured")
				}
				if m := rec.Header().Get("Access-Control-Allow-Methods"); !strings.Contains(m, http.MethodPost) {
					t.Errorf("Allow-Methods = %q, want POST in it", m)
				}
				if rec.Header().Get("Access-Control-Max-Age") != "600" {
					t.Errorf("Max-Age = %q, want the 10-minute default", rec.Header().Get("Access-Control-Max-Age"))
				}
				return
			}
			if got != "" {
				t.Fatalf("preflight from %s got Allow-Origin %q", c.origin, got)
			}
		})
	}
}

// TestCORSActualRequest: the POST after the preflight carries the CORS
// headers for an allowed origin only, and a foreign origin's request is
// still served (CORS only tells the browser whether to show the answer).
func TestCORSActualRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withCORS(&httpadapter.CORSConfig{Origins: []string{spaOrigin}}))
	body := `{"email":"ada@example.com","callback_origin":"` + appOrigin + `"}`
	for _, c := range []struct {
		origin, want string
	}{{spaOrigin, spaOrigin}, {"https://evil.example", ""}} {
		req := jsonReq(httpadapter.PathSendMagicLink, body, "Origin", c.origin)
		rec := e.do(req)
		wantStatus(t, rec, http.StatusOK)
		if got := rec.Header().Get("Access-Control-Allow-Origin"); got != c.want {
			t.Errorf("Origin %s: Allow-Origin = %q, want %q", c.origin, got, c.want)
		}
		if rec.Header().Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("Origin %s: credentials allowed although not configured", c.origin)
		}
		if v := rec.Header().Values("Vary"); !strings.Contains(strings.Join(v, ","), "Origin") {
			t.Errorf("Vary = %v, want Origin so caches keep answers apart", v)
		}
	}
}

// TestCORSOffByDefault: without Config.CORS no answer carries CORS headers.
func TestCORSOffByDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := preflight(e, httpadapter.PathSendMagicLink, appOrigin)
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("Allow-Origin %q without CORS configured", got)
	}
}

// TestCORSDefaultsToServiceOrigins: empty CORS.Origins means the callback
// allowlist.
func TestCORSDefaultsToServiceOrigins(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withCORS(&httpadapter.CORSConfig{}))
	if got := preflight(e, httpadapter.PathSendMagicLink, appOrigin).Header().Get("Access-Control-Allow-Origin"); got != appOrigin {
		t.Fatalf("Allow-Origin = %q, want the callback origin %q", got, appOrigin)
	}
}

func TestCORSConfigErrors(t *testing.T) {
	t.Parallel()
	svc, err := magiclink.New(magiclink.Config{Origins: []string{appOrigin}, Secret: testSecret, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	for _, c := range []*httpadapter.CORSConfig{
		{Origins: []string{"*"}},
		{Origins: []string{"https://*.com"}},
		{Origins: []string{"http://spa.example.net"}},
		{Origins: []string{"null"}},
		{MaxAge: -1},
	} {
		_, err := httpadapter.New(svc, httpadapter.Config{CORS: c, Logger: discardLogger()})
		var me *magiclink.Error
		if !errors.Is(err, magiclink.ErrInvalidConfig) || !errors.As(err, &me) || me.Field != "CORS" {
			t.Errorf("CORS %+v: err = %v, want a config error naming CORS", c, err)
		}
	}
}
