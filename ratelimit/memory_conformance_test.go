package ratelimit_test

import (
	"testing"

	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/ratelimit/ratelimittest"
)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Limiter {
		l := ratelimit.NewMemory()
		t.Cleanup(func() { _ = l.Close() })
		return l
	})
}
