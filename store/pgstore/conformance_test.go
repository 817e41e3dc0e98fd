package pgstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	db := pg.Database(t)
	var schemas atomic.Int32
	storetest.Run(t, func(t *testing.T, clock func() time.Time) storetest.Harness {
		// A fresh schema per subtest (7× cheaper than a database), and a
		// pool of its own, which Break closes: every call then fails in
		// the pool, before reaching the server. TestOutage kills a real
		// server.
		pool := db.Pool(t)
		schema := fmt.Sprintf("conformance_%d", schemas.Add(1))
		if err := Migrate(context.Background(), pool, WithSchema(schema)); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		s, err := New(context.Background(), pool, WithSchema(schema), WithClock(clock), WithSweepInterval(0))
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return storetest.Harness{Store: s, Break: func(*testing.T) { pool.Close() }}
	})
}
