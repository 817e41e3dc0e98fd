package store

import "context"

// Pinger is an optional capability of a store, found by type assertion:
// Ping reports whether the backend can serve now, with an error matching
// ErrUnavailable when it cannot. It costs one round trip at most and
// changes nothing, so readiness probes can call it often.
type Pinger interface {
	Ping(ctx context.Context) error
}
