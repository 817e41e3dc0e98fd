package store

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemoryPing(t *testing.T) {
	t.Parallel()
	m := NewMemory(WithSweepInterval(0))
	var p Pinger = m
	require.NoError(t, p.Ping(t.Context()))
	require.NoError(t, m.Close())
	assert.NoError(t, m.Ping(t.Context()), "the store stays usable after Close")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	assert.ErrorIs(t, m.Ping(ctx), context.Canceled)
}
