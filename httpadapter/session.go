package httpadapter

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/magiclink-go/magiclink"
)

// Session cookie names: with the __Host- prefix a browser accepts the
// cookie only with Secure, Path=/ and no Domain, so neither a sibling
// subdomain nor a plain-http page can plant one (session fixation).
const (
	SecureSessionCookie   = "__Host-magiclink_session"
	InsecureSessionCookie = "magiclink_session"
)

// credential is how a request proved its session.
type credential int

const (
	credNone credential = iota
	credCookie
	credBearer
)

// secureRequest reports whether r arrived over HTTPS, as far as the Handler
// may believe: TLS on the connection, X-Forwarded-Proto: https from a
// trusted proxy, or Config.SecureCookies. Otherwise only a plain-http
// request that is loopback at both ends (a browser on the developer's
// machine) counts as insecure; any other is treated as secure, so a
// proxy that was not listed in TrustedProxies still gets Secure cookies.
// Host alone never decides: a remote client can send any Host.
func (h *Handler) secureRequest(r *http.Request) bool {
	if h.secureCookies || r.TLS != nil || (h.fromTrustedProxy(r) && r.Header.Get("X-Forwarded-Proto") == "https") {
		return true
	}
	return !(loopbackRemote(r) && loopbackHost(r.Host))
}

// cookieName is the session cookie of r: Config.SessionCookie when set,
// else the __Host- name on secure requests and the plain one on loopback
// development.
func (h *Handler) cookieName(r *http.Request) string {
	if h.cookie != "" {
		return h.cookie
	}
	if h.secureRequest(r) {
		return SecureSessionCookie
	}
	return InsecureSessionCookie
}

func loopbackRemote(r *http.Request) bool {
	a, ok := remoteAddr(r)
	return ok && a.IsLoopback()
}

func loopbackHost(host string) bool {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// remoteAddr is r.RemoteAddr as an address: host:port from net/http, a bare
// address from some servers and tests.
func remoteAddr(r *http.Request) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	a, err := netip.ParseAddr(r.RemoteAddr)
	return a.Unmap().WithZone(""), err == nil
}

// fromTrustedProxy reports whether the connection comes from one of the
// configured proxies, whose forwarded headers may be believed.
func (h *Handler) fromTrustedProxy(r *http.Request) bool {
	if len(h.trusted) == 0 {
		return false
	}
	a, ok := remoteAddr(r)
	if !ok {
		return false
	}
	for _, p := range h.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// setSessionCookie sets the opaque session cookie: HttpOnly so scripts
// cannot read it, SameSite=Lax so it still rides on the top-level
// navigation that follows sign-in, Secure except on loopback development.
// It lives as long as the session could; the store decides whether it
// still does.
func (h *Handler) setSessionCookie(w http.ResponseWriter, r *http.Request, s *magiclink.BrowserSession) {
	maxAge := max(int(s.ExpiresAt.Sub(h.core.Now())/time.Second), 1)
	http.SetCookie(w, &http.Cookie{Name: h.cookieName(r), Value: s.Token, Path: "/", Expires: s.ExpiresAt.UTC(), MaxAge: maxAge,
		HttpOnly: true, Secure: h.secureRequest(r), SameSite: http.SameSiteLaxMode})
}

// clearSessionCookie expires the session cookie in the browser.
func (h *Handler) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: h.cookieName(r), Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(0, 0).UTC(),
		HttpOnly: true, Secure: h.secureRequest(r), SameSite: http.SameSiteLaxMode})
}

// sessionCredential returns r's session credential: the Authorization
// bearer token when there is one, else the session cookie. Another
// Authorization scheme (such as Basic auth in front of a staging site)
// leaves the cookie in charge; a repeated Authorization header is refused,
// since it is ambiguous which one a proxy in front of us checked (kind
// credBearer with an empty token).
func (h *Handler) sessionCredential(r *http.Request) (string, credential) {
	a, single := singleHeader(r, "Authorization")
	if !single {
		return "", credBearer
	}
	if scheme, tok, ok := strings.Cut(a, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(tok), credBearer
	}
	if v := cookieValue(r, h.cookieName(r)); v != "" {
		return v, credCookie
	}
	return "", credNone
}

