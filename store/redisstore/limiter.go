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

// luaClock is the prelude of the limiter scripts. It reads the Redis
// server's clock and defines how a TAT is loaded and stored. A TAT is kept
// as absolute Unix nanoseconds in a decimal string; it is split into
// seconds and nanoseconds and all arithmetic runs relative to the current
// second of TIME, so every value stays an exact integer in Lua's doubles as
// long as TAT is less than about 104 days ahead (2^53 ns). TIME has
// microsecond resolution. store writes a TAT with a TTL that ends at or
// just after it.
const luaClock = `
local t = redis.call('TIME')
local sec = tonumber(t[1])
local now = tonumber(t[2]) * 1000
local function load(key)
  local v = redis.call('GET', key)
  if not v then
    return nil
  end
  local n = string.len(v)
  return (tonumber(string.sub(v, 1, n - 9)) - sec) * 1e9 + tonumber(string.sub(v, n - 8))
end
local function store(key, tat)
  local s = math.floor(tat / 1e9)
  local ns = tat - s * 1e9
  if ns < 0 then
    s = s - 1
    ns = ns + 1e9
  elseif ns >= 1e9 then
    s = s + 1
    ns = ns - 1e9
  end
  redis.call('SET', key, string.format('%d%09d', sec + s, ns), 'PX', math.ceil((tat - now) / 1e6))
end
`

// gcraScript decides the GCRA requests on KEYS all or nothing. ARGV holds,
// per key, the emission interval T and B·T in nanoseconds. Every key is
// checked first, as if the requests came one after the other (a key listed
// twice sees its first charge); only when all are allowed is any stored.
//
// It returns {ok, then per key: retry, tat − now, newTat − now}, where ok
// is 1 when the batch is allowed and retry is allowAt − now for a key that
// alone would be refused, else 0.
const gcraScript = luaClock + `
local ok = 1
local out = {0}
local pending = {}
local news = {}
for i = 1, #KEYS do
  local T = tonumber(ARGV[2 * i - 1])
  local BT = tonumber(ARGV[2 * i])
  local tat = pending[KEYS[i]]
  if not tat then
    tat = now
    local stored = load(KEYS[i])
    if stored and stored > now then
      tat = stored
    end
  end
  local newTat = tat + T
  pending[KEYS[i]] = newTat
  news[i] = newTat
  local retry = 0
  if now < newTat - BT then
    ok = 0
    retry = newTat - BT - now
  end
  out[#out + 1] = retry
  out[#out + 1] = tat - now
  out[#out + 1] = newTat - now
end
if ok == 1 then
  for i = 1, #KEYS do
    store(KEYS[i], news[i])
  end
end
out[1] = ok
return out
`

