package ratelimit_test

import (
	"context"
	"fmt"
	"time"

	"github.com/magiclink-go/magiclink/ratelimit"
)

// Three events per minute in bursts of two: the third at once is denied,
// with how long to wait.
func ExampleMemory_Allow() {
	l := ratelimit.NewMemory()
	defer l.Close()
	r := ratelimit.Rate{Limit: 3, Period: time.Minute, Burst: 2}
	for range 3 {
		d, err := l.Allow(context.Background(), "ip:192.0.2.1", r)
		if err != nil {
			panic(err)
		}
		fmt.Println(d.Allowed, d.Remaining, d.RetryAfter.Round(time.Second))
	}
	// Output:
	// true 1 0s
	// true 0 0s
	// false 0 20s
}
