// Command server is the magiclink example server: a sign-in page, the
// library's HTTP endpoints and a development mailbox, with no setup.
//
//	go run ./examples/server
//
// Configuration is by environment variables (see README.md). The wiring
// lives in package app so that tests, the browser tests among them, can run
// the server in-process.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink/examples/server/app"
)

func main() {
	// go-redis prints connection-pool complaints straight to stderr, which
	// would break the promise of one clear line on a start-up failure; the
	// store reports Redis failures itself, through the server's logger.
	redis.SetLogger(discardRedisLog{})
	// SIGINT (Ctrl-C) and SIGTERM end ctx; app.Main then shuts the server
	// down gracefully before returning.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// discardRedisLog drops go-redis's internal log lines.
type discardRedisLog struct{}

func (discardRedisLog) Printf(context.Context, string, ...any) {}
