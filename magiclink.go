// Package magiclink is an embeddable library for passwordless sign-in by
// e-mail. A Service issues single-use sign-in links, each mailed together
// with a 6-digit code, and verifies them:
//
//   - a link's secret is 256 random bits; the store keeps only its SHA-256;
//   - a code is kept as an HMAC bound to the address and dies after five
//     wrong tries;
//   - callback origins must be on an allowlist and post-sign-in paths must be
//     safe same-site paths, so links cannot become open redirects;
//   - rate limits per client IP and per address are on by default and, with
//     a shared store such as store/redisstore, hold across instances.
//
// The HTTP endpoints live in package httpadapter; an in-process test kit in
// package magiclinktest.
package magiclink

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

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

	// LinkPath is the path of the verify endpoint, joined to the callback
	// origin to form a link (default "/auth/verify").
	LinkPath string
	// LinkTTL is how long a mailed link and its code live (default 15 min).
	LinkTTL time.Duration
	// CreateLinkTTL is the default lifetime of links made by CreateLink
	// (default 3 min).
	CreateLinkTTL time.Duration

	// DisableSignup stops unknown addresses from becoming users. SendLink
	// then still answers as for a known address, so it reveals nothing,
	// but sends no mail to an address without a user.
	DisableSignup bool

	// SessionTTL is the lifetime of session tokens (default 24 h).
	SessionTTL time.Duration
	// SessionIssuer is the "iss" of session tokens (default "magiclink").
	SessionIssuer string
	// SessionKey signs session tokens. Nil means a key derived from Secret.
	SessionKey ed25519.PrivateKey
	// SessionKeyID is the "kid" of SessionKey (default: derived from the
	// public key).
	SessionKeyID string
	// SessionVerifyKeys are further public keys by kid that still verify
	// sessions, for key rotation.
	SessionVerifyKeys map[string]ed25519.PublicKey

	// Clock returns the current time (default time.Now).
	Clock func() time.Time
	// Logger receives operational logs (default slog.Default()). No log
	// record ever contains a link secret, code, key or token.
	Logger *slog.Logger
}

// Limits are the rate limits a Service applies. A ratelimit.Rate with Limit 0
// disables that one limit; the zero Limits means DefaultLimits().
type Limits struct {
	// SendPerIP limits SendLink per client IP (IPv6 per /64).
	SendPerIP ratelimit.Rate
	// SendPerEmail limits SendLink per address.
	SendPerEmail ratelimit.Rate
	// VerifyPerIP limits Verify and VerifyCode per client IP.
	VerifyPerIP ratelimit.Rate
	// CreatePerAPIKey limits link creation per API key (HTTP adapter).
	CreatePerAPIKey ratelimit.Rate
	// AdminPerSubject limits admin link creation per token subject.
	AdminPerSubject ratelimit.Rate

	off bool
}

// DefaultLimits returns the default rate limits: 30 sends per 10 minutes per
// IP (bursts of 10), 5 per hour per address (bursts of 2), 30 verifications
// per minute per IP, 600 links per minute per API key and per admin subject.
func DefaultLimits() Limits {
	return Limits{
		SendPerIP:       ratelimit.Rate{Limit: 30, Period: 10 * time.Minute, Burst: 10},
		SendPerEmail:    ratelimit.Rate{Limit: 5, Period: time.Hour, Burst: 2},
		VerifyPerIP:     ratelimit.Rate{Limit: 30, Period: time.Minute, Burst: 10},
		CreatePerAPIKey: ratelimit.Rate{Limit: 600, Period: time.Minute, Burst: 100},
		AdminPerSubject: ratelimit.Rate{Limit: 600, Period: time.Minute, Burst: 100},
	}
}

// check reports every invalid rate of l, naming its field.
func (l Limits) check() error {
	var errs []error
	for _, f := range []struct {
		name string
		r    ratelimit.Rate
	}{{"SendPerIP", l.SendPerIP}, {"SendPerEmail", l.SendPerEmail}, {"VerifyPerIP", l.VerifyPerIP},
		{"CreatePerAPIKey", l.CreatePerAPIKey}, {"AdminPerSubject", l.AdminPerSubject}} {
		if r := f.r; r.Limit < 0 || (r.Limit > 0 && r.Period <= 0) || r.Burst < 0 {
			errs = append(errs, configError("Limits."+f.name, fmt.Sprintf("%+v is not a valid rate", r)))
		}
	}
	return errors.Join(errs...)
}

