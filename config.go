package magiclink

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

// Config configures a Service. The zero value of every field but Origins
// means a sensible default.
type Config struct {
	// Origins lists the origins sign-in links may point to, such as
	// "https://app.example.com" or "https://*.example.com" (any subdomain,
	// never the bare domain). Required. See NewOrigins for the rules.
	Origins []string
	// AllowInsecureHTTP permits plain-http origins other than loopback.
	AllowInsecureHTTP bool

	// Secret is the server secret, at least 32 bytes, from which the code
	// HMAC key and the session signing key are derived with HKDF. When
	// empty a random secret is made for this process (codes and sessions
	// then do not survive a restart or work across instances) and a warning
	// is logged.
	Secret []byte

	// Store keeps tokens, codes and users; nil means store.NewMemory().
	Store store.Store
	// Users, when set, keeps users instead of Store: the application's own
	// user table, with IDs of its own if it likes (see store.Users), while
	// links, codes and customers stay in Store, whose own users are then
	// never read or written. It sees the users of every organisation. A
	// Users that also implements store.UserEnsurer resolves a first sign-in
	// in one round trip.
	Users store.Users
	// Limiter enforces Limits; nil means ratelimit.NewMemory(). Use the
	// Redis or PostgreSQL store's limiter to share limits between instances.
	Limiter ratelimit.Limiter
	// Limits are the rate limits; the zero value means DefaultLimits().
	Limits Limits

	// Mailer sends sign-in mails. SendLink fails with ErrNoMailer when nil.
	// Wrap a network mailer in a mailer.Dispatcher so that sending is
	// asynchronous: then a request's duration does not depend on whether
	// the address is known.
	Mailer mailer.Mailer
	// Templates renders sign-in mails; nil means mailer.DefaultTemplates().
	Templates mailer.Renderer
	// AppName is shown in mails and pages (default "magiclink").
	AppName string

	// MeterProvider and TracerProvider receive the Service's metrics and
	// spans (and the HTTP adapter's); nil means OpenTelemetry's global
	// providers, which record nothing until the host installs an SDK. No
	// attribute holds an address, token, code or key.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider

	// LinkPath is the path of the verify endpoint, joined to the callback
	// origin to form a link (default "/auth/verify").
	LinkPath string
	// LinkTTL is how long a mailed link and its code live (default 15 min).
	LinkTTL time.Duration
	// CreateLinkTTL is the default lifetime of links made by CreateLink
	// (default 3 min).
	CreateLinkTTL time.Duration

	// Hooks let the application refuse sends, learn of new users, and
	// refuse sign-ins or add claims to session tokens.
	Hooks Hooks

	// DisableSignup stops unknown addresses from becoming users. SendLink
	// then still answers as for a known address, so it reveals nothing,
	// but sends no mail to an address without a user.
	DisableSignup bool

	// RequireSameDevice makes a mailed link sign in only in the browser
	// that asked for it (the one holding its pending cookie, see
	// SendLinkPending); elsewhere Verify answers ErrDeviceMismatch, and the
	// link can still approve the asking browser (Approve). The code from the
	// mail still signs in wherever it is typed, and links made by
	// CreateLink, which no browser asked for, are not affected. It needs a
	// store with store.PendingRequests (store.Memory and redisstore have
	// it; pgstore does not yet).
	RequireSameDevice bool

	// SessionIdleTTL ends a session that is not used for this long
	// (default 7 days); each use moves it on.
	SessionIdleTTL time.Duration
	// SessionMaxTTL ends a session this long after sign-in, used or not
	// (default 30 days).
	SessionMaxTTL time.Duration
	// AccessTokenTTL is the lifetime of access tokens (default 15 min).
	// Revoking a session stops its access tokens at once here; services
	// that verify them offline (JWKS) accept one until it expires.
	AccessTokenTTL time.Duration
	// SessionIssuer is the "iss" of access tokens (default "magiclink").
	SessionIssuer string
	// SessionAudience is the "aud" of access tokens (default the issuer).
	SessionAudience string
	// SessionKey signs access tokens (Ed25519). Nil means a key derived
	// from Secret.
	SessionKey ed25519.PrivateKey
	// SessionKeyID is the "kid" of SessionKey (default: derived from the
	// public key).
	SessionKeyID string
	// SessionVerifyKeys are further public keys by kid that still verify
	// access tokens, for key rotation: sign with a new SessionKey, keep the
	// old public key here until its last tokens have expired. JWKS
	// publishes them all.
	SessionVerifyKeys map[string]ed25519.PublicKey

	// Clock returns the current time (default time.Now).
	Clock func() time.Time
	// Logger receives operational logs (default slog.Default()). No log
	// record ever contains a link secret, code, key or token.
	Logger *slog.Logger
}

// checkLinkPath checks Config.LinkPath.
func checkLinkPath(p string) error {
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#\\") || strings.HasPrefix(p, "//") {
		return configError("LinkPath", fmt.Sprintf("%q must be an absolute path without query or fragment", p))
	}
	return nil
}

// checkTTL checks a link lifetime of Config.
func checkTTL(field string, d time.Duration) error {
	if d < time.Second || d > 24*time.Hour {
		return configError(field, fmt.Sprintf("%v must be between 1s and 24h", d))
	}
	return nil
}

// secret returns Config.Secret, or a random one for this process (with a
// warning) when it is empty. It returns nil and an error when it is too
// short.
func (s *Service) secret(secret []byte) ([]byte, error) {
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
		s.log.Warn("magiclink: no Config.Secret set; using a random one for this process, so codes and sessions will not survive a restart")
		return secret, nil
	}
	if len(secret) < 32 {
		return nil, configError("Secret", fmt.Sprintf("must be at least 32 bytes, got %d", len(secret)))
	}
	return secret, nil
}

// deriveKeys derives the code HMAC key and the session keys from secret.
func (s *Service) deriveKeys(secret []byte, cfg Config) error {
	codeKey, err := hkdf.Key(sha256.New, secret, nil, "magiclink code hmac v1", 32)
	if err != nil {
		return configError("Secret", err.Error())
	}
	s.codeKey = newMACKey(codeKey)
	s.access, err = newAccessKeys(secret, cfg, s.accessTTL)
	return err
}

// checkSessionTTLs checks the session lifetimes of Config.
func (s *Service) checkSessionTTLs() error {
	var errs []error
	if s.sessionIdle < time.Minute || s.sessionIdle > s.sessionMax {
		errs = append(errs, configError("SessionIdleTTL", fmt.Sprintf("%v must be at least 1m and at most SessionMaxTTL (%v)", s.sessionIdle, s.sessionMax)))
	}
	if s.sessionMax < time.Minute || s.sessionMax > 366*24*time.Hour {
		errs = append(errs, configError("SessionMaxTTL", fmt.Sprintf("%v must be between 1m and 366 days", s.sessionMax)))
	}
	if s.accessTTL < 10*time.Second || s.accessTTL > 24*time.Hour {
		errs = append(errs, configError("AccessTokenTTL", fmt.Sprintf("%v must be between 10s and 24h", s.accessTTL)))
	}
	return errors.Join(errs...)
}
