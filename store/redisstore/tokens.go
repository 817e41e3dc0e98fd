package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// consumeCodeScript judges one code attempt on the code hash KEYS[1]
// (fields m: code MAC, t: token digest, d: the encoded token, n: wrong
// tries, e: expiry as 20-digit Unix nanoseconds). ARGV: the presented MAC,
// now in the same 20-digit form, maxTries. It returns nil when there is no
// live code, 0 on a mismatch (the try is counted; the try reaching maxTries
// deletes the code) and, on a match, deletes the code and returns the
// encoded token, which the code record keeps so that the code still works
// after its link was used (store.Tokens).
//
// Equal-length decimal strings compare like the numbers they spell, so the
// expiry check is exact to the nanosecond without Lua's doubles. The MAC
// comparison is Lua string equality, which compares interned strings by
// identity after hashing, not byte by byte.
const consumeCodeScript = `
local c = redis.call('HMGET', KEYS[1], 'm', 'd', 'e')
if not c[1] or not c[2] or not c[3] then
  return false
end
if c[3] <= ARGV[2] then
  redis.call('DEL', KEYS[1])
  return false
end
if c[1] ~= ARGV[1] then
  local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
  if n >= tonumber(ARGV[3]) then
    redis.call('DEL', KEYS[1])
  end
  return 0
end
redis.call('DEL', KEYS[1])
return c[2]
`

// takeTokenScript is GETDEL of the token KEYS[1], performed only when the
// token's own CodeMAC equals ARGV[1]. A code can only retire the link it was
// issued with: a code left behind by a PutToken that failed with ErrExists
// (its pipeline writes the code in the same round trip) names a link whose
// CodeMAC differs, so it never consumes that link. The MAC sits at bytes
// 34–65 (tokenMACOffset) of the encoding.
const takeTokenScript = `
local v = redis.call('GET', KEYS[1])
if not v then
  return false
end
if string.sub(v, 34, 65) ~= ARGV[1] then
  return false
end
redis.call('DEL', KEYS[1])
return v
`

// dropCodeScript deletes the code hash KEYS[1] only while it still holds the
// MAC ARGV[1] for the token digest ARGV[2], so a newer code is never touched.
const dropCodeScript = `
local c = redis.call('HMGET', KEYS[1], 'm', 't')
if c[1] == ARGV[1] and c[2] == ARGV[2] then
  return redis.call('DEL', KEYS[1])
end
return 0
`