// NoLimits returns Limits that disable every rate limit. Use it in tests or
// behind a gateway that already limits.
func NoLimits() Limits { return Limits{off: true} }

// Service issues and verifies sign-in links. It is safe for concurrent use.
type Service struct {
	origins       *Origins
	store         store.Store
	limiter       ratelimit.Limiter
	limits        Limits
	mailer        mailer.Mailer
	templates     mailer.Renderer
	appName       string
	linkPath      string
	linkTTL       time.Duration
	createLinkTTL time.Duration
	disableSignup bool
	codeKey       macKey
	sessions      sessionKeys
	now           func() time.Time
	log           *slog.Logger

	closers []func() error
}

// New validates cfg and returns a Service. Every configuration mistake is
// reported here, never at request time: all of them at once, joined with
// errors.Join in the order of Config's fields, each an error matching
// ErrInvalidConfig whose Field names the field.
func New(cfg Config) (*Service, error) {
	s := newService(cfg)
	var errs []error
	origins, err := NewOriginsWithOptions(OriginOptions{AllowInsecureHTTP: cfg.AllowInsecureHTTP}, cfg.Origins...)
	errs = append(errs, err)
	s.origins = origins
	secret, err := s.secret(cfg.Secret)
	errs = append(errs, err)
	errs = append(errs, s.limits.check())
	errs = append(errs, checkLinkPath(s.linkPath), checkTTL("LinkTTL", s.linkTTL), checkTTL("CreateLinkTTL", s.createLinkTTL))
	if cfg.SessionTTL < 0 {
		errs = append(errs, configError("SessionTTL", "must not be negative"))
	}
	if secret != nil {
		errs = append(errs, s.deriveKeys(secret, cfg))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s.startDefaults()
	return s, nil
}

// newService copies cfg into a Service, with defaults for what is unset.
func newService(cfg Config) *Service {
	s := &Service{
		store:         cfg.Store,
		limiter:       cfg.Limiter,
		limits:        cfg.Limits,
		mailer:        cfg.Mailer,
		templates:     cfg.Templates,
		appName:       cmp.Or(cfg.AppName, "magiclink"),
		linkPath:      cmp.Or(cfg.LinkPath, "/auth/verify"),
		linkTTL:       cmp.Or(cfg.LinkTTL, 15*time.Minute),
		createLinkTTL: cmp.Or(cfg.CreateLinkTTL, 3*time.Minute),
		disableSignup: cfg.DisableSignup,
		now:           cfg.Clock,
		log:           cfg.Logger,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.limits == (Limits{}) {
		s.limits = DefaultLimits()
	}
	if s.templates == nil {
		s.templates = mailer.DefaultTemplates()
	}
	return s
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
	s.sessions, err = newSessionKeys(secret, cfg)
	return err
}

// startDefaults makes the in-memory store and limiter Config left unset;
// Close stops them.
func (s *Service) startDefaults() {
	if s.store == nil {
		m := store.NewMemory(store.WithClock(s.now))
		s.store = m
		s.closers = append(s.closers, m.Close)
	}
	if s.limiter == nil {
		l := ratelimit.NewMemory(ratelimit.WithClock(s.now))
		s.limiter = l
		s.closers = append(s.closers, l.Close)
	}
}

// Close releases what New created itself (the default store's and limiter's
// background sweepers). Stores, limiters and mailers passed in Config are
// the caller's to close.
func (s *Service) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c())
	}
	s.closers = nil
	return errors.Join(errs...)
}

// Origins returns the callback origin allowlist.
func (s *Service) Origins() *Origins { return s.origins }

// Store returns the store the Service uses.
func (s *Service) Store() store.Store { return s.store }

// Limits returns the rate limits in force.
func (s *Service) Limits() Limits { return s.limits }

// AppName returns the configured application name.
func (s *Service) AppName() string { return s.appName }

// LinkPath returns the path sign-in links point to.
func (s *Service) LinkPath() string { return s.linkPath }

// Logger returns the Service's logger, for adapters that log alongside it.
func (s *Service) Logger() *slog.Logger { return s.log }

