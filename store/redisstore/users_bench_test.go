package redisstore

import (
	"context"
	"strconv"
	"testing"

	"github.com/magiclink-go/magiclink/internal/randid"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/store"
)

// BenchmarkFirstSignInStore is the store's part of a first sign-in's
// user: FindOrCreateUser of a new address, on one server and on a Cluster,
// with the commands it sends.
func BenchmarkFirstSignInStore(b *testing.B) {
	for _, name := range []string{"single", "cluster"} {
		b.Run(name, func(b *testing.B) {
			cmds := roundTrips{eachCommand: true}
			var s *Store
			if name == "single" {
				c := testredis.Start(b).Client(b)
				c.AddHook(&cmds)
				s = newStore(b, c)
			} else {
				c := testredis.StartCluster(b).Client(b)
				c.AddHook(&cmds)
				s = newStore(b, c)
			}
			ctx := context.Background()
			for i := range 50 { // loads the script on every master
				_, _, _ = s.FindOrCreateUser(ctx, &store.User{ID: randid.New("usr_"), Email: "warm" + strconv.Itoa(i) + "@example.com"})
			}
			b.ReportAllocs()
			before := cmds.n.Load()
			for i := 0; b.Loop(); i++ {
				if _, created, err := s.FindOrCreateUser(ctx, &store.User{ID: randid.New("usr_"), Email: "new" + strconv.Itoa(i) + "@example.com"}); err != nil || !created {
					b.Fatal(err, created)
				}
			}
			b.ReportMetric(float64(cmds.n.Load()-before)/float64(b.N), "commands/op")
		})
	}
}
