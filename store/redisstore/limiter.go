package redisstore

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/magiclink-go/magiclink/internal/gcra"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/redis/go-redis/v9"
)

// gcraScript is one GCRA decision on the TAT key KEYS[1], on the Redis
// server's clock. ARGV: the emission interval T and B·T, both in
// nanoseconds. The stored TAT is absolute Unix nanoseconds as a decimal
// string; it is split into seconds and nanoseconds and all arithmetic runs
// relative to the current second of TIME, so every value stays an exact
// integer in Lua's doubles as long as TAT is less than about 104 days ahead
// (2^53 ns). TIME has microsecond resolution.
//
// It returns {1, newTat − now} when allowed (after storing newTat with a TTL
// that ends at or just after newTat) and {0, allowAt − now, tat − now} when
// denied, writing nothing.
const gcraScript = `
local t = redis.call('TIME')
local sec = tonumber(t[1])
local now = tonumber(t[2]) * 1000
local T = tonumber(ARGV[1])
local BT = tonumber(ARGV[2])
local tat = now
local v = redis.call('GET', KEYS[1])
if v then
  local n = string.len(v)
  local stored = (tonumber(string.sub(v, 1, n - 9)) - sec) * 1e9 + tonumber(string.sub(v, n - 8))
  if stored > now then
    tat = stored
  end
end
local newTat = tat + T
local allowAt = newTat - BT
if now < allowAt then
  return {0, allowAt - now, tat - now}
end
local s = math.floor(newTat / 1e9)
local ns = newTat - s * 1e9
if ns < 0 then
  s = s - 1
  ns = ns + 1e9
elseif ns >= 1e9 then
  s = s + 1
  ns = ns - 1e9
end
redis.call('SET', KEYS[1], string.format('%d%09d', sec + s, ns), 'PX', math.ceil((newTat - now) / 1e6))
return {1, newTat - now}
`

// Allow implements ratelimit.Limiter with GCRA in one Lua script and one
// round trip, on the Redis server's clock, so every instance sharing the
// server enforces one limit. Its decisions follow ratelimit.Memory
// exactly: with T = Period/Limit and B = Burst (1 when Burst ≤ 0),
//
//	tat = max(stored TAT, now); newTat = tat + T; allowAt = newTat − B·T
//
// now < allowAt denies (RetryAfter = allowAt − now, ResetAfter = tat − now,
// Remaining 0) and writes nothing; otherwise newTat is stored, expiring when
// it is reached, and Remaining = ⌊(now − allowAt)/T⌋ capped at B−1,
// ResetAfter = newTat − now. A Rate with Limit 0 allows everything without a
// round trip. Keys may be any string; long or unusual ones are hashed.
func (s *Store) Allow(ctx context.Context, key string, r ratelimit.Rate) (ratelimit.Decision, error) {
	if r.Limit == 0 {
		return ratelimit.Decision{Allowed: true, Remaining: math.MaxInt}, nil
	}
	t, b, err := gcraParams(r)
	if err != nil {
		return ratelimit.Decision{}, err
	}
	if err := ctx.Err(); err != nil {
		return ratelimit.Decision{}, mapErr("rate limit", err)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	res, err := s.gcra.Run(ctx, s.rdb, []string{s.limitKey(key)}, t, b*t).Int64Slice()
	if err != nil {
		return ratelimit.Decision{}, mapErr("rate limit", err)
	}
	return gcraDecision(res, t, b)
}

// AllowBatch implements ratelimit.BatchLimiter: every decision in one
// pipelined round trip (a Cluster client splits the pipeline by node). Each
// key is decided by the same script as Allow, independently.
func (s *Store) AllowBatch(ctx context.Context, reqs []ratelimit.Request) ([]ratelimit.Decision, error) {
	out := make([]ratelimit.Decision, len(reqs))
	params := make([][2]int64, len(reqs))
	live := 0
	for i, r := range reqs {
		if r.Rate.Limit == 0 {
			out[i] = ratelimit.Decision{Allowed: true, Remaining: math.MaxInt}
			continue
		}
		t, b, err := gcraParams(r.Rate)
		if err != nil {
			return nil, err
		}
		params[i] = [2]int64{t, b}
		live++
	}
	if live == 0 {
		return out, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, mapErr("rate limit", err)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	cmds := make([]*redis.Cmd, len(reqs))
	args := func(i int) ([]string, int64, int64) {
		t, b := params[i][0], params[i][1]
		return []string{s.limitKey(reqs[i].Key)}, t, b * t
	}
	pipe := s.rdb.Pipeline()
	for i, r := range reqs {
		if r.Rate.Limit != 0 {
			keys, t, bt := args(i)
			cmds[i] = s.gcra.EvalSha(ctx, pipe, keys, t, bt)
		}
	}
	_, _ = pipe.Exec(ctx) // errors are read per command below
	// A server that does not have the script yet (first use, SCRIPT FLUSH,
	// or one Cluster node of several) answers NOSCRIPT and ran nothing:
	// send the source for exactly those commands, so none counts twice.
	var retry redis.Pipeliner
	for i, c := range cmds {
		if c != nil && redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			if retry == nil {
				retry = s.rdb.Pipeline()
			}
			keys, t, bt := args(i)
			cmds[i] = s.gcra.Eval(ctx, retry, keys, t, bt)
		}
	}
	if retry != nil {
		_, _ = retry.Exec(ctx)
	}
	for i, c := range cmds {
		if c == nil {
			continue
		}
		res, err := c.Int64Slice()
		if err != nil {
			return nil, mapErr("rate limit", err)
		}
		if out[i], err = gcraDecision(res, params[i][0], params[i][1]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// gcraDecision reads the script's reply: {1, resetAfter} when allowed,
// {0, retryAfter, resetAfter} when denied, in nanoseconds.
func gcraDecision(res []int64, t, b int64) (ratelimit.Decision, error) {
	switch {
	case len(res) == 2 && res[0] == 1:
		reset := res[1]
		return ratelimit.Decision{
			Allowed: true,
			// now − allowAt = B·T − (newTat − now).
			Remaining:  int(min((b*t-reset)/t, b-1)),
			ResetAfter: time.Duration(reset),
		}, nil
	case len(res) == 3 && res[0] == 0:
		return ratelimit.Decision{RetryAfter: time.Duration(res[1]), ResetAfter: time.Duration(res[2])}, nil
	}
	return ratelimit.Decision{}, fmt.Errorf("redisstore: rate limit: %w: unexpected reply %v", errCorrupt, res)
}

// gcraParams returns the emission interval and burst of a rate with
// Limit ≠ 0, rejecting the rates ratelimit.Memory rejects (B·T is bounded
// so that sums of timestamps cannot overflow int64).
func gcraParams(r ratelimit.Rate) (t, b int64, err error) {
	t, b, err = gcra.Params(r.Limit, r.Period, r.Burst)
	if err != nil {
		return 0, 0, fmt.Errorf("redisstore: %w: %v", ratelimit.ErrInvalidRate, err)
	}
	return t, b, nil
}
