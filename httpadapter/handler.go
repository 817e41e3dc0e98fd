package httpadapter

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/rs/cors"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/clientip"
	"github.com/magiclink-go/magiclink/internal/core"
	"github.com/magiclink-go/magiclink/internal/telemetry"
)

// Route paths, relative to Config.Prefix.
const (
	PathSendMagicLink   = "/auth/send-magic-link"
	PathCreateMagicLink = "/api/v1/Auth/CreateMagicLink"
	PathAdminMagicLink  = "/admin/magic_link"
	PathVerify          = "/auth/verify"
	PathPending         = "/auth/pending"
	PathApprove         = "/auth/approve"
	PathSignOut         = "/auth/sign-out"
	PathToken           = "/auth/token"
	PathUser            = "/auth/user"
	PathSessions        = "/auth/sessions"
	PathSession         = "/auth/sessions/{id}"
	PathJWKS            = "/auth/.well-known/jwks.json"
	PathOpenAPI         = "/openapi.yaml"
)

// Handler serves the magiclink endpoints. It is immutable after New and
// safe for concurrent use.
type Handler struct {
	svc     *magiclink.Service
	core    *core.View // what the adapter reads of svc beyond its public API
	prefix  string
	ip      *clientip.Resolver
	apiKeys []apiKey
	admin   *adminConfig
	docs    string
	cookie  string // Config.SessionCookie; "" picks by request
	// secureCookies is Config.SecureCookies.
	secureCookies bool
	signInURL     string
	onLogin       func(w http.ResponseWriter, r *http.Request, id magiclink.Identity) error
	openapi       bool
	log           *slog.Logger
	pages         *pageSet
	mux           *http.ServeMux
	verifyAt      string // the full path of the verify endpoint, for form actions
	trusted       []netip.Prefix
	cors          *cors.Cors // nil: no CORS headers
	tel           *telemetry.Instruments
	bodies        bodyBuffers // for send-magic-link's bodies
}

// New validates cfg against svc and returns a Handler. Every configuration
// mistake is reported here, as an error matching magiclink.ErrInvalidConfig
// whose Field names the offending setting.
func New(svc *magiclink.Service, cfg Config) (*Handler, error) {
	if svc == nil {
		return nil, configError("svc", "a *magiclink.Service is required")
	}
	v := svc.Internal(core.Key{})
	h := &Handler{svc: svc, core: v, onLogin: cfg.OnLogin, openapi: cfg.ServeOpenAPI, log: cfg.Logger, tel: v.Telemetry,
		secureCookies: cfg.SecureCookies}
	if h.log == nil {
		h.log = v.Logger
	}
	var err error
	if h.prefix, err = validatePrefix(cfg.Prefix); err != nil {
		return nil, err
	}
	var headers []string
	if cfg.ClientIPHeader != "" {
		headers = append(headers, cfg.ClientIPHeader)
	}
	if h.ip, err = clientip.New(cfg.TrustedProxies, headers...); err != nil {
		return nil, configError("TrustedProxies", "%v", err)
	}
	if h.apiKeys, err = validateAPIKeys(svc, cfg.APIKeys); err != nil {
		return nil, err
	}
	if h.admin, err = validateAdmin(svc, cfg.Admin); err != nil {
		return nil, err
	}
	if h.docs, err = validateDocsBaseURL(cfg.DocsBaseURL); err != nil {
		return nil, err
	}
	if h.cookie, err = validateCookieName(cfg.SessionCookie); err != nil {
		return nil, err
	}
	if h.cors, err = newCORS(cfg.CORS, v.OriginPatterns); err != nil {
		return nil, configError("CORS", "%v", err)
	}
	if h.signInURL, err = validateSignInURL(cfg.SignInURL); err != nil {
		return nil, err
	}
	h.verifyAt = h.prefix + PathVerify
	if v.LinkPath != h.verifyAt {
		// Links point at the Service's LinkPath; unless the host routes that path
		// here itself, links would land on a 404.
		h.log.Warn("httpadapter: the Service's LinkPath is not the verify route; set magiclink.Config.LinkPath to it",
			"link_path", v.LinkPath, "verify_path", h.verifyAt)
	}
	brand, err := validateBranding(cfg, v.AppName)
	if err != nil {
		return nil, err
	}
	if h.pages, err = loadPages(cfg.Pages, brand); err != nil {
		return nil, configError("Pages", "%v", err)
	}
	for _, p := range cfg.TrustedProxies {
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		h.trusted = append(h.trusted, p.Masked())
	}
	h.mux = http.NewServeMux()
	h.Register(h.mux)
	// Only for ServeHTTP: a router that hands every path to h (chi's
	// Mount("/", h)) still gets X-Request-Id and a JSON body on a 404.
	h.mux.Handle(h.prefix+"/", h.wrap(route{fail: h.portalError}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.portalError(w, r, newAPIError(http.StatusNotFound, codeNotFound, "no such endpoint"))
	})))
	return h, nil
}