// Now returns the Service clock's current time.
func (s *Service) Now() time.Time { return s.now() }

// SendRequest asks for a sign-in mail.
type SendRequest struct {
	// Email is the address to sign in; it is normalized (NormalizeEmail).
	Email string
	// CallbackOrigin is the origin the link points to; it must be allowed.
	CallbackOrigin string
	// Next is where to land after signing in: a safe path, or a full URL on
	// CallbackOrigin (only its path is kept). Empty means "/".
	Next string
	// Locale selects the mail's language, such as "de" or "tr-TR".
	Locale string
	// ClientIP is the requester's address, for the per-IP limit. The zero
	// value skips that limit (for calls from trusted back ends).
	ClientIP netip.Addr
	// OrgID is the organisation of the user ("" for the default).
	OrgID string
}

// SendLink validates req, applies the rate limits, issues a link with a code
// and mails both. It answers the same way whether or not the address has a
// user, so it cannot be used to find out who has an account.
func (s *Service) SendLink(ctx context.Context, req SendRequest) error {
	if s.mailer == nil {
		return newError(kindNoMailer, "Mailer", "", nil)
	}
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return err
	}
	origin, next, err := s.resolveTarget(req.CallbackOrigin, req.Next, "callback_origin", "callback_next")
	if err != nil {
		return err
	}
	if err := s.limitSend(ctx, req.ClientIP, email); err != nil {
		return err
	}
	// The user is resolved when the link is used, so a send costs one store
	// round trip besides the limits. Only DisableSignup needs to know now
	// whether to mail; both kinds of address still take the same path.
	var userID string
	if s.disableSignup {
		if userID, err = s.lookupUser(ctx, req.OrgID, email); err != nil {
			return err
		}
	}
	link, err := s.issue(ctx, email, req.OrgID, userID, origin, next, s.linkTTL)
	if err != nil {
		return err
	}
	data := mailer.LinkData{To: email, AppName: s.appName, Origin: origin, Link: link.URL, Code: link.Code,
		TTL: s.linkTTL, ExpiresAt: link.ExpiresAt, Locale: req.Locale}
	// A mailer.Dispatcher renders in its worker, off the request path;
	// rendering is most of a send's CPU time.
	deferred, async := s.mailer.(mailer.LinkSender)
	var msg *mailer.Message
	if !async {
		if msg, err = s.templates.Render(data); err != nil {
			return fmt.Errorf("magiclink: rendering the mail: %w", err)
		}
	}
	// Both paths log the same record, and the mail was rendered (when
	// rendering is synchronous) even when it is not sent: any work done for
	// known addresses only would make unknown ones answer measurably faster.
	s.log.InfoContext(ctx, "magiclink: sign-in link issued", "email", maskEmail(email), "origin", origin)
	if userID == "" && s.disableSignup {
		s.log.DebugContext(ctx, "magiclink: no mail for an address without a user (signup disabled)", "email", maskEmail(email))
		return nil
	}
	if async {
		err = deferred.SendLinkMail(ctx, s.templates, data)
	} else {
		err = s.mailer.Send(ctx, msg)
	}
	if err != nil {
		s.log.WarnContext(ctx, "magiclink: mail not accepted", "email", maskEmail(email), "error", err.Error())
		return newError(kindMailUnavailable, "", "", err)
	}
	s.log.DebugContext(ctx, "magiclink: sign-in mail accepted", "email", maskEmail(email))
	return nil
}

// LinkRequest asks CreateLink for a link without mailing it.
type LinkRequest struct {
	// Email is the address to sign in.
	Email string
	// Origin is the origin the link points to; it must be allowed.
	Origin string
	// Next is where to land after signing in (see SendRequest.Next).
	Next string
	// TTL is the link's lifetime (default Config.CreateLinkTTL, max 24 h).
	TTL time.Duration
	// OrgID is the organisation of the user.
	OrgID string
	// UserID is the user the link signs in, if the caller knows it; else the
	// user is looked up by address, or created on first use.
	UserID string
}

// Link is an issued sign-in link.
type Link struct {
	// URL is the full link: {origin}{LinkPath}?token_hash=…&type=magiclink&next=….
	URL string
	// Token is the link secret in the URL.
	Token string
	// Code is the 6-digit code that signs in the same way as the link.
	Code string
	// ExpiresAt is when link and code stop working.
	ExpiresAt time.Time
}

