package httpadapter

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/core"
)

// Config configures a Handler. The zero value serves the public endpoints
// (send-magic-link, verify, sign-out) with good defaults; the partner
// endpoint (CreateMagicLink) and the admin endpoint (magic_link) are served
// only when APIKeys or Admin are set.
type Config struct {
	// Prefix is prepended to every route, such as "/auth-service" to serve
	// "/auth-service/auth/send-magic-link". Empty means the root. It must
	// start with "/" and not end with one.
	Prefix string

	// TrustedProxies are the address ranges of the operator's own reverse
	// proxies. Only when a request's RemoteAddr is in one of them is the
	// forwarded header read, from the right. Empty means RemoteAddr is
	// always the client.
	TrustedProxies []netip.Prefix
	// ClientIPHeader is the forwarded header the trusted proxies set
	// (default "X-Forwarded-For"; "Forwarded" and "X-Real-IP" work too).
	ClientIPHeader string

	// APIKeys are the partner keys of POST /api/v1/Auth/CreateMagicLink.
	// The endpoint answers 401 to every request when there are none.
	APIKeys []APIKey

	// Admin configures POST /admin/magic_link. Nil means the endpoint
	// answers 401 to every request.
	Admin *AdminConfig

	// DocsBaseURL is the base of the "docs" link in admin error bodies:
	// {DocsBaseURL}/{CODE} (default "https://docs.magiclink.dev/errors").
	DocsBaseURL string

	// SessionCookie is the name of the session cookie. The default is
	// "__Host-magiclink_session" (SecureSessionCookie) on HTTPS and
	// "magiclink_session" on plain-http loopback development; only the
	// name that fits the request is read, so a cookie planted without
	// Secure is never taken for a session.
	SessionCookie string
	// SecureCookies makes every session cookie Secure (and __Host-), also
	// for plain-http requests, for TLS ended by a proxy that is not listed
	// in TrustedProxies. Without it a request counts as HTTPS when it came
	// over TLS or with X-Forwarded-Proto: https from a trusted proxy, and
	// as plain http only when it is loopback at both ends; the Host header
	// alone never decides.
	SecureCookies bool

	// SignInURL is where Authenticate sends a signed-out browser (a GET or
	// HEAD that accepts HTML): 303 to it with "next" set to the path to
	// return to. A path ("/sign-in") or an absolute http(s) URL. Empty
	// means every signed-out request gets 401 JSON; API requests always do.
	SignInURL string

	// OnLogin, when set, replaces the default session (a stored session
	// with an opaque cookie) after a successful form sign-in, for hosts
	// that keep their own sessions. Unless it writes a response itself, the handler
	// then redirects 303 to the identity's origin and next path. An error
	// answers 500 with the confirm page.
	OnLogin func(w http.ResponseWriter, r *http.Request, id magiclink.Identity) error

	// CORS, when set, lets single-page apps on the listed origins call the
	// public endpoints from the browser (see CORSConfig). Nil sends no CORS
	// headers, so browsers allow same-origin calls only.
	CORS *CORSConfig

	// Pages overrides the built-in pages (confirm, errors…) by file name.
	// A file present at the root of Pages replaces the built-in one of that
	// name; every other falls back to the built-in. The names are
	// layout.html (the frame of every page: it shows the templates "title"
	// and "content"), parts.html (forms the pages share), style.css (the
	// one stylesheet, inlined and allowed by its hash), one {page}.html per
	// page — confirm, approved, sent, link-invalid, code-invalid,
	// rate-limited, unavailable, internal, blocked, request-invalid,
	// signin-denied, device-mismatch, match-invalid, pending-invalid — each
	// defining "title" and "content", and locales/{locale}.json, texts by
	// key that merge over the built-in ones of that locale (or add one,
	// such as "it"). Templates are html/template; T "key" gives a text in
	// the page's language. New parses and renders every page once, so a
	// broken override fails there, naming its file. Nil means the
	// built-in pages.
	//
	// A page speaks the locale its form or link names ("locale" field or
	// query parameter), else the browser's Accept-Language (by q-value),
	// falling back tr-TR → tr → en; built in are en, de, fr, es and tr.
	//
	// The text "app.name" is the app name a page shows (see AppName): a
	// host whose product's name is translated sets it per locale, such as
	// {"app.name": "Acme-Beispiel"} in locales/de.json. A locale without
	// one takes the host's English one, as every text falls back to
	// English, and AppName when that is unset or empty too. Each name is
	// checked as AppName is; a bad one fails New naming its file and the
	// key.
	Pages fs.FS

	// AppName names the application on the pages, in their <title> and
	// header (default: the Service's AppName): in every locale unless the
	// host's Pages set the text "app.name" for it. Templates read the
	// page's name as .AppName or T "app.name". At most 100 printable
	// characters, trimmed.
	AppName string
	// LogoURL is an optional logo shown on the pages: an https URL, or a
	// path on the pages' own origin such as "/static/logo.svg". Its origin
	// is added to the pages' CSP img-src.
	LogoURL string
	// AccentColor is the colour of the pages' buttons and top border, as
	// "#rrggbb" or "#rgb" (default DefaultAccentColor). The button text is
	// white or near-black, whichever reads at a contrast of at least 4.5:1.
	AccentColor string

	// ServeOpenAPI serves the embedded OpenAPI document at
	// GET {Prefix}/openapi.yaml.
	ServeOpenAPI bool

	// Logger receives operational logs (default: the Service's). Nothing
	// secret is ever logged: addresses are masked; tokens, codes, keys and
	// JWTs never appear.
	Logger *slog.Logger
}

