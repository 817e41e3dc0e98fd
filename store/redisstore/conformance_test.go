package redisstore

import (
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	storetest.Run(t, func(t *testing.T, clock func() time.Time) storetest.Harness {
		// A client per subtest, so that one subtest's outage leaves no
		// dial-failure state in the next subtest's pool.
		s := newStore(t, fastFailClient(t, srv.Addr()), WithClock(clock))
		return storetest.Harness{
			Store: s,
			Break: func(t *testing.T) {
				srv.Stop(t)
				t.Cleanup(func() { srv.Restart(t) })
			},
		}
	})
}

func TestConformanceCluster(t *testing.T) {
	t.Parallel()
	cl := testredis.StartCluster(t)
	rdb := cl.Client(t)
	storetest.Run(t, func(t *testing.T, clock func() time.Time) storetest.Harness {
		return storetest.Harness{Store: newStore(t, rdb, WithClock(clock))}
	})
}

func TestConformanceSentinel(t *testing.T) {
	t.Parallel()
	st := testredis.StartSentinel(t)
	storetest.Run(t, func(t *testing.T, clock func() time.Time) storetest.Harness {
		return storetest.Harness{
			Store: newStore(t, st.Client(t), WithClock(clock), WithTimeout(500*time.Millisecond)),
			Break: func(t *testing.T) {
				st.Master().Stop(t)
				t.Cleanup(func() { st.Master().Restart(t) })
			},
		}
	})
}