// CreateLink issues a link for a trusted caller (a back end) and returns it
// instead of mailing it. It applies no rate limit: callers limit by their
// own credentials (see Limit).
func (s *Service) CreateLink(ctx context.Context, req LinkRequest) (*Link, error) {
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return nil, err
	}
	origin, next, err := s.resolveTarget(req.Origin, req.Next, "origin", "next")
	if err != nil {
		return nil, err
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = s.createLinkTTL
	}
	if ttl < time.Second || ttl > 24*time.Hour {
		return nil, newError(kindValidation, "ttl", "ttl must be between 1s and 24h", nil)
	}
	userID := req.UserID
	if userID == "" {
		if userID, err = s.lookupUser(ctx, req.OrgID, email); err != nil {
			return nil, err
		}
	}
	return s.issue(ctx, email, req.OrgID, userID, origin, next, ttl)
}

// resolveTarget checks the callback origin against the allowlist and makes
// next a safe path on it.
func (s *Service) resolveTarget(rawOrigin, rawNext, originField, nextField string) (origin, next string, err error) {
	if rawOrigin == "" {
		return "", "", newError(kindOriginNotAllowed, originField, "callback origin is required", nil)
	}
	origin, ok := s.origins.Allow(rawOrigin)
	if !ok {
		return "", "", newError(kindOriginNotAllowed, originField, "origin is not on the allowlist", nil)
	}
	next = rawNext
	// A full URL is accepted only on the callback origin itself; only its
	// path, query and fragment are kept.
	if o, isURL := OriginOf(next); isURL {
		if o != origin {
			return "", "", newError(kindUnsafeNext, nextField, "next points to another origin", nil)
		}
		rest := next[len(o):]
		if i := strings.Index(next, "://"); i >= 0 {
			if j := strings.IndexAny(next[i+3:], "/?#"); j >= 0 {
				rest = next[i+3+j:]
			} else {
				rest = ""
			}
		}
		next = rest
	}
	if next, err = SafeNext(next); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return "", "", newError(kindUnsafeNext, nextField, e.Message, nil)
		}
		return "", "", err
	}
	return origin, next, nil
}

// lookupUser returns the ID of the user with this address, or "" when there
// is none. Both cases take the same path through the store.
func (s *Service) lookupUser(ctx context.Context, orgID, email string) (string, error) {
	u, err := s.store.UserByEmail(ctx, orgID, email)
	switch {
	case err == nil:
		return u.ID, nil
	case errors.Is(err, store.ErrNotFound):
		return "", nil
	default:
		return "", s.storeError(err)
	}
}