// APIKey is one partner credential of POST /api/v1/Auth/CreateMagicLink. Each key belongs to one
// organisation and one portal origin, where the links it creates point.
type APIKey struct {
	// ID names the key in logs and rate limits; it is not secret.
	ID string
	// Key is the raw key the partner sends in X-Api-Key, at least 16 bytes.
	// New keeps only its SHA-256.
	Key string
	// OrgID is the organisation whose users the key manages. Empty gives
	// the key its own organisation, "apikey:" followed by ID; keys that
	// set the same OrgID share one. Public sign-ins (send-magic-link) live
	// in the public organisation, "", which no key manages unless it says
	// DangerouslySharePublicOrganization: so a partner can neither
	// pre-create an account a person later signs in to publicly, nor learn
	// from 409 versus 200 who has a public account. The "apikey:" prefix is
	// reserved for the default.
	OrgID string
	// DangerouslySharePublicOrganization puts the key's users in the
	// public organisation, with OrgID empty: the partner then creates and
	// links the very accounts people sign in to on the public endpoints,
	// and can probe which addresses have one. Only for a partner trusted
	// with every public account.
	DangerouslySharePublicOrganization bool
	// PortalOrigin is the origin links point to; it must be allowed by the
	// Service's origin allowlist.
	PortalOrigin string
	// Next is the path to land on after signing in (default "/").
	Next string
}

// AdminConfig configures the bearer-JWT protected endpoint POST /admin/magic_link.
type AdminConfig struct {
	// Keys verify tokens by their "kid" header: []byte for HS256/384/512,
	// *rsa.PublicKey for RS*/PS*, *ecdsa.PublicKey for ES*,
	// ed25519.PublicKey for EdDSA. A token whose kid is not in Keys is
	// rejected, also when Key is set.
	Keys map[string]any
	// Key verifies tokens without a "kid" header. Tokens without a kid are
	// rejected when Key is nil.
	//
	// Every token is also refused when its header has a "crit" parameter,
	// when a header parameter or a claim appears twice, or when exp, nbf
	// or iat is not a JSON number.
	Key any
	// Methods lists the accepted "alg" values, such as ["HS256"] or
	// ["EdDSA"]. Required: pinning them is what stops algorithm confusion.
	Methods []string
	// Issuer and Audience are required claims when set.
	Issuer   string
	Audience string
	// Scope, when set, must appear in the token's "scope" (space-separated
	// string) or "scp"/"scopes" (array or string) claim, else 403.
	Scope string
	// Leeway is the clock skew allowed for exp, nbf and iat (default 10 s,
	// at most 30 s).
	Leeway time.Duration
	// PortalOrigin is the origin admin links point to; it must be allowed
	// by the Service's origin allowlist. Required.
	PortalOrigin string
	// DefaultNext is the path admin links land on (default "/overview").
	DefaultNext string
}

