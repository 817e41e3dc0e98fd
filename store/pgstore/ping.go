package pgstore

import (
	"context"

	"github.com/magiclink-go/magiclink/store"
)

var _ store.Pinger = (*Store)(nil)

// Ping implements store.Pinger for readiness checks: one round trip on a
// pooled connection, bounded by the store's timeout. A server that cannot
// be reached matches store.ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return s.fail(ctx, "ping", err)
	}
	return nil
}