// issue stores a new token with a code and returns its link.
func (s *Service) issue(ctx context.Context, email, orgID, userID, origin, next string, ttl time.Duration) (*Link, error) {
	// One read for the secret and the code's bits. crypto/rand.Read never
	// fails (Go ≥ 1.24).
	var random [secretLen + 4]byte
	_, _ = rand.Read(random[:])
	raw := (*[secretLen]byte)(random[:secretLen])
	digest := store.Digest(sha256.Sum256(raw[:]))
	code := codeFrom([4]byte(random[secretLen:]))
	now := s.now()
	t := store.Token{Hash: digest, UserID: userID, Email: email, OrgID: orgID, Origin: origin, Next: next,
		CodeMAC: codeMAC(&s.codeKey, email, code), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.store.PutToken(ctx, &t); err != nil {
		return nil, s.storeError(err)
	}
	u, tokenAt := s.linkURL(origin, raw, next)
	return &Link{URL: u, Token: u[tokenAt : tokenAt+encodedSecretLen], Code: code, ExpiresAt: t.ExpiresAt}, nil
}

// linkURL builds {origin}{LinkPath}?token_hash=…&type=magiclink&next=….
// Slashes in next stay readable ("next=/overview"), as in the documents
// this format follows; everything else that needs it is escaped.
// It returns the URL and the offset of the encoded secret in it, so that
// Link.Token can share the URL's memory.
func (s *Service) linkURL(origin string, raw *[secretLen]byte, next string) (string, int) {
	var b strings.Builder
	b.Grow(len(origin) + len(s.linkPath) + encodedSecretLen + len(next)*3 + 48)
	b.WriteString(origin)
	b.WriteString(s.linkPath)
	b.WriteString("?token_hash=")
	tokenAt := b.Len()
	var enc [64]byte
	base64.RawURLEncoding.Encode(enc[:encodedSecretLen], raw[:])
	b.Write(enc[:encodedSecretLen])
	b.WriteString("&type=magiclink&next=")
	for i := 0; i < len(next); i++ {
		c := next[i]
		if c == '/' || c == '-' || c == '_' || c == '.' || c == '~' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') {
			b.WriteByte(c)
			continue
		}
		const hex = "0123456789ABCDEF"
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String(), tokenAt
}

// Identity is who signed in, and where to.
type Identity struct {
	// UserID and Email identify the user; OrgID is their organisation.
	UserID string
	Email  string
	OrgID  string
	// Origin is the origin the link was issued for; Next the safe path to
	// land on there. Both are empty for an Identity read from a session.
	Origin string
	Next   string
	// Method is how the user proved control of the address: "link" or
	// "code".
	Method string
}

// VerifyOption adjusts one Verify or VerifyCode call. It is a plain value
// (not a function) so that passing one costs no allocation.
type VerifyOption struct{ ip netip.Addr }

// WithClientIP applies the per-IP verify limit to ip.
func WithClientIP(ip netip.Addr) VerifyOption { return VerifyOption{ip: ip} }

// Verify consumes a link token and returns who signed in. Of any number of
// concurrent calls with one token exactly one succeeds. The code from the
// same mail stays usable, so a mail scanner that pressed the confirm button
// does not lock the user out. An unknown,
// expired, used or malformed token is ErrInvalidToken, without telling
// which.
func (s *Service) Verify(ctx context.Context, token string, opts ...VerifyOption) (Identity, error) {
	if err := s.verifyLimit(ctx, opts); err != nil {
		return Identity{}, err
	}
	digest, ok := parseSecret(token)
	if !ok {
		return Identity{}, newError(kindInvalidToken, "", "", nil)
	}
	t, err := s.store.ConsumeToken(ctx, digest)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Identity{}, newError(kindInvalidToken, "", "", nil)
		}
		return Identity{}, s.storeError(err)
	}
	if !digestEqual(t.Hash, digest) || !s.now().Before(t.ExpiresAt) {
		return Identity{}, newError(kindInvalidToken, "", "", nil)
	}
	return s.identity(ctx, t, "link")
}

// VerifyCode consumes the active code of email and returns who signed in;
// the code's link is consumed with it. A wrong, expired or used code is
// ErrInvalidCode; the fifth wrong try kills the code.
func (s *Service) VerifyCode(ctx context.Context, email, code string, opts ...VerifyOption) (Identity, error) {
	if err := s.verifyLimit(ctx, opts); err != nil {
		return Identity{}, err
	}
	email, err := NormalizeEmail(email)
	if err != nil {
		return Identity{}, err
	}
	// Mails show the code spaced for reading ("123 456"); accept it as
	// typed or pasted.
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, code)
	if !validCode(code) {
		return Identity{}, newError(kindInvalidCode, "code", "code must be 6 digits", nil)
	}
	t, err := s.store.ConsumeCode(ctx, email, codeMAC(&s.codeKey, email, code), MaxCodeTries)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrCodeMismatch) {
			return Identity{}, newError(kindInvalidCode, "", "", nil)
		}
		return Identity{}, s.storeError(err)
	}
	if !s.now().Before(t.ExpiresAt) {
		return Identity{}, newError(kindInvalidCode, "", "", nil)
	}
	return s.identity(ctx, t, "code")
}

func (s *Service) verifyLimit(ctx context.Context, opts []VerifyOption) error {
	var ip netip.Addr
	for _, o := range opts {
		if o.ip.IsValid() {
			ip = o.ip
		}
	}
	if !ip.IsValid() {
		return nil
	}
	return s.Limit(ctx, "verify-ip", s.limits.VerifyPerIP, IPKey(ip))
}

