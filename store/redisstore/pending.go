package redisstore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink/store"
)

// Pending requests (store.PendingRequests) live beside their link, under the
// link's hash tag, so that every step that uses the link is one script on
// one slot:
//
//	ml:{<hex link hash>}:p      the request (hash: c, m, s, e, k, i[, d])
//	ml:{<hex cookie digest>}:pc the link hash of the cookie's request (string)
//
// Fields: c the cookie digest, m the number as two digits, s the status
// (w waiting, a approved, d denied), e ExpiresAt and k KeepUntil as 20-digit
// Unix nanoseconds, i the encoded user agent, IP and creation time, and d
// the consumed token once approved. The index under the cookie's tag costs
// the asking browser's poll a second round trip (GET, then a script on the
// link's slot); the approving side and a same-device verify need one.

// putPendingScript stores the token KEYS[1] (SET NX PX) and its request
// KEYS[2] together, or neither. ARGV: the encoded token, its TTL in ms, the
// request's fields c, m, e, k, i, and the request's TTL in ms.
const putPendingScript = `
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[2], 'c', ARGV[3], 'm', ARGV[4], 's', 'w', 'e', ARGV[5], 'k', ARGV[6], 'i', ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[8])
return 1
`

// pollPendingScript reads the request KEYS[2] of the link KEYS[1] for the
// cookie digest ARGV[1] at now ARGV[2]; with ARGV[3] == '1' it removes an
// approved request and returns its token. It returns nil when there is no
// live request for that cookie, else {status, m, e, k, i, d}, where status
// x means waiting past expiry and u waiting for a link that is gone.
const pollPendingScript = `
local r = redis.call('HMGET', KEYS[2], 'c', 's', 'm', 'e', 'k', 'i', 'd')
if not r[1] or r[1] ~= ARGV[1] or not r[5] then
  return false
end
if r[5] <= ARGV[2] then
  redis.call('DEL', KEYS[2])
  return false
end
local s, d = r[2], ''
if s == 'a' and ARGV[3] == '1' then
  redis.call('DEL', KEYS[2])
  d = r[7] or ''
elseif s == 'w' then
  if r[4] <= ARGV[2] then
    s = 'x'
  elseif redis.call('EXISTS', KEYS[1]) == 0 then
    s = 'u'
  end
end
return {s, r[3], r[4], r[5], r[6], d}
`

// linkPendingScript finds the request KEYS[2] waiting for the live link
// KEYS[1] at now ARGV[1]. With ARGV[2] == '1' it also decides it: it
// consumes the link and approves the request when ARGV[3] equals its
// number, or denies it. It returns nil when the link is gone, {'n', token}
// when no request waits for it (the caller judges the token's expiry), and
// otherwise {status, e, k, i}: w (only looked at), a or d.
const linkPendingScript = `
local v = redis.call('GET', KEYS[1])
if not v then
  return false
end
local r = redis.call('HMGET', KEYS[2], 's', 'm', 'e', 'k', 'i')
if not r[1] or r[1] ~= 'w' or r[4] <= ARGV[1] then
  return {'n', v}
end
if r[3] <= ARGV[1] then
  return false
end
if ARGV[2] ~= '1' then
  return {'w', r[3], r[4], r[5]}
end
redis.call('DEL', KEYS[1])
if r[2] == ARGV[3] then
  redis.call('HSET', KEYS[2], 's', 'a', 'd', v)
  return {'a', r[3], r[4], r[5]}
end
redis.call('HSET', KEYS[2], 's', 'd')
return {'d', r[3], r[4], r[5]}
`

// consumeFromScript is GETDEL of the token KEYS[1], unless a live request
// KEYS[2] waits for it under another cookie digest than ARGV[1] (at now
// ARGV[2]); then it returns 0 and leaves the link alone.
const consumeFromScript = `
local r = redis.call('HMGET', KEYS[2], 'c', 's', 'e')
if r[1] and r[2] == 'w' and r[3] > ARGV[2] and r[1] ~= ARGV[1] then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    return 0
  end
  return false
end
return redis.call('GETDEL', KEYS[1])
`