// route is one path with its handlers by method.
type route struct {
	path string
	// fail answers errors in the contract of the path's endpoint.
	fail errorWriter
	// page marks the routes a browser navigates to (the confirm page, its
	// forms, sign-out): a crash on a page request answers with the page
	// rather than JSON.
	page    bool
	methods map[string]http.HandlerFunc
}

func (h *Handler) routes() []route {
	rs := []route{
		{PathSendMagicLink, h.portalError, false, map[string]http.HandlerFunc{http.MethodPost: h.sendMagicLink}},
		{PathCreateMagicLink, h.partnerError, false, map[string]http.HandlerFunc{http.MethodPost: h.createMagicLink}},
		{PathAdminMagicLink, h.adminError, false, map[string]http.HandlerFunc{http.MethodPost: h.adminMagicLink}},
		{PathVerify, h.portalError, true, map[string]http.HandlerFunc{http.MethodGet: h.verifyPage, http.MethodPost: h.verify}},
		{PathSignOut, h.portalError, true, map[string]http.HandlerFunc{http.MethodPost: h.signOut}},
		{PathToken, h.portalError, false, map[string]http.HandlerFunc{http.MethodPost: h.token}},
		{PathUser, h.portalError, false, map[string]http.HandlerFunc{http.MethodGet: h.user}},
		{PathSessions, h.portalError, false, map[string]http.HandlerFunc{http.MethodGet: h.listSessions}},
		{PathSession, h.portalError, false, map[string]http.HandlerFunc{http.MethodDelete: h.revokeSession}},
		{PathJWKS, h.portalError, false, map[string]http.HandlerFunc{http.MethodGet: h.jwks}},
		{PathPending, h.portalError, false, map[string]http.HandlerFunc{http.MethodGet: h.pending}},
		{PathApprove, h.portalError, true, map[string]http.HandlerFunc{http.MethodPost: h.approve}},
	}
	if h.openapi {
		rs = append(rs, route{PathOpenAPI, h.portalError, false, map[string]http.HandlerFunc{http.MethodGet: serveOpenAPI}})
	}
	return rs
}

// Register adds every route to mux, under Config.Prefix, with Go 1.22
// method patterns. A request with another method gets 405 with an Allow
// header and the endpoint's own error body; OPTIONS gets 204 with
// Allow.
func (h *Handler) Register(mux *http.ServeMux) {
	for _, rt := range h.routes() {
		allow := make([]string, 0, len(rt.methods)+2)
		for m, fn := range rt.methods {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
			mux.Handle(m+" "+h.prefix+rt.path, h.wrap(rt, fn))
		}
		allow = append(allow, http.MethodOptions)
		sort.Strings(allow)
		mux.Handle(h.prefix+rt.path, h.wrap(rt, h.otherMethod(rt.fail, strings.Join(allow, ", "))))
	}
}