// identity resolves the user of a consumed token, creating it on first
// sign-in unless signup is disabled.
func (s *Service) identity(ctx context.Context, t *store.Token, method string) (Identity, error) {
	id := Identity{UserID: t.UserID, Email: t.Email, OrgID: t.OrgID, Origin: t.Origin, Next: t.Next, Method: method}
	if id.UserID != "" {
		return id, nil
	}
	userID, err := s.lookupUser(ctx, t.OrgID, t.Email)
	if err != nil {
		return Identity{}, err
	}
	if userID == "" {
		if s.disableSignup {
			return Identity{}, newError(kindInvalidToken, "", "", nil)
		}
		u := &store.User{ID: randomID("usr_"), OrgID: t.OrgID, Email: t.Email, CreatedAt: s.now()}
		switch err := s.store.CreateUser(ctx, u); {
		case err == nil:
			userID = u.ID
		case errors.Is(err, store.ErrExists):
			// A concurrent first sign-in created the user first.
			if userID, err = s.lookupUser(ctx, t.OrgID, t.Email); err != nil {
				return Identity{}, err
			}
		default:
			return Identity{}, s.storeError(err)
		}
	}
	id.UserID = userID
	return id, nil
}

// limitSend applies the per-IP and per-address limits of a send: in one
// round trip when the limiter is a BatchLimiter, else one after the other.
// Batched, a request the IP limit denies still counts against the address;
// that gives an attacker nothing new, since a single IP's own burst (10)
// already exceeds an address's (2).
func (s *Service) limitSend(ctx context.Context, ip netip.Addr, email string) error {
	if s.limits.off {
		return nil
	}
	var reqs [2]ratelimit.Request
	n := 0
	if ip.IsValid() && s.limits.SendPerIP.Limit != 0 {
		reqs[n] = ratelimit.Request{Key: "send-ip:" + IPKey(ip), Rate: s.limits.SendPerIP}
		n++
	}
	if s.limits.SendPerEmail.Limit != 0 {
		reqs[n] = ratelimit.Request{Key: "send-email:" + email, Rate: s.limits.SendPerEmail}
		n++
	}
	if bl, ok := s.limiter.(ratelimit.BatchLimiter); ok && n > 1 {
		ds, err := bl.AllowBatch(ctx, reqs[:n])
		if err != nil {
			return s.storeError(err)
		}
		if len(ds) != n {
			return newError(kindStoreUnavailable, "", "", fmt.Errorf("limiter returned %d decisions for %d keys", len(ds), n))
		}
		for _, d := range ds {
			if !d.Allowed {
				return rateLimited(d)
			}
		}
		return nil
	}
	for _, r := range reqs[:n] {
		d, err := s.limiter.Allow(ctx, r.Key, r.Rate)
		if err != nil {
			return s.storeError(err)
		}
		if !d.Allowed {
			return rateLimited(d)
		}
	}
	return nil
}

// Limit counts one event for key under rate r in the named scope and returns
// ErrRateLimited (with RetryAfter in whole seconds, at least 1) when it is
// denied. The HTTP adapter uses it for per-API-key and per-subject limits.
func (s *Service) Limit(ctx context.Context, scope string, r ratelimit.Rate, key string) error {
	if s.limits.off || r.Limit == 0 {
		return nil
	}
	d, err := s.limiter.Allow(ctx, scope+":"+key, r)
	if err != nil {
		return s.storeError(err)
	}
	if d.Allowed {
		return nil
	}
	return rateLimited(d)
}

// rateLimited is the ErrRateLimited of a denial, with RetryAfter in whole
// seconds, rounded up, at least 1.
func rateLimited(d ratelimit.Decision) error {
	retry := (d.RetryAfter + time.Second - 1).Truncate(time.Second)
	if retry < time.Second {
		retry = time.Second
	}
	e := newError(kindRateLimited, "", fmt.Sprintf("too many requests; retry in %d seconds", int(retry/time.Second)), nil)
	e.RetryAfter = retry
	return e
}

// IPKey returns the rate-limit key of a client address: the address itself
// for IPv4, its /64 for IPv6 (one subscriber usually holds a whole /64).
func IPKey(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}

// storeError maps a store or limiter failure to ErrStoreUnavailable,
// keeping the cause for logs. Context cancellation is passed through.
func (s *Service) storeError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, store.ErrUnavailable) {
		return err
	}
	if errors.Is(err, store.ErrFull) {
		s.log.Error("magiclink: store full", "error", err.Error())
	}
	return newError(kindStoreUnavailable, "", "", err)
}