// PutToken implements store.Tokens in one round trip: a pipeline of
// SET NX PX for the token and, when t has a code, HSET and PEXPIRE of the
// address's code record. TTLs run from the real time to t.ExpiresAt.
//
// The code write cannot be made conditional on the SET NX in the same round
// trip (the keys live in different cluster slots), so when the token already
// exists PutToken returns store.ErrExists and removes the code it just wrote
// in a second round trip, unless a newer code replaced it meanwhile. Until
// then (or if that removal fails) the code would sign in as t — a token whose
// caller was told ErrExists and so never mailed it — but it can never
// consume the existing link under t.Hash (see takeTokenScript). The
// address's earlier code is replaced either way, as a successful PutToken
// would have done.
func (s *Store) PutToken(ctx context.Context, t *store.Token) error {
	if err := ctx.Err(); err != nil {
		return mapErr("put token", err)
	}
	if !t.ExpiresAt.After(s.clock()) {
		return errors.New("redisstore: put token: token already expired")
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()

	ttl := ttlUntil(t.ExpiresAt)
	tokenKey := s.tokenKey(t.Hash)
	pipe := s.rdb.Pipeline()
	enc := encodeToken(t)
	set := pipe.SetNX(ctx, tokenKey, enc, ttl)
	var codeKey string
	if !t.CodeMAC.IsZero() {
		codeKey = s.codeKey(t.Email)
		pipe.HSet(ctx, codeKey, "m", t.CodeMAC[:], "t", t.Hash[:], "d", enc, "n", 0, "e", nanos20(t.ExpiresAt))
		pipe.PExpire(ctx, codeKey, ttl)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return mapErr("put token", err)
	}
	if set.Val() {
		return nil
	}
	if codeKey != "" {
		err := s.dropCode.Run(ctx, s.rdb, []string{codeKey}, t.CodeMAC[:], t.Hash[:]).Err()
		if err != nil {
			return fmt.Errorf("redisstore: put token: %w (and removing its code failed: %w)", store.ErrExists, mapErr("drop code", err))
		}
	}
	return fmt.Errorf("redisstore: put token: %w", store.ErrExists)
}

// ConsumeToken implements store.Tokens in one round trip (GETDEL). A token
// that Redis still held but whose ExpiresAt has passed by the store's clock
// is removed and reported as store.ErrNotFound.
func (s *Store) ConsumeToken(ctx context.Context, hash store.Digest) (*store.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, mapErr("consume token", err)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	b, err := s.rdb.GetDel(ctx, s.tokenKey(hash)).Bytes()
	if err != nil {
		return nil, mapErr("consume token", err)
	}
	return s.liveToken(b, hash)
}

// PeekToken implements store.TokenPeeker in one round trip (GET). The token
// key exists only while its link is unused (ConsumeToken deletes it), and
// an expiry Redis has not yet acted on is judged by the store's clock.
func (s *Store) PeekToken(ctx context.Context, hash store.Digest) (*store.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, mapErr("peek token", err)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	b, err := s.rdb.Get(ctx, s.tokenKey(hash)).Bytes()
	if err != nil {
		return nil, mapErr("peek token", err)
	}
	return s.liveToken(b, hash)
}

// ConsumeCode implements store.Tokens in two round trips: one script on the
// address's code record judges the MAC, counts tries and, on a match, deletes
// the code and yields its token; a second script then consumes the token's
// link if it is still unused (the code consumes the link; a link used before
// leaves the code working). The first step alone decides the code's single
// use. If the second step fails (Redis went down in between), the sign-in
// stands and the link stays usable until it expires, which gives nothing to
// anyone who does not hold the mail.
func (s *Store) ConsumeCode(ctx context.Context, email string, mac store.Digest, maxTries int) (*store.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, mapErr("consume code", err)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	res, err := s.consumeCode.Run(ctx, s.rdb, []string{s.codeKey(email)}, mac[:], nanos20(s.clock()), maxTries).Result()
	if err != nil {
		return nil, mapErr("consume code", err)
	}
	var enc string
	switch v := res.(type) {
	case int64:
		return nil, fmt.Errorf("redisstore: consume code: %w", store.ErrCodeMismatch)
	case string:
		enc = v
	default:
		return nil, fmt.Errorf("redisstore: consume code: %w: unexpected reply %T", errCorrupt, res)
	}
	t, err := decodeToken([]byte(enc))
	if err != nil {
		return nil, fmt.Errorf("redisstore: consume code: %w", err)
	}
	if t.CodeMAC != mac {
		return nil, fmt.Errorf("redisstore: consume code: %w: code record", errCorrupt)
	}
	if !t.ExpiresAt.After(s.clock()) {
		return nil, fmt.Errorf("redisstore: consume code: %w", store.ErrNotFound)
	}
	// The code's single use is decided; retire its link if still unused.
	// redis.Nil (the link was used already) is the expected other outcome,
	// and any failure leaves the link to expire (see above).
	_ = s.takeToken.Run(ctx, s.rdb, []string{s.tokenKey(t.Hash)}, mac[:]).Err()
	return t, nil
}

// liveToken decodes a read or consumed token and judges its expiry by the
// clock.
func (s *Store) liveToken(b []byte, hash store.Digest) (*store.Token, error) {
	t, err := decodeToken(b)
	if err != nil {
		return nil, fmt.Errorf("redisstore: token: %w", err)
	}
	if t.Hash != hash {
		return nil, fmt.Errorf("redisstore: token: %w: hash mismatch", errCorrupt)
	}
	if !t.ExpiresAt.After(s.clock()) {
		return nil, fmt.Errorf("redisstore: token: %w", store.ErrNotFound)
	}
	return t, nil
}

// ttlUntil is the Redis TTL for a record that lives until exp, measured on
// the real clock, rounded up to whole milliseconds and at least 1 ms (Redis
// rejects zero or negative TTLs; a record due already then vanishes at once).
func ttlUntil(exp time.Time) time.Duration {
	d := time.Until(exp)
	if d < time.Millisecond {
		return time.Millisecond
	}
	if r := d % time.Millisecond; r != 0 {
		d += time.Millisecond - r
	}
	return d
}

// nanos20 formats t as 20-digit zero-padded Unix nanoseconds (0 for times
// before 1970), so that scripts compare times as strings, exactly.
func nanos20(t time.Time) string {
	s := strconv.FormatInt(max(t.UnixNano(), 0), 10)
	return strings.Repeat("0", 20-len(s)) + s
}