// ServeHTTP serves the routes from the Handler's own mux, for routers other
// than http.ServeMux (chi: r.Mount("/", h)). Paths are matched in full,
// Prefix included.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// otherMethod answers the methods a path does not serve.
func (h *Handler) otherMethod(fail errorWriter, allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			w.Header().Set("Allow", allow)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		e := newAPIError(http.StatusMethodNotAllowed, codeMethodNotAllowed, "method "+sanitizeMethod(r.Method)+" is not allowed; use "+allow)
		e.allow = allow
		fail(w, r, e)
	}
}

// sanitizeMethod keeps a client-chosen method printable in a message.
func sanitizeMethod(m string) string {
	if len(m) > 16 || strings.ContainsFunc(m, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return "this"
	}
	return m
}

// wrap adds what every response needs: a request ID, Cache-Control:
// no-store, CORS on the browser-facing routes, the request duration metric,
// and a recover that answers 500 in the endpoint's contract.
func (h *Handler) wrap(rt route, next http.Handler) http.Handler {
	if h.cors != nil && browserFacing(rt.path) {
		next = h.cors.Handler(next)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var start time.Time
		timed := h.tel.RecordsRequests(r.Context())
		if timed {
			start = h.core.Now()
		}
		rw := &exchange{responseRecorder: responseRecorder{ResponseWriter: w}}
		id := requestIDFrom(r.Context())
		if id == "" {
			if id = header(r, "X-Request-Id"); !validRequestID(id) {
				id = newRequestID()
			}
			rw.ctx = requestContext{Context: r.Context(), id: id}
			r = r.WithContext(&rw.ctx)
		}
		rw.setHeader(0, "X-Request-Id", id)
		rw.setHeader(1, "Cache-Control", "no-store")
		defer func() {
			// The route pattern, never the raw path: its values are a
			// closed set, and a raw path could hold a token.
			if timed {
				h.tel.Request(r.Context(), rt.path, rw.statusCode(), h.core.Now().Sub(start))
			}
		}()
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			// The panic value and stack may hold request data; log only
			// where it happened, never the body or headers.
			h.log.ErrorContext(r.Context(), "httpadapter: panic serving request", "method", r.Method, "path", r.URL.Path,
				"request_id", id, "panic_type", fmt.Sprintf("%T", v), "stack", string(debug.Stack()))
			switch {
			case rw.wrote:
			case rt.page && (r.Method == http.MethodGet || r.Method == http.MethodHead || isMediaType(r, "application/x-www-form-urlencoded")):
				h.renderPage(rw, r, http.StatusInternalServerError, pageInternal, h.page(r, ""), 0)
			default:
				rt.fail(rw, r, internalError(fmt.Errorf("panic: %T", v)))
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

// responseRecorder remembers whether anything was written, for the recover
// and for OnLogin hooks that may answer themselves.
type responseRecorder struct {
	http.ResponseWriter
	wrote  bool
	status int
}

func (rw *responseRecorder) WriteHeader(code int) {
	if !rw.wrote {
		rw.status = code
	}
	rw.wrote = true
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *responseRecorder) Write(b []byte) (int, error) {
	if !rw.wrote {
		rw.status = http.StatusOK
	}
	rw.wrote = true
	return rw.ResponseWriter.Write(b)
}

// statusCode is the status sent, 200 when the handler wrote nothing.
func (rw *responseRecorder) statusCode() int {
	if rw.status == 0 {
		return http.StatusOK
	}
	return rw.status
}

// browserFacing reports whether a route serves browsers, and so may answer
// cross-origin requests when CORS is configured. The partner and admin
// endpoints take server credentials (API keys, admin JWTs) that never
// belong in a browser.
func browserFacing(path string) bool {
	return path != PathCreateMagicLink && path != PathAdminMagicLink
}

// WriteString writes s without converting it to a []byte first when the
// underlying writer can (net/http's and httptest's can).
func (rw *responseRecorder) WriteString(s string) (int, error) {
	if !rw.wrote {
		rw.status = http.StatusOK
	}
	rw.wrote = true
	return io.WriteString(rw.ResponseWriter, s)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (rw *responseRecorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }
