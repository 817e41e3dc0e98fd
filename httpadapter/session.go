package httpadapter

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/magiclink-go/magiclink"
)

// setSessionCookie sets the session cookie: HttpOnly so scripts cannot read
// it, SameSite=Lax so it still rides on the top-level navigation that
// follows sign-in, and Secure except on plain-http loopback development.
func (h *Handler) setSessionCookie(w http.ResponseWriter, r *http.Request, s magiclink.Session) {
	maxAge := int(s.ExpiresAt.Sub(h.core.Now()) / time.Second)
	if maxAge < 1 {
		maxAge = 1
	}
	http.SetCookie(w, &http.Cookie{Name: h.cookie, Value: s.Token, Path: "/", Expires: s.ExpiresAt.UTC(), MaxAge: maxAge,
		HttpOnly: true, Secure: h.secureCookie(r), SameSite: http.SameSiteLaxMode})
}

// secureCookie reports whether cookies need the Secure flag: always, unless
// the request is plain http to a loopback host, where browsers would drop a
// Secure cookie and no network can read it.
func (h *Handler) secureCookie(r *http.Request) bool {
	if r.TLS != nil || (h.fromTrustedProxy(r) && r.Header.Get("X-Forwarded-Proto") == "https") {
		return true
	}
	host := r.Host
	if hst, _, err := net.SplitHostPort(host); err == nil {
		host = hst
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return false
	}
	if a, err := netip.ParseAddr(host); err == nil && a.IsLoopback() {
		return false
	}
	return true
}

// fromTrustedProxy reports whether the connection comes from one of the
// configured proxies, whose forwarded headers may be believed.
func (h *Handler) fromTrustedProxy(r *http.Request) bool {
	if len(h.trusted) == 0 {
		return false
	}
	// RemoteAddr is host:port from net/http, a bare address from some
	// servers and tests.
	var a netip.Addr
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		a = ap.Addr()
	} else if a, err = netip.ParseAddr(r.RemoteAddr); err != nil {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range h.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// signOut serves POST /auth/sign-out: it expires the session cookie and
// answers 303 to "/" for a form post, 204 otherwise. It reads no body, so
// any content type is accepted.
func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	form := isMediaType(r, "application/x-www-form-urlencoded")
	if !h.sameSite(r) {
		if form {
			h.renderPage(w, r, http.StatusForbidden, pageData{Title: "Sign-out blocked", Message: "This request did not come from this site, so it was blocked."}, 0)
			return
		}
		h.portalError(w, r, forbidden())
		return
	}
	http.SetCookie(w, &http.Cookie{Name: h.cookie, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(0, 0).UTC(),
		HttpOnly: true, Secure: h.secureCookie(r), SameSite: http.SameSiteLaxMode})
	if form {
		seeOther(w, "/")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// sessionToken returns the session JWT of r: the Authorization bearer
// token when there is one, else the session cookie. presented reports
// whether r carried a credential at all, for the 401 challenge. Another
// Authorization scheme (such as Basic auth in front of a staging site)
// leaves the cookie in charge; a repeated Authorization header is refused,
// since it is ambiguous which one a proxy in front of us checked.
func (h *Handler) sessionToken(r *http.Request) (token string, presented bool) {
	a, single := singleHeader(r, "Authorization")
	if !single {
		return "", true
	}
	if scheme, tok, ok := strings.Cut(a, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(tok), true
	}
	if c, err := r.Cookie(h.cookie); err == nil && c.Value != "" {
		return c.Value, true
	}
	return "", false
}

// Identity returns who is signed in on r, reading the session from the
// Authorization bearer token or the session cookie, without failing the
// request: use it for pages with a signed-out state. It returns the
// Identity already in r's context when Authenticate put one there.
func (h *Handler) Identity(r *http.Request) (magiclink.Identity, bool) {
	if id, ok := magiclink.IdentityFrom(r.Context()); ok {
		return id, true
	}
	tok, _ := h.sessionToken(r)
	if tok == "" {
		return magiclink.Identity{}, false
	}
	id, err := h.svc.ParseSession(tok)
	if err != nil {
		return magiclink.Identity{}, false
	}
	return id, true
}

// Authenticate requires a valid session on every request to next and puts
// its Identity in the request context, where magiclink.IdentityFrom reads
// it. A missing, invalid or expired session is answered 401
// {"error":"sign-in required","code":"UNAUTHORIZED"} with
// WWW-Authenticate: Bearer.
func (h *Handler) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := h.Identity(r)
		if !ok {
			if !validRequestID(w.Header().Get("X-Request-Id")) {
				rid := r.Header.Get("X-Request-Id")
				if !validRequestID(rid) {
					rid = newRequestID()
				}
				w.Header().Set("X-Request-Id", rid)
			}
			w.Header().Set("Cache-Control", "no-store")
			challenge := "Bearer"
			if _, presented := h.sessionToken(r); presented {
				challenge = `Bearer error="invalid_token"`
			}
			w.Header().Set("WWW-Authenticate", challenge)
			writeJSON(w, http.StatusUnauthorized, portalErrorBody{Error: "sign-in required", Code: codeUnauthorized})
			return
		}
		next.ServeHTTP(w, r.WithContext(magiclink.ContextWithIdentity(r.Context(), id)))
	})
}
