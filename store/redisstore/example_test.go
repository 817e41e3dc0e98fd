package redisstore_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store/redisstore"
)

// One Store serves as both the store and the rate limiter of a Service, so
// that every instance of a server shares links, codes, users and limits.
func ExampleNew() {
	rdb := redis.NewClient(&redis.Options{
		Addr: "127.0.0.1:6379",
		// Let the store's per-call deadline bound socket I/O as well.
		ContextTimeoutEnabled: true,
	})
	defer rdb.Close()

	s, err := redisstore.New(rdb, redisstore.WithPrefix("myapp"), redisstore.WithTimeout(time.Second))
	if err != nil {
		log.Fatal(err)
	}

	// s implements store.Store and ratelimit.Limiter; pass it as both
	// Config.Store and Config.Limiter. Used directly as a limiter:
	d, err := s.Allow(context.Background(), "ip:192.0.2.1", ratelimit.Rate{Limit: 30, Period: 10 * time.Minute, Burst: 10})
	if err != nil {
		log.Fatal(err) // matches store.ErrUnavailable while Redis is down
	}
	fmt.Println(d.Allowed)
}

// A Cluster works the same way: every key carries a hash tag.
func ExampleNew_cluster() {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"},
		ContextTimeoutEnabled: true,
	})
	defer rdb.Close()
	s, err := redisstore.New(rdb)
	if err != nil {
		log.Fatal(err)
	}
	_ = s
}
