package httpadapter

import (
	"fmt"
	"net/http"
	"time"

	"github.com/rs/cors"

	"github.com/magiclink-go/magiclink"
)

// CORSConfig lets a single-page app on another origin call the public
// endpoints (send-magic-link, verify, pending, token, user, sessions,
// sign-out) from the browser. The partner and admin endpoints are for back
// ends and never answer cross-origin browser requests.
type CORSConfig struct {
	// Origins are the front-end origins allowed, with the same rules as the
	// Service's callback origins (exact, or "https://*.example.com" for any
	// subdomain). Empty means the Service's callback origins.
	Origins []string
	// AllowInsecureHTTP permits plain-http origins other than loopback.
	AllowInsecureHTTP bool
	// AllowCredentials lets the browser send and receive cookies (the
	// session and pending cookies) on cross-origin requests. Needed by a
	// front end that relies on cookie sessions rather than bearer tokens;
	// the cookies are SameSite=Lax, so this works across subdomains of one
	// site, not across sites.
	AllowCredentials bool
	// MaxAge is how long a browser may cache a preflight answer (default
	// 10 minutes).
	MaxAge time.Duration
}

// corsMethods and corsHeaders are what the public endpoints need from a
// browser; X-Api-Key is deliberately absent (partner keys stay on servers).
var (
	corsMethods        = []string{http.MethodGet, http.MethodPost, http.MethodDelete}
	corsHeaders        = []string{"Content-Type", "Authorization", "X-Request-Id", "X-AppHandoff-Callback-Origin"}
	corsExposedHeaders = []string{"X-Request-Id", "Retry-After"}
)

// newCORS builds the CORS middleware of cfg, matching origins with the
// library's own strict allowlist rules rather than the CORS library's
// looser wildcard, so that one set of rules governs links and browsers.
// Nil cfg means no CORS headers at all.
func newCORS(cfg *CORSConfig, svcOrigins []string) (*cors.Cors, error) {
	if cfg == nil {
		return nil, nil
	}
	patterns := cfg.Origins
	if len(patterns) == 0 {
		patterns = svcOrigins
	}
	allow, err := magiclink.NewOriginsWithOptions(magiclink.OriginOptions{AllowInsecureHTTP: cfg.AllowInsecureHTTP}, patterns...)
	if err != nil {
		return nil, fmt.Errorf("httpadapter: CORS.Origins: %w", err)
	}
	maxAge := cfg.MaxAge
	if maxAge == 0 {
		maxAge = 10 * time.Minute
	}
	if maxAge < 0 {
		return nil, fmt.Errorf("httpadapter: CORS.MaxAge: must not be negative")
	}
	return cors.New(cors.Options{
		AllowOriginFunc: func(origin string) bool {
			_, ok := allow.Allow(origin)
			return ok
		},
		AllowedMethods:   corsMethods,
		AllowedHeaders:   corsHeaders,
		ExposedHeaders:   corsExposedHeaders,
		AllowCredentials: cfg.AllowCredentials,
		MaxAge:           int(maxAge / time.Second),
	}), nil
}
