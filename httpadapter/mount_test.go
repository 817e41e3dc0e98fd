package httpadapter_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
)

// The whole flow works the same on a ServeMux, on chi, and under a prefix.
func TestMounting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		prefix string
		mount  func(h *httpadapter.Handler, prefix string) http.Handler
	}{
		{"ServeMux", "", func(h *httpadapter.Handler, _ string) http.Handler {
			mux := http.NewServeMux()
			h.Register(mux)
			return mux
		}},
		{"ServeMux with prefix", "/auth-service", func(h *httpadapter.Handler, _ string) http.Handler {
			mux := http.NewServeMux()
			mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("host home")) })
			h.Register(mux)
			return mux
		}},
		{"Handler itself", "", func(h *httpadapter.Handler, _ string) http.Handler { return h }},
		{"chi at root", "", func(h *httpadapter.Handler, _ string) http.Handler {
			r := chi.NewRouter()
			r.Mount("/", h)
			return r
		}},
		{"chi with prefix", "/auth-service", func(h *httpadapter.Handler, prefix string) http.Handler {
			r := chi.NewRouter()
			r.Get("/", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("host home")) })
			r.Mount(prefix, h)
			return r
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *magiclink.Config, hc *httpadapter.Config) {
				c.LinkPath = tt.prefix + "/auth/verify"
				hc.Prefix = tt.prefix
			})
			srv := tt.mount(e.h, tt.prefix)
			do := func(r *http.Request) *httptest.ResponseRecorder { return serve(t, srv, r, tt.prefix) }
			p := tt.prefix

			wantStatus(t, do(jsonReq(p+sendPath, `{"email":"a@example.com","callback_origin":"https://app.example.com","callback_next":"/x"}`)), http.StatusOK)
			m, _ := e.inbox.Last("a@example.com")
			if !strings.HasPrefix(m.Link, "https://app.example.com"+p+"/auth/verify?token_hash=") {
				t.Fatalf("link = %q", m.Link)
			}
			u, _ := url.Parse(m.Link)
			page := do(newReq(http.MethodGet, m.Link, "", ""))
			wantStatus(t, page, http.StatusOK)
			if !strings.Contains(page.Body.String(), `action="`+p+`/auth/verify"`) {
				t.Fatal("form action is not under the prefix")
			}
			rec := do(formReq("https://app.example.com"+p+verifyPath, url.Values{"token_hash": {u.Query().Get("token_hash")}}))
			wantStatus(t, rec, http.StatusSeeOther)
			if rec.Header().Get("Location") != "https://app.example.com/x" {
				t.Fatalf("Location = %q", rec.Header().Get("Location"))
			}

			// Method mismatches answer in each endpoint's envelope.
			admin405 := do(newReq(http.MethodGet, p+adminPath, "", ""))
			adminResult(t, admin405, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
			send405 := do(newReq(http.MethodGet, p+sendPath, "", ""))
			wantPortalError(t, send405, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
			if send405.Header().Get("Allow") != "OPTIONS, POST" {
				t.Fatalf("Allow = %q", send405.Header().Get("Allow"))
			}
			verify405 := do(newReq(http.MethodDelete, p+verifyPath, "", ""))
			wantPortalError(t, verify405, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
			if verify405.Header().Get("Allow") != "GET, HEAD, OPTIONS, POST" {
				t.Fatalf("Allow = %q", verify405.Header().Get("Allow"))
			}
			partnerResult(t, do(newReq(http.MethodPut, p+createPath, "", "")), http.StatusMethodNotAllowed)
			opt := do(newReq(http.MethodOptions, p+sendPath, "", ""))
			if opt.Code != http.StatusNoContent || opt.Header().Get("Allow") != "OPTIONS, POST" {
				t.Fatalf("OPTIONS = %d, Allow %q", opt.Code, opt.Header().Get("Allow"))
			}

			spec := do(newReq(http.MethodGet, p+"/openapi.yaml", "", ""))
			wantStatus(t, spec, http.StatusOK)
			if !strings.HasPrefix(spec.Body.String(), "# ") && !strings.HasPrefix(spec.Body.String(), "openapi:") {
				t.Fatalf("openapi.yaml body: %.60s", spec.Body)
			}
		})
	}
}

// Paths the Handler does not serve answer 404 with a request ID and a JSON
// body when the Handler is mounted as a whole (chi's Mount("/", h)).
func TestUnknownPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := chi.NewRouter()
	r.Mount("/", e.h)
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/nope", nil))
	wantPortalError(t, rec, http.StatusNotFound, "NOT_FOUND")
	wantComponentResponse(t, rec, "NotFound")
	if rec.Header().Get("X-Request-Id") == "" {
		t.Fatal("404 without X-Request-Id")
	}
}

// Under a prefix the Handler leaves every other path to the host.
func TestPrefixLeavesOtherPathsAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *magiclink.Config, hc *httpadapter.Config) {
		c.LinkPath = "/auth-service/auth/verify"
		hc.Prefix = "/auth-service"
	})
	for _, path := range []string{sendPath, "/auth-service", "/auth-servicex" + sendPath} {
		rec := httptest.NewRecorder()
		e.mux.ServeHTTP(rec, jsonReq(path, `{"email":"a@example.com"}`, "Origin", appOrigin))
		if rec.Code != http.StatusNotFound || rec.Header().Get("X-Request-Id") != "" {
			t.Errorf("%s: %d, want the host mux's own 404", path, rec.Code)
		}
	}
}

// A panic anywhere below a handler is a 500 in that endpoint's envelope.
func TestPanicAnswersInEnvelope(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store.panics.Store(true)
	wantPortalError(t, e.do(jsonReq(sendPath, `{"email":"a@example.com","callback_origin":"https://app.example.com"}`)), 500, "INTERNAL")
	wantPortalError(t, e.do(jsonReq(verifyPath, `{"token_hash":"`+strings.Repeat("A", 43)+`"}`)), 500, "INTERNAL")
	partnerResult(t, e.do(partnerReq(seed002Body)), 500)
	adminResult(t, e.do(adminReq(hs(t, claims()), `{"customerId":"cus_1"}`)), 500, "INTERNAL_SERVER_ERROR")
}

// A crash during a browser's form sign-in answers with the page, not JSON.
func TestPanicOnFormAnswersWithPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store.panics.Store(true)
	rec := e.do(formReq("https://app.example.com"+verifyPath, url.Values{"token_hash": {strings.Repeat("A", 43)}}))
	wantStatus(t, rec, http.StatusInternalServerError)
	wantPageHeaders(t, rec)
	if !strings.Contains(rec.Body.String(), "Something went wrong") {
		t.Fatal("500 page lacks its message")
	}
}

func TestMethodNotAllowedEverywhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		method, path, allow string
	}{
		{http.MethodGet, "/auth/sign-out", "OPTIONS, POST"},
		{http.MethodPost, "/openapi.yaml", "GET, HEAD, OPTIONS"},
		{http.MethodPut, verifyPath, "GET, HEAD, OPTIONS, POST"},
		{http.MethodPatch, sendPath, "OPTIONS, POST"},
	}
	for _, tt := range tests {
		rec := e.do(newReq(tt.method, tt.path, "", ""))
		wantPortalError(t, rec, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
		if rec.Header().Get("Allow") != tt.allow {
			t.Errorf("%s %s: Allow = %q, want %q", tt.method, tt.path, rec.Header().Get("Allow"), tt.allow)
		}
	}
}
