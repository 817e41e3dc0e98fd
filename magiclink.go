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
	"errors"
	"log/slog"
	"time"

	"github.com/magiclink-go/magiclink/internal/core"
	"github.com/magiclink-go/magiclink/internal/telemetry"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

// Service issues and verifies sign-in links. It is safe for concurrent use.
type Service struct {
	origins       *Origins
	store         store.Store
	users         store.Users
	hooks         Hooks
	limiter       ratelimit.Limiter
	limits        Limits
	mailer        mailer.Mailer
	templates     mailer.Renderer
	linkLocales   map[string]string // locale → "&locale=…" (linklocale.go)
	appName       string
	linkPath      string
	linkTTL       time.Duration
	createLinkTTL time.Duration
	disableSignup bool
	sameDevice    bool
	codeKey       macKey
	access        *accessKeys
	accessTTL     time.Duration
	sessionIdle   time.Duration
	sessionMax    time.Duration
	now           func() time.Time
	log           *slog.Logger
	// tokensAt is the store's TokensAt when the clock is the real one, so
	// that issue and verify each read the clock once; nil otherwise.
	tokensAt store.TokensAt

	view *core.View
	tel  *telemetry.Instruments

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
	errs = append(errs, s.checkSessionTTLs())
	errs = append(errs, checkSameDevice(cfg))
	if secret != nil {
		errs = append(errs, s.deriveKeys(secret, cfg))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if s.tel, err = telemetry.New(cfg.MeterProvider, cfg.TracerProvider); err != nil {
		return nil, configError("MeterProvider", err.Error())
	}
	s.startDefaults(cfg.Clock == nil)
	s.view = s.newView()
	return s, nil
}

// newService copies cfg into a Service, with defaults for what is unset.
func newService(cfg Config) *Service {
	s := &Service{
		store:         cfg.Store,
		users:         cfg.Users,
		hooks:         cfg.Hooks,
		limiter:       cfg.Limiter,
		limits:        cfg.Limits,
		mailer:        cfg.Mailer,
		templates:     cfg.Templates,
		appName:       cmp.Or(cfg.AppName, "magiclink"),
		linkPath:      cmp.Or(cfg.LinkPath, "/auth/verify"),
		linkTTL:       cmp.Or(cfg.LinkTTL, 15*time.Minute),
		createLinkTTL: cmp.Or(cfg.CreateLinkTTL, 3*time.Minute),
		disableSignup: cfg.DisableSignup,
		accessTTL:     cmp.Or(cfg.AccessTokenTTL, DefaultAccessTokenTTL),
		sessionIdle:   cmp.Or(cfg.SessionIdleTTL, DefaultSessionIdleTTL),
		sessionMax:    cmp.Or(cfg.SessionMaxTTL, DefaultSessionMaxTTL),
		sameDevice:    cfg.RequireSameDevice,
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
	s.linkLocales = newLinkLocales(s.templates)
	return s
}

// startDefaults makes the in-memory store and limiter Config left unset;
// Close stops them. realClock says Config.Clock was left unset (time.Now).
func (s *Service) startDefaults(realClock bool) {
	if s.store == nil {
		var opts []store.MemoryOption
		if !realClock {
			opts = append(opts, store.WithClock(s.now))
		}
		m := store.NewMemory(opts...)
		s.store = m
		s.closers = append(s.closers, m.Close)
	}
	if ta, ok := s.store.(store.TokensAt); ok && realClock {
		s.tokensAt = ta
	}
	if s.users == nil {
		s.users = s.store
	}
	if s.limiter == nil {
		l := ratelimit.NewMemory(ratelimit.WithClock(s.now))
		s.limiter = l
		s.closers = append(s.closers, l.Close)
	}
}

// newView is the view of s the adapter gets from Internal.
func (s *Service) newView() *core.View {
	return &core.View{Now: s.now, Logger: s.log, AppName: s.appName, LinkPath: s.linkPath, Store: s.store,
		Allow: s.origins.Allow, Origins: s.origins, OriginPatterns: s.origins.Patterns(), Limit: s.limit, WellFormedToken: wellFormedToken,
		CreatePerAPIKey: s.limits.CreatePerAPIKey, AdminPerSubject: s.limits.AdminPerSubject, Telemetry: s.tel,
		RequireSameDevice: s.sameDevice}
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

// Internal returns what this module's own packages (the HTTP adapter) read
// of s beyond its public API. Its argument's type is declared in an internal
// package, so no code outside this module can call it; see package
// internal/core for the mechanism.
func (s *Service) Internal(core.Key) *core.View { return s.view }

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
