// Package reliability holds no library code, only the reliability and
// security suite of magiclink (issue 8): tests that fail when a promise of
// SECURITY.md or DESIGN.md breaks under faults (Redis killed and restarted,
// SMTP down, slow or answering 4xx), attacks (open redirects, forged JWTs,
// header injection, hostile JSON, spoofed forwarded headers), load across
// instances sharing one Redis, timing (known versus unknown addresses) and
// logging (no secret ever reaches a log). It also carries a fuzz target for
// request decoding through the real HTTP handler.
//
// Run it with
//
//	MAGICLINK_REQUIRE_REDIS=1 go test -race -v ./internal/reliability/
//
// and without -race for the load and timing figures, which are printed with
// t.Logf. Redis tests skip when redis-server is not on PATH unless
// MAGICLINK_REQUIRE_REDIS=1.
package reliability
