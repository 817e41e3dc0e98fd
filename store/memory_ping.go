package store

import (
	"context"
	"fmt"
)

var _ Pinger = (*Memory)(nil)

// Ping reports that the in-memory store can serve: it always can, unless
// ctx has already ended.
func (m *Memory) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}