// refundScript gives back one emission interval (ARGV[i], nanoseconds) to
// each of KEYS: the charge of a batch whose other slots refused (Cluster
// only, see AllowBatch). A TAT that falls to now or before is deleted,
// which is the same as a full burst.
const refundScript = luaClock + `
for i = 1, #KEYS do
  local stored = load(KEYS[i])
  if stored then
    local back = stored - tonumber(ARGV[i])
    if back > now then
      store(KEYS[i], back)
    else
      redis.call('DEL', KEYS[i])
    end
  end
end
return 1
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
// round trip. Keys may be any string; they are stored hashed.
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
	req := [1]limitReq{{key: s.limitKey(key), t: t, b: b}}
	res, err := s.gcra.Run(ctx, s.rdb, []string{req[0].key}, t, b*t).Int64Slice()
	if err != nil {
		return ratelimit.Decision{}, mapErr("rate limit", err)
	}
	var d [1]ratelimit.Decision
	if err := fillDecisions(d[:], req[:], res, len(res) > 0 && res[0] == 1); err != nil {
		return ratelimit.Decision{}, err
	}
	return d[0], nil
}

// limitReq is one live request of a batch: its stored key and GCRA
// parameters.
type limitReq struct {
	req  int
	key  string
	t, b int64
}

// AllowBatch implements ratelimit.BatchLimiter: all or nothing, in one Lua
// script over every key and one round trip. On a Cluster the keys of one
// script must share a slot, and limiter keys are hashed into many: there a
// batch runs one script per slot, all sent at once in one round trip, and
// when some slot refused while others charged, a second round trip refunds
// the charges. The outcome is still all or nothing; only a request on the
// same keys that runs between the two round trips can see the charge that
// is about to be refunded (and be refused by it), so under contention a
// Cluster may allow fewer than the burst, never more. (A refund delayed by
// more than a key's emission interval can hand back up to one interval
// that had already decayed.)
func (s *Store) AllowBatch(ctx context.Context, reqs []ratelimit.Request) ([]ratelimit.Decision, error) {
	out := make([]ratelimit.Decision, len(reqs))
	live := make([]limitReq, 0, len(reqs))
	for i, r := range reqs {
		out[i] = ratelimit.Decision{Allowed: true, Remaining: math.MaxInt}
		if r.Rate.Limit == 0 {
			continue
		}
		t, b, err := gcraParams(r.Rate)
		if err != nil {
			return nil, err
		}
		live = append(live, limitReq{req: i, key: s.limitKey(r.Key), t: t, b: b})
	}
	if len(live) == 0 {
		return out, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, mapErr("rate limit", err)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	groups := [][]limitReq{live}
	if _, ok := s.rdb.(*redis.ClusterClient); ok {
		groups = bySlot(live)
	}
	replies, err := s.runGroups(ctx, groups)
	if err != nil {
		return nil, err
	}
	allowed := true
	for _, r := range replies {
		allowed = allowed && r[0] == 1
	}
	if !allowed && len(groups) > 1 {
		if err := s.refundGroups(ctx, groups, replies); err != nil {
			return nil, err
		}
	}
	if !allowed {
		clear(out) // a request with Limit 0 shares the batch's refusal
	}
	for g, group := range groups {
		if err := fillDecisions(out, group, replies[g], allowed); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// scriptArgs are the keys and ARGV of one group for gcraScript.
func scriptArgs(group []limitReq) ([]string, []any) {
	keys := make([]string, len(group))
	args := make([]any, 0, 2*len(group))
	for i, r := range group {
		keys[i] = r.key
		args = append(args, r.t, r.b*r.t)
	}
	return keys, args
}

// runGroups runs gcraScript once per group: directly for a single group,
// else pipelined (a Cluster client sends each node its share at once).
func (s *Store) runGroups(ctx context.Context, groups [][]limitReq) ([][]int64, error) {
	replies := make([][]int64, len(groups))
	if len(groups) == 1 {
		keys, args := scriptArgs(groups[0])
		res, err := s.gcra.Run(ctx, s.rdb, keys, args...).Int64Slice()
		if err != nil {
			return nil, mapErr("rate limit", err)
		}
		replies[0] = res
		return replies, nil
	}
	cmds := make([]*redis.Cmd, len(groups))
	pipe := s.rdb.Pipeline()
	for g, group := range groups {
		keys, args := scriptArgs(group)
		cmds[g] = s.gcra.EvalSha(ctx, pipe, keys, args...)
	}
	_, _ = pipe.Exec(ctx) // errors are read per command below
	// A node that does not have the script yet answers NOSCRIPT and ran
	// nothing: send the source for exactly those groups, so none counts
	// twice.
	var retry redis.Pipeliner
	for g, c := range cmds {
		if redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			if retry == nil {
				retry = s.rdb.Pipeline()
			}
			keys, args := scriptArgs(groups[g])
			cmds[g] = s.gcra.Eval(ctx, retry, keys, args...)
		}
	}
	if retry != nil {
		_, _ = retry.Exec(ctx)
	}
	for g, c := range cmds {
		res, err := c.Int64Slice()
		if err != nil {
			return nil, mapErr("rate limit", err)
		}
		replies[g] = res
	}
	return replies, nil
}

// refundGroups takes back the charges of the groups that were allowed in a
// batch another group refused, one script per group, in one round trip.
func (s *Store) refundGroups(ctx context.Context, groups [][]limitReq, replies [][]int64) error {
	var cmds []*redis.Cmd
	pipe := s.rdb.Pipeline()
	for g, group := range groups {
		if len(replies[g]) == 0 || replies[g][0] != 1 {
			continue
		}
		keys := make([]string, len(group))
		args := make([]any, len(group))
		for i, r := range group {
			keys[i], args[i] = r.key, r.t
		}
		cmds = append(cmds, s.refund.Eval(ctx, pipe, keys, args...))
	}
	if len(cmds) == 0 {
		return nil
	}
	_, _ = pipe.Exec(ctx)
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return mapErr("rate limit refund", err)
		}
	}
	return nil
}

// fillDecisions reads one group's reply into out: {ok, then per key:
// retry, tat − now, newTat − now}, in nanoseconds.
func fillDecisions(out []ratelimit.Decision, group []limitReq, res []int64, allowed bool) error {
	if len(res) != 1+3*len(group) || (res[0] != 0 && res[0] != 1) {
		return fmt.Errorf("redisstore: rate limit: %w: unexpected reply %v", errCorrupt, res)
	}
	for i, r := range group {
		retry, tat, newTat := res[1+3*i], res[2+3*i], res[3+3*i]
		if !allowed {
			out[r.req] = ratelimit.Decision{RetryAfter: time.Duration(retry), ResetAfter: time.Duration(max(tat, 0))}
			continue
		}
		out[r.req] = ratelimit.Decision{
			Allowed: true,
			// now − allowAt = B·T − (newTat − now).
			Remaining:  int(min((r.b*r.t-newTat)/r.t, r.b-1)),
			ResetAfter: time.Duration(newTat),
		}
	}
	return nil
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
