package redisstore

import (
	"context"

	"github.com/magiclink-go/magiclink/store"
)

var _ store.Pinger = (*Store)(nil)

// Ping sends one PING (under the store's per-call timeout when ctx has no
// deadline) and returns an error matching store.ErrUnavailable when Redis
// cannot answer, for readiness probes. On a Cluster client it reaches one
// node.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	return mapErr("ping", s.rdb.Ping(ctx).Err())
}