// pendingScripts are the scripts of this file.
type pendingScripts struct {
	put, poll, link, consumeFrom *redis.Script
}

func newPendingScripts() pendingScripts {
	return pendingScripts{
		put:         redis.NewScript(putPendingScript),
		poll:        redis.NewScript(pollPendingScript),
		link:        redis.NewScript(linkPendingScript),
		consumeFrom: redis.NewScript(consumeFromScript),
	}
}

var _ store.PendingRequests = (*Store)(nil)

func (s *Store) pendingKey(link store.Digest) string { return s.key(hex.EncodeToString(link[:]), "p") }

func (s *Store) pendingCookieKey(cookie store.Digest) string {
	return s.key(hex.EncodeToString(cookie[:]), "pc")
}

// PutTokenPending implements store.PendingRequests in one round trip: a
// pipeline of the script that stores token and request together, the code
// record (as PutToken writes it) and the cookie's index, SET NX. Should the
// token or the cookie already exist (a 2⁻²⁵⁶ event for random digests),
// the parts written are removed in a second round trip and ErrExists is
// returned; until then the stray cookie index leads to no request.
func (s *Store) PutTokenPending(ctx context.Context, t *store.Token, p *store.Pending) error {
	if err := ctx.Err(); err != nil {
		return mapErr("put pending", err)
	}
	if err := store.ValidatePending(t, p); err != nil {
		return fmt.Errorf("redisstore: put pending: %w", err)
	}
	if !t.ExpiresAt.After(s.clock()) {
		return errors.New("redisstore: put pending: token already expired")
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()

	enc := encodeToken(t)
	keys := []string{s.tokenKey(t.Hash), s.pendingKey(t.Hash)}
	keepTTL := ttlUntil(p.KeepUntil)
	args := []any{enc, ttlUntil(t.ExpiresAt).Milliseconds(), p.Cookie[:], matchString(p.Match),
		nanos20(p.ExpiresAt), nanos20(p.KeepUntil), encodePendingInfo(p), keepTTL.Milliseconds()}
	pipe := s.rdb.Pipeline()
	// EVALSHA in a pipeline cannot fall back to EVAL by itself; the other
	// commands do not depend on it, so a NOSCRIPT reply (after a restart or
	// SCRIPT FLUSH) is answered by sending the script alone, once.
	put := s.pending.put.EvalSha(ctx, pipe, keys, args...)
	var codeKey string
	if !t.CodeMAC.IsZero() {
		codeKey = s.codeKey(t.Email)
		pipe.HSet(ctx, codeKey, "m", t.CodeMAC[:], "t", t.Hash[:], "d", enc, "n", 0, "e", nanos20(t.ExpiresAt))
		pipe.PExpire(ctx, codeKey, ttlUntil(t.ExpiresAt))
	}
	index := pipe.SetNX(ctx, s.pendingCookieKey(p.Cookie), t.Hash[:], keepTTL)
	cmds, err := pipe.Exec(ctx)
	for _, c := range cmds {
		if err := c.Err(); err != nil && !(c == put && redis.HasErrorPrefix(err, "NOSCRIPT")) {
			return mapErr("put pending", err)
		}
	}
	if err != nil && len(cmds) == 0 {
		return mapErr("put pending", err)
	}
	if redis.HasErrorPrefix(put.Err(), "NOSCRIPT") {
		put = s.pending.put.Eval(ctx, s.rdb, keys, args...)
		if err := put.Err(); err != nil {
			return mapErr("put pending", err)
		}
	}
	if put.Val() == int64(1) && index.Val() {
		return nil
	}
	return s.undoPutPending(ctx, t, p, put.Val() == int64(1), index.Val(), codeKey)
}

// undoPutPending removes what a PutTokenPending that lost to an existing
// key wrote, and reports ErrExists.
func (s *Store) undoPutPending(ctx context.Context, t *store.Token, p *store.Pending, putOK, indexOK bool, codeKey string) error {
	pipe := s.rdb.Pipeline()
	if putOK {
		pipe.Del(ctx, s.tokenKey(t.Hash), s.pendingKey(t.Hash))
	}
	if indexOK {
		s.dropIfEqual.Eval(ctx, pipe, []string{s.pendingCookieKey(p.Cookie)}, t.Hash[:])
	}
	if codeKey != "" {
		s.dropCode.Eval(ctx, pipe, []string{codeKey}, t.CodeMAC[:], t.Hash[:])
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redisstore: put pending: %w (and removing what was written failed: %w)", store.ErrExists, mapErr("undo put pending", err))
	}
	return fmt.Errorf("redisstore: put pending: %w", store.ErrExists)
}

// PendingByCookie implements store.PendingRequests in two round trips.
func (s *Store) PendingByCookie(ctx context.Context, cookie store.Digest) (*store.Pending, error) {
	return s.pollPending(ctx, cookie, false)
}

// TakeApproved implements store.PendingRequests in two round trips; the
// second, one script, decides the single take.
func (s *Store) TakeApproved(ctx context.Context, cookie store.Digest) (*store.Pending, error) {
	return s.pollPending(ctx, cookie, true)
}

func (s *Store) pollPending(ctx context.Context, cookie store.Digest, take bool) (*store.Pending, error) {
	if err := ctx.Err(); err != nil {
		return nil, mapErr("poll pending", err)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	b, err := s.rdb.Get(ctx, s.pendingCookieKey(cookie)).Bytes()
	if err != nil {
		return nil, mapErr("poll pending", err)
	}
	var link store.Digest
	if len(b) != len(link) {
		return nil, fmt.Errorf("redisstore: poll pending: %w: cookie index", errCorrupt)
	}
	copy(link[:], b)
	takeArg := "0"
	if take {
		takeArg = "1"
	}
	res, err := s.pending.poll.Run(ctx, s.rdb, []string{s.tokenKey(link), s.pendingKey(link)},
		cookie[:], nanos20(s.clock()), takeArg).StringSlice()
	if err != nil {
		return nil, mapErr("poll pending", err)
	}
	if len(res) != 6 {
		return nil, fmt.Errorf("redisstore: poll pending: %w: reply of %d fields", errCorrupt, len(res))
	}
	p, err := decodePending(res[0], res[2], res[3], res[4])
	if err != nil {
		return nil, fmt.Errorf("redisstore: poll pending: %w", err)
	}
	p.Cookie, p.LinkHash = cookie, link
	if p.Match, err = parseMatch(res[1]); err != nil {
		return nil, fmt.Errorf("redisstore: poll pending: %w", err)
	}
	if res[5] != "" {
		if p.Token, err = decodeToken([]byte(res[5])); err != nil {
			return nil, fmt.Errorf("redisstore: poll pending: %w", err)
		}
	}
	return p, nil
}

// PendingByLink implements store.PendingRequests in one round trip.
func (s *Store) PendingByLink(ctx context.Context, link store.Digest) (*store.Pending, error) {
	return s.linkPending(ctx, "pending by link", link, false, 0)
}

// DecidePending implements store.PendingRequests in one round trip: one
// script on the link's slot consumes the link and decides the request.
func (s *Store) DecidePending(ctx context.Context, link store.Digest, match uint8) (*store.Pending, error) {
	return s.linkPending(ctx, "decide pending", link, true, match)
}

func (s *Store) linkPending(ctx context.Context, op string, link store.Digest, decide bool, match uint8) (*store.Pending, error) {
	if err := ctx.Err(); err != nil {
		return nil, mapErr(op, err)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	decideArg := "0"
	if decide {
		decideArg = "1"
	}
	res, err := s.pending.link.Run(ctx, s.rdb, []string{s.tokenKey(link), s.pendingKey(link)},
		nanos20(s.clock()), decideArg, matchString(match)).StringSlice()
	if err != nil {
		return nil, mapErr(op, err)
	}
	if len(res) == 2 && res[0] == "n" {
		// A live link without a request, unless the store's clock says
		// the link has expired (Redis has not dropped it yet).
		if _, err := s.liveToken([]byte(res[1]), link); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("redisstore: %s: %w", op, store.ErrNoPending)
	}
	if len(res) != 4 {
		return nil, fmt.Errorf("redisstore: %s: %w: reply of %d fields", op, errCorrupt, len(res))
	}
	p, err := decodePending(res[0], res[1], res[2], res[3])
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	p.LinkHash = link
	if p.Status == store.PendingDenied {
		return p, fmt.Errorf("redisstore: %s: %w", op, store.ErrMatchMismatch)
	}
	return p, nil
}

// ConsumeTokenFrom implements store.PendingRequests in one round trip.
func (s *Store) ConsumeTokenFrom(ctx context.Context, link, cookie store.Digest) (*store.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, mapErr("consume token", err)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	res, err := s.pending.consumeFrom.Run(ctx, s.rdb, []string{s.tokenKey(link), s.pendingKey(link)},
		cookie[:], nanos20(s.clock())).Result()
	if err != nil {
		return nil, mapErr("consume token", err)
	}
	switch v := res.(type) {
	case int64:
		return nil, fmt.Errorf("redisstore: consume token: %w", store.ErrDeviceMismatch)
	case string:
		return s.liveToken([]byte(v), link)
	default:
		return nil, fmt.Errorf("redisstore: consume token: %w: unexpected reply %T", errCorrupt, res)
	}
}

const pendingInfoV1 = 1

func encodePendingInfo(p *store.Pending) []byte {
	b := make([]byte, 0, 1+12+len(p.UserAgent)+len(p.IP)+4)
	b = append(b, pendingInfoV1)
	b = appendTime(b, p.CreatedAt)
	b = appendString(b, p.UserAgent)
	return appendString(b, p.IP)
}

// decodePending builds a request from a script's status letter, its
// ExpiresAt and KeepUntil fields and its encoded info.
func decodePending(status, exp, keep, info string) (*store.Pending, error) {
	p := &store.Pending{}
	switch status {
	case "w":
		p.Status = store.PendingWaiting
	case "a":
		p.Status = store.PendingApproved
	case "d":
		p.Status = store.PendingDenied
	case "x":
		p.Status = store.PendingExpired
	case "u":
		p.Status = store.PendingUsed
	default:
		return nil, fmt.Errorf("%w: pending status %q", errCorrupt, status)
	}
	var ok1, ok2 bool
	p.ExpiresAt, ok1 = parseNanos20(exp)
	p.KeepUntil, ok2 = parseNanos20(keep)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%w: time field", errCorrupt)
	}
	d := decoder{b: []byte(info)}
	if d.byte() != pendingInfoV1 {
		return nil, fmt.Errorf("%w: unknown pending info version", errCorrupt)
	}
	p.CreatedAt = d.time()
	p.UserAgent = d.string()
	p.IP = d.string()
	if err := d.done("pending info"); err != nil {
		return nil, err
	}
	return p, nil
}

// matchString is the number as the two digits a person types; a value
// past 99 becomes a string no stored number equals.
func matchString(m uint8) string {
	if m > 99 {
		return "--"
	}
	return string([]byte{'0' + m/10, '0' + m%10})
}

func parseMatch(v string) (uint8, error) {
	if len(v) != 2 || v[0] < '0' || v[0] > '9' || v[1] < '0' || v[1] > '9' {
		return 0, fmt.Errorf("%w: match field", errCorrupt)
	}
	return (v[0]-'0')*10 + v[1] - '0', nil
}
