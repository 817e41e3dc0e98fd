// Package redisflow holds no library code, only tests of whole sign-in
// flows on a real Redis, through the real HTTP handlers of magiclinktest
// harnesses: several instances sharing one Redis under load (limits hold
// across instances, every link is redeemed once), Redis killed and
// restarted under load (503 STORE_UNAVAILABLE with Retry-After while it is
// down, never a 500, service back after the restart, no goroutine left),
// and a dump of Redis holding no link secret or code.
//
// Run it with
//
//	MAGICLINK_REQUIRE_REDIS=1 go test -race -v ./internal/redisflow/
//
// The tests skip when redis-server is not on PATH unless
// MAGICLINK_REQUIRE_REDIS=1. Load figures are printed with t.Logf.
package redisflow
