#!/usr/bin/env bash
# Runs every side-by-side benchmark of this module and prints a table of
# medians with the speedup of ours over each peer.
#
# Benchmarks are named Benchmark<Group>/<impl>/<mode>; benchtable pairs each
# impl with Benchmark<Group>/ours/<mode>. Groups:
#   Limiter       limiter_test.go — ratelimit.Memory vs
#                 sethvargo/go-limiter memorystore and a map of
#                 x/time/rate limiters, 100k keys, serial and parallel.
#   RedisLimiter  (to be added in redis_limiter_test.go) — redisstore's GCRA
#                 limiter vs go-redis/redis_rate on the same server; it needs
#                 nothing here beyond following the naming.
#
# Environment: BENCH (go test -bench regexp, default "."), COUNT (rounds,
# default 5), BENCHTIME (default 1s).
set -euo pipefail
cd "$(dirname "$0")"

bench="${BENCH:-.}"
count="${COUNT:-5}"
benchtime="${BENCHTIME:-1s}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# -mod=mod: bench replaces the root module with ../, so a dependency the
# root gains must be picked up here without a manual tidy.
go test -mod=mod -c -o "$work/bench.test" .

# One round runs every benchmark once; rounds repeat the whole set rather
# than using -count, which would repeat each benchmark back to back. On a
# shared machine a burst of outside load then hits one round of every impl
# instead of all runs of one impl, and the medians stay comparable.
for round in $(seq "$count"); do
	echo "# round $round/$count" >&2
	"$work/bench.test" -test.run='^$' -test.bench="$bench" -test.benchmem \
		-test.benchtime="$benchtime" -test.timeout=60m | tee -a "$work/raw.txt"
done
echo
go run -mod=mod ./benchtable <"$work/raw.txt"

# Whole flow over loopback HTTP (DESIGN §10): send then verify through the
# HTTP adapter, 16 connections, with the Redis store and limiter, then with
# pgstore as both (a throwaway PostgreSQL cluster).
if command -v redis-server >/dev/null 2>&1; then
	echo
	go run -mod=mod ./flowload -store redis -conns 16 -duration "${FLOW_DURATION:-5s}"
else
	echo "flowload -store redis skipped: redis-server not on PATH" >&2
fi
if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1; then
	echo
	go run -mod=mod ./flowload -store postgres -conns 16 -duration "${FLOW_DURATION:-5s}"
else
	echo "flowload -store postgres skipped: initdb not under /usr/lib/postgresql/*/bin or on PATH" >&2
fi
