// Package core is how this module's own packages (the HTTP adapter) reach
// the parts of a magiclink.Service that are not public API: its clock,
// logger, store, allowlist and limiter.
//
// The mechanism: magiclink.New builds a View from closures over the new
// Service's fields and keeps it on the Service; Service.Internal hands it
// out in exchange for a Key. Key is declared here, in an internal package,
// with an unexported field, so no package outside this module can name,
// make or pass one, and the method is uncallable there. There is no global
// state and no init: each Service carries its own View.
package core

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/magiclink-go/magiclink/internal/telemetry"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

// Key is the argument of magiclink.Service.Internal. Its zero value, Key{},
// is the only value there is.
type Key struct{ _ key }

type key struct{}

// View is what the adapter reads of a Service. Every field is set.
type View struct {
	// Now is the Service's clock.
	Now func() time.Time
	// Logger is the Service's logger.
	Logger *slog.Logger
	// AppName is the application name shown in mails and pages.
	AppName string
	// LinkPath is the path sign-in links point to.
	LinkPath string
	// Store is the Service's store.
	Store store.Store
	// Allow is the Service's callback-origin allowlist check
	// (magiclink.Origins.Allow); Origins prints the allowlist.
	Allow   func(origin string) (canonical string, ok bool)
	Origins fmt.Stringer
	// OriginPatterns are the allowlist's patterns as configured.
	OriginPatterns []string
	// Limit counts one event for key under r in the named scope ("api_key"
	// or "admin_subject": a closed set, since a refusal is counted in
	// telemetry under it) and returns an error matching
	// magiclink.ErrRateLimited when it is denied (nothing when the
	// Service's limits are off or r is disabled).
	Limit func(ctx context.Context, scope string, r ratelimit.Rate, key string) error
	// WellFormedToken reports whether a link token has the shape of one,
	// without asking the store.
	WellFormedToken func(token string) bool
	// CreatePerAPIKey and AdminPerSubject are the Service's rates for the
	// partner and admin endpoints.
	CreatePerAPIKey, AdminPerSubject ratelimit.Rate
	// Telemetry records the adapter's request metrics beside the Service's.
	Telemetry *telemetry.Instruments
	// RequireSameDevice is magiclink.Config.RequireSameDevice: the confirm
	// page then offers no sign-in on another device than the asking one.
	RequireSameDevice bool
}