// Defaults of Config.
const (
	DefaultDocsBaseURL = "https://docs.magiclink.dev/errors"
	DefaultAdminNext   = "/overview"
	defaultAdminLeeway = 10 * time.Second
	maxAdminLeeway     = 30 * time.Second
	minAPIKeyLen       = 16
	minHMACKeyLen      = 32
)

// configError reports a configuration mistake found by New. It matches
// magiclink.ErrInvalidConfig with errors.Is, like the core's own.
func configError(field, format string, args ...any) error {
	return &magiclink.Error{Code: codeConfigInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// apiKey is a validated APIKey; the raw key is gone.
type apiKey struct {
	id     string
	digest [sha256.Size]byte
	orgID  string
	origin string
	next   string
}

// adminConfig is a validated AdminConfig.
type adminConfig struct {
	keys     map[string]any
	key      any
	methods  []string
	issuer   string
	audience string
	scope    string
	leeway   time.Duration
	origin   string
	next     string
}

func validatePrefix(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.HasPrefix(p, "//") ||
		strings.ContainsAny(p, "?#{}\\ \t\r\n%") || strings.Contains(p, "/../") || strings.Contains(p, "/./") ||
		strings.HasSuffix(p, "/..") || strings.HasSuffix(p, "/.") || strings.Contains(p, "//") {
		return "", configError("Prefix", "%q must start with \"/\", not end with one, and be a clean path without query, wildcards or escapes", p)
	}
	return p, nil
}

func validateAPIKeys(svc *magiclink.Service, keys []APIKey) ([]apiKey, error) {
	out := make([]apiKey, 0, len(keys))
	ids := map[string]bool{}
	digests := map[[sha256.Size]byte]bool{}
	for i, k := range keys {
		field := fmt.Sprintf("APIKeys[%d]", i)
		if k.ID == "" || len(k.ID) > 128 || strings.ContainsFunc(k.ID, isControlOrSpace) {
			return nil, configError(field+".ID", "must be 1–128 printable characters without spaces")
		}
		if ids[k.ID] {
			return nil, configError(field+".ID", "%q is used by two keys", k.ID)
		}
		ids[k.ID] = true
		if len(k.Key) < minAPIKeyLen {
			return nil, configError(field+".Key", "must be at least %d bytes (key %q)", minAPIKeyLen, k.ID)
		}
		d := sha256.Sum256([]byte(k.Key))
		if digests[d] {
			return nil, configError(field+".Key", "key %q has the same value as another key", k.ID)
		}
		digests[d] = true
		origin, ok := svc.Internal(core.Key{}).Allow(k.PortalOrigin)
		if !ok {
			return nil, configError(field+".PortalOrigin", "%q (key %q) is not an exact origin on the Service's allowlist %s", k.PortalOrigin, k.ID, svc.Internal(core.Key{}).Origins)
		}
		next, err := magiclink.SafeNext(k.Next)
		if err != nil {
			return nil, configError(field+".Next", "%q is not a safe path: %v", k.Next, err)
		}
		org, err := keyOrganisation(field, k)
		if err != nil {
			return nil, err
		}
		out = append(out, apiKey{id: k.ID, digest: d, orgID: org, origin: origin, next: next})
	}
	return out, nil
}

// ownOrgPrefix starts the organisation of a key that names none.
const ownOrgPrefix = "apikey:"

// keyOrganisation is the organisation k manages: its OrgID, else its own
// ("apikey:" + ID); the public one ("") only when k says so explicitly.
func keyOrganisation(field string, k APIKey) (string, error) {
	switch {
	case k.DangerouslySharePublicOrganization && k.OrgID != "":
		return "", configError(field+".OrgID", "must be empty with DangerouslySharePublicOrganization (key %q)", k.ID)
	case k.DangerouslySharePublicOrganization:
		return "", nil
	case strings.HasPrefix(k.OrgID, ownOrgPrefix):
		return "", configError(field+".OrgID", "%q: the prefix %q is reserved for a key's own organisation (key %q)", k.OrgID, ownOrgPrefix, k.ID)
	case k.OrgID == "":
		return ownOrgPrefix + k.ID, nil
	}
	return k.OrgID, nil
}

func validateAdmin(svc *magiclink.Service, a *AdminConfig) (*adminConfig, error) {
	if a == nil {
		return nil, nil
	}
	if len(a.Methods) == 0 {
		return nil, configError("Admin.Methods", "list the accepted JWT algorithms, such as [\"HS256\"]")
	}
	for _, m := range a.Methods {
		if m == "none" || jwt.GetSigningMethod(m) == nil {
			return nil, configError("Admin.Methods", "%q is not a supported signing algorithm", m)
		}
	}
	if len(a.Keys) == 0 && a.Key == nil {
		return nil, configError("Admin.Keys", "set Keys (by kid) or Key")
	}
	for kid, k := range a.Keys {
		if kid == "" {
			return nil, configError("Admin.Keys", "a kid must not be empty; use Key for tokens without kid")
		}
		if err := checkAdminKey(k, a.Methods); err != nil {
			return nil, configError(fmt.Sprintf("Admin.Keys[%q]", kid), "%v", err)
		}
	}
	if a.Key != nil {
		if err := checkAdminKey(a.Key, a.Methods); err != nil {
			return nil, configError("Admin.Key", "%v", err)
		}
	}
	leeway := a.Leeway
	if leeway == 0 {
		leeway = defaultAdminLeeway
	}
	if leeway < 0 || leeway > maxAdminLeeway {
		return nil, configError("Admin.Leeway", "%v must be between 0 and %v", a.Leeway, maxAdminLeeway)
	}
	origin, ok := svc.Internal(core.Key{}).Allow(a.PortalOrigin)
	if !ok {
		return nil, configError("Admin.PortalOrigin", "%q is not an exact origin on the Service's allowlist %s", a.PortalOrigin, svc.Internal(core.Key{}).Origins)
	}
	next := a.DefaultNext
	if next == "" {
		next = DefaultAdminNext
	}
	next, err := magiclink.SafeNext(next)
	if err != nil {
		return nil, configError("Admin.DefaultNext", "%q is not a safe path: %v", a.DefaultNext, err)
	}
	if strings.ContainsFunc(a.Scope, isControlOrSpace) {
		return nil, configError("Admin.Scope", "%q must be a single scope without spaces", a.Scope)
	}
	keys := make(map[string]any, len(a.Keys))
	for k, v := range a.Keys {
		keys[k] = v
	}
	return &adminConfig{keys: keys, key: a.Key, methods: append([]string(nil), a.Methods...), issuer: a.Issuer,
		audience: a.Audience, scope: a.Scope, leeway: leeway, origin: origin, next: next}, nil
}

// checkAdminKey reports a key that no configured method can use, and HMAC
// keys too short for their hash (RFC 7518 §3.2).
func checkAdminKey(k any, methods []string) error {
	for _, m := range methods {
		switch jwt.GetSigningMethod(m).(type) {
		case *jwt.SigningMethodHMAC:
			if b, ok := k.([]byte); ok {
				if len(b) < minHMACKeyLen {
					return fmt.Errorf("HMAC key has %d bytes; at least %d are required", len(b), minHMACKeyLen)
				}
				return nil
			}
		case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
			if _, ok := k.(*rsa.PublicKey); ok {
				return nil
			}
		case *jwt.SigningMethodECDSA:
			if _, ok := k.(*ecdsa.PublicKey); ok {
				return nil
			}
		case *jwt.SigningMethodEd25519:
			if _, ok := k.(ed25519.PublicKey); ok {
				return nil
			}
		}
	}
	return fmt.Errorf("a %T cannot verify any of the methods %v", k, methods)
}

func validateDocsBaseURL(s string) (string, error) {
	if s == "" {
		return DefaultDocsBaseURL, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", configError("DocsBaseURL", "%q must be an absolute http(s) URL without query or fragment", s)
	}
	return strings.TrimRight(s, "/"), nil
}

// validateSignInURL checks Config.SignInURL: a same-site path or an
// absolute http(s) URL, without fragment.
func validateSignInURL(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if p, err := magiclink.SafeNext(s); err == nil && p == s && !strings.Contains(s, "#") {
		return s, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" || strings.ContainsFunc(s, isControlOrSpace) {
		return "", configError("SignInURL", "%q must be a safe path such as \"/sign-in\" or an absolute http(s) URL without fragment", s)
	}
	return s, nil
}

func validateCookieName(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return "", configError("SessionCookie", "%q is not a valid cookie name", s)
		}
	}
	return s, nil
}

func isControlOrSpace(r rune) bool { return r <= ' ' || r == 0x7f }