// cookieValue returns the value of the first cookie called name, like
// r.Cookie but without building every cookie of the header: it runs on
// each authenticated request. A quoted value loses its quotes; anything
// else is returned as sent and judged by the token parser.
func cookieValue(r *http.Request, name string) string {
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || k != name {
				continue
			}
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v
		}
	}
	return ""
}

// session checks r's session in the store and returns its Identity and
// how it was presented: 401 SESSION_INVALID without a live session, 503
// when the store cannot tell.
func (h *Handler) session(r *http.Request) (magiclink.Identity, credential, *apiError) {
	tok, cred := h.sessionCredential(r)
	if id, ok := magiclink.IdentityFrom(r.Context()); ok && id.SessionID != "" {
		return id, cred, nil // Authenticate checked it for this request
	}
	var id magiclink.Identity
	var err error
	switch {
	case tok == "":
		return id, cred, h.unauthenticated(cred)
	case cred == credBearer:
		id, err = h.svc.CheckAccessToken(r.Context(), tok)
	default:
		id, err = h.svc.CheckSessionToken(r.Context(), tok)
	}
	if errors.Is(err, magiclink.ErrInvalidSession) {
		return id, cred, h.unauthenticated(cred)
	}
	if err != nil {
		return id, cred, fromError(err)
	}
	return id, cred, nil
}

// unauthenticated is the 401 of a request without a live session, with
// the RFC 6750 challenge.
func (h *Handler) unauthenticated(cred credential) *apiError {
	e := newAPIError(http.StatusUnauthorized, codeSessionInvalid, "sign-in required")
	e.authenticate = "Bearer"
	if cred != credNone {
		e.authenticate = `Bearer error="invalid_token"`
	}
	return e
}

// Identity returns who is signed in on r, checking the session (cookie or
// bearer) in the store, without failing the request: use it for pages with
// a signed-out state. It returns the Identity already in r's context when
// Authenticate put one there. A store failure reads as signed out here;
// Authenticate answers it 503 instead.
func (h *Handler) Identity(r *http.Request) (magiclink.Identity, bool) {
	if id, ok := magiclink.IdentityFrom(r.Context()); ok {
		return id, true
	}
	id, _, aerr := h.session(r)
	return id, aerr == nil
}

// Authenticate requires a live session on every request to next and puts
// its Identity in the request context, where magiclink.IdentityFrom reads
// it. The session is checked in the store each time (one round trip), so
// signing out or revoking takes effect at once. Without one the answer is
// 401 {"error":"sign-in required","code":"SESSION_INVALID"} with
// WWW-Authenticate: Bearer, or, with Config.SignInURL, a 303 there for a
// GET or HEAD that accepts HTML. A store outage is 503, never 401.
func (h *Handler) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _, aerr := h.session(r)
		if aerr == nil {
			next.ServeHTTP(w, r.WithContext(magiclink.ContextWithIdentity(r.Context(), id)))
			return
		}
		if !validRequestID(w.Header().Get("X-Request-Id")) {
			rid := r.Header.Get("X-Request-Id")
			if !validRequestID(rid) {
				rid = newRequestID()
			}
			w.Header().Set("X-Request-Id", rid)
		}
		w.Header().Set("Cache-Control", "no-store")
		if aerr.status == http.StatusUnauthorized && h.signInURL != "" && wantsPage(r) {
			seeOther(w, h.signInTarget(r))
			return
		}
		h.portalError(w, r, aerr)
	})
}

// wantsPage reports a browser navigation: a GET or HEAD that accepts HTML.
func wantsPage(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// signInTarget is Config.SignInURL with the path to return to as "next",
// when that path is a safe one.
func (h *Handler) signInTarget(r *http.Request) string {
	next, err := magiclink.SafeNext(r.URL.RequestURI())
	if err != nil || next == "/" {
		return h.signInURL
	}
	sep := "?"
	if strings.Contains(h.signInURL, "?") {
		sep = "&"
	}
	return h.signInURL + sep + "next=" + url.QueryEscape(next)
}
