#!/usr/bin/env bash
# Runs every side-by-side benchmark of this module and prints a table of
# medians with the speedup of ours over each peer.
#
# Benchmarks are named Benchmark<Group>/<impl>/<mode>; benchtable pairs each
# impl with Benchmark<Group>/ours/<mode>. Groups:
#   Limiter       limiter_test.go — magiclink.MemoryLimiter vs
#                 sethvargo/go-limiter memorystore and a map of
#                 x/time/rate limiters, 100k keys, serial and parallel.
#   RedisLimiter  (to be added in redis_limiter_test.go) — redisstore's GCRA
#                 limiter vs go-redis/redis_rate on the same server; it needs
#                 nothing here beyond following the naming.
#
# Environment: BENCH (go test -bench regexp, default "."), COUNT (default 5).
set -euo pipefail
cd "$(dirname "$0")"

bench="${BENCH:-.}"
count="${COUNT:-5}"
raw="$(mktemp)"
trap 'rm -f "$raw"' EXIT

# -count runs the whole top-level benchmark again each time, so the impls of
# a group alternate and drift on a busy machine hits them alike.
go test -run='^$' -bench="$bench" -benchmem -count="$count" -timeout=60m . | tee "$raw"
echo
go run ./benchtable <"$raw"
