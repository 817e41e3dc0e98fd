package pgstore

import (
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, clock func() time.Time) storetest.Harness {
		r := newRig(t)
		return storetest.Harness{
			Store: r.store(t, WithClock(clock)),
			// Every call then fails in the pool, before reaching the
			// server; TestOutage kills a real server.
			Break: func(*testing.T) { r.pool.Close() },
		}
	})
}
