package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink/store"
)

// A session is a hash under ml:{<session ID>}:s with the fields
//
//	d  the parts that never change (encodeSession)
//	u  the user ID, for ownership checks in scripts
//	t  SHA-256 of the session token
//	r  SHA-256 of the current refresh token ("" when none)
//	p  the rotated-away refresh digests, newest first, 32 bytes each
//	l  last seen, i idle expiry, x absolute expiry (nanos20)
//
// and a user's sessions are indexed in the sorted set ml:{<user tag>}:us,
// scored by absolute expiry in milliseconds. The session ID is a digest
// (store.SessionID), so no token appears in any key. Every script touches
// one key, so each runs in one slot on a Cluster; the index lives in the
// user's slot and is maintained beside the scripts (see RevokeUserSessions).

// sessionTouchLua is the touch shared by the lookup and rotate scripts: v
// holds l, i, x at 1..3 of tv; ARGV[ta] is the new last seen ("" for no
// touch), ARGV[ta+1] the last-seen bound and ARGV[ta+2] the new idle
// expiry. The Redis TTL follows the earlier of the two expiries, read as
// milliseconds (the first 14 of 20 digits), rounded up.
const sessionTouchLua = `
local function touch(tv, ta)
  if ARGV[ta] == '' or tv[1] >= ARGV[ta + 1] then
    return
  end
  tv[1] = ARGV[ta]
  tv[2] = ARGV[ta + 2]
  redis.call('HSET', KEYS[1], 'l', tv[1], 'i', tv[2])
  local e = tv[2]
  if tv[3] < e then
    e = tv[3]
  end
  redis.call('PEXPIREAT', KEYS[1], tonumber(string.sub(e, 1, 14)) + 1)
end
`

// sessionCreateScript stores a new session hash unless KEYS[1] exists.
// ARGV: d, u, t, r, l, i, x, and the expiry in Unix milliseconds.
const sessionCreateScript = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'u', ARGV[2], 't', ARGV[3], 'r', ARGV[4], 'p', '',
  'l', ARGV[5], 'i', ARGV[6], 'x', ARGV[7])
redis.call('PEXPIREAT', KEYS[1], ARGV[8])
return 1
`

// sessionIndexScript adds ARGV[1] with score ARGV[2] to the user index
// KEYS[1], drops entries whose score is at most ARGV[3] (now, ms), and
// keeps the index until its latest entry's expiry.
const sessionIndexScript = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], top[2])
return 1
`

// sessionLookupScript returns {d, l, i, x, r} of the live session KEYS[1]
// after touching it, or nil. ARGV[1] is the token digest the session must
// carry ("" for a lookup by ID), ARGV[2] now, ARGV[3..5] the touch.
const sessionLookupScript = sessionTouchLua + `
local v = redis.call('HMGET', KEYS[1], 'd', 't', 'l', 'i', 'x', 'r')
if not v[1] or not v[3] or not v[4] or not v[5] then
  return false
end
if ARGV[1] ~= '' and v[2] ~= ARGV[1] then
  return false
end
if v[4] <= ARGV[2] or v[5] <= ARGV[2] then
  return false
end
local tv = {v[3], v[4], v[5]}
touch(tv, 3)
return {v[1], tv[1], tv[2], tv[3], v[6] or ''}
`

// sessionRotateScript is the refresh compare-and-swap on KEYS[1]. ARGV[1]
// is the presented digest, ARGV[2] its successor, ARGV[3] now, ARGV[4..6]
// the touch, ARGV[7] how many previous digests to keep. It returns
// {d, l, i, x, r} after a rotation; {u} after revoking the session because
// ARGV[1] was a previous digest; nil otherwise. Lua string equality
// compares interned strings by identity after hashing, not byte by byte.
const sessionRotateScript = sessionTouchLua + `
local v = redis.call('HMGET', KEYS[1], 'd', 'r', 'p', 'l', 'i', 'x', 'u')
if not v[1] or not v[4] or not v[5] or not v[6] then
  return false
end
if v[5] <= ARGV[3] or v[6] <= ARGV[3] then
  return false
end
local p = v[3] or ''
if v[2] and v[2] ~= '' and v[2] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'r', ARGV[2], 'p', string.sub(ARGV[1] .. p, 1, 32 * tonumber(ARGV[7])))
  local tv = {v[4], v[5], v[6]}
  touch(tv, 4)
  return {v[1], tv[1], tv[2], tv[3], ARGV[2]}
end
for i = 1, #p - 31, 32 do
  if string.sub(p, i, i + 31) == ARGV[1] then
    redis.call('DEL', KEYS[1])
    return {v[7] or ''}
  end
end
return false
`

// sessionRevokeScript deletes KEYS[1] when it belongs to user ARGV[1] and
// returns 1 if it was live at ARGV[2], else 0.
const sessionRevokeScript = `
local v = redis.call('HMGET', KEYS[1], 'u', 'i', 'x')
if not v[1] or v[1] ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
if not v[2] or not v[3] or v[2] <= ARGV[2] or v[3] <= ARGV[2] then
  return 0
end
return 1
`

// sessionScripts are the session scripts of a Store.
type sessionScripts struct {
	create, index, lookup, rotate, revoke *redis.Script
}

func newSessionScripts() sessionScripts {
	return sessionScripts{
		create: redis.NewScript(sessionCreateScript),
		index:  redis.NewScript(sessionIndexScript),
		lookup: redis.NewScript(sessionLookupScript),
		rotate: redis.NewScript(sessionRotateScript),
		revoke: redis.NewScript(sessionRevokeScript),
	}
}

func (s *Store) sessionKey(id string) string { return s.key(id, "s") }

func (s *Store) userSessionsKey(userID string) string { return s.key(idTag(userID), "us") }

// touchArgs are the three script arguments of a touch.
func touchArgs(t store.Touch) []any {
	if t.At.IsZero() {
		return []any{"", "", ""}
	}
	return []any{nanos20(t.At), nanos20(t.IfSeenBefore), nanos20(t.IdleExpiresAt)}
}

// CreateSession implements store.Sessions in one round trip: the session
// hash (created only if absent) and the user index entry, pipelined.
func (s *Store) CreateSession(ctx context.Context, sess *store.Session) error {
	if err := ctx.Err(); err != nil {
		return mapErr("create session", err)
	}
	now := s.clock()
	if err := store.CheckNewSession(sess, now); err != nil {
		return fmt.Errorf("redisstore: create session: %w", err)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	var refresh []byte
	if !sess.RefreshHash.IsZero() {
		refresh = sess.RefreshHash[:]
	}
	cmds := s.evalAll(ctx, []scriptCall{
		{s.sessions.create, []string{s.sessionKey(sess.ID)}, []any{encodeSession(sess), sess.UserID, sess.TokenHash[:], refresh,
			nanos20(sess.LastSeenAt), nanos20(sess.IdleExpiresAt), nanos20(sess.ExpiresAt), sess.Deadline().UnixMilli() + 1}},
		{s.sessions.index, []string{s.userSessionsKey(sess.UserID)}, []any{sess.ID, sess.ExpiresAt.UnixMilli() + 1, now.UnixMilli()}},
	})
	created, err := cmds[0].Int64()
	if err != nil {
		return mapErr("create session", err)
	}
	if err := cmds[1].Err(); err != nil {
		// Without its index entry a session would escape "sign out
		// everywhere": undo it.
		_ = s.rdb.Del(ctx, s.sessionKey(sess.ID)).Err()
		return mapErr("create session", err)
	}
	if created == 0 {
		return fmt.Errorf("redisstore: create session: %w", store.ErrExists)
	}
	return nil
}

// SessionByToken implements store.Sessions in one round trip, touch
// included.
func (s *Store) SessionByToken(ctx context.Context, tokenHash store.Digest, touch store.Touch) (*store.Session, error) {
	return s.lookupSession(ctx, store.SessionID(tokenHash), tokenHash[:], touch)
}

// SessionByID implements store.Sessions in one round trip, touch included.
// A malformed ID costs none.
func (s *Store) SessionByID(ctx context.Context, id string, touch store.Touch) (*store.Session, error) {
	return s.lookupSession(ctx, id, []byte{}, touch)
}

func (s *Store) lookupSession(ctx context.Context, id string, tokenHash []byte, touch store.Touch) (*store.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, mapErr("get session", err)
	}
	if !store.ValidSessionID(id) {
		return nil, fmt.Errorf("redisstore: get session: %w", store.ErrNotFound)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	args := append([]any{tokenHash, nanos20(s.clock())}, touchArgs(touch)...)
	res, err := s.sessions.lookup.Run(ctx, s.rdb, []string{s.sessionKey(id)}, args...).StringSlice()
	if err != nil {
		return nil, mapErr("get session", err)
	}
	return sessionFromReply(res)
}

// sessionFromReply decodes a script's {d, l, i, x, r}.
func sessionFromReply(res []string) (*store.Session, error) {
	if len(res) != 5 {
		return nil, fmt.Errorf("redisstore: session: %w: reply of %d fields", errCorrupt, len(res))
	}
	sess, err := decodeSession([]byte(res[0]))
	if err != nil {
		return nil, fmt.Errorf("redisstore: session: %w", err)
	}
	var ok [3]bool
	sess.LastSeenAt, ok[0] = parseNanos20(res[1])
	sess.IdleExpiresAt, ok[1] = parseNanos20(res[2])
	sess.ExpiresAt, ok[2] = parseNanos20(res[3])
	if ok != [3]bool{true, true, true} || (len(res[4]) != 0 && len(res[4]) != len(store.Digest{})) {
		return nil, fmt.Errorf("redisstore: session: %w: bad times or refresh digest", errCorrupt)
	}
	copy(sess.RefreshHash[:], res[4])
	return sess, nil
}

func parseNanos20(v string) (time.Time, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	return time.Unix(0, n), err == nil && len(v) == 20
}

// RotateRefresh implements store.Sessions: one script decides the swap, so
// of concurrent rotations exactly one wins. On reuse the same script has
// revoked the session; dropping its index entry costs a second round trip.
func (s *Store) RotateRefresh(ctx context.Context, id string, current, next store.Digest, touch store.Touch) (*store.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, mapErr("rotate refresh", err)
	}
	if !store.ValidSessionID(id) {
		return nil, fmt.Errorf("redisstore: rotate refresh: %w", store.ErrNotFound)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	args := append([]any{current[:], next[:], nanos20(s.clock())}, touchArgs(touch)...)
	args = append(args, store.PreviousRefreshKept)
	res, err := s.sessions.rotate.Run(ctx, s.rdb, []string{s.sessionKey(id)}, args...).StringSlice()
	if err != nil {
		return nil, mapErr("rotate refresh", err)
	}
	if len(res) == 1 {
		// Revoked already; a stale index entry is only pruned later if
		// this fails, and lists skip it.
		_ = s.rdb.ZRem(ctx, s.userSessionsKey(res[0]), id).Err()
		return nil, fmt.Errorf("redisstore: rotate refresh: %w", store.ErrRefreshReused)
	}
	return sessionFromReply(res)
}

// RevokeSession implements store.Sessions in two round trips: the revoke
// script, then the index entry. In that order, so a failure in between
// leaves an index entry without a session, never a session without one.
func (s *Store) RevokeSession(ctx context.Context, userID, id string) error {
	if err := ctx.Err(); err != nil {
		return mapErr("revoke session", err)
	}
	if !store.ValidSessionID(id) {
		return fmt.Errorf("redisstore: revoke session: %w", store.ErrNotFound)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	live, err := s.sessions.revoke.Run(ctx, s.rdb, []string{s.sessionKey(id)}, userID, nanos20(s.clock())).Int64()
	if err != nil {
		return mapErr("revoke session", err)
	}
	if err := s.rdb.ZRem(ctx, s.userSessionsKey(userID), id).Err(); err != nil {
		return mapErr("revoke session", err)
	}
	if live != 1 {
		return fmt.Errorf("redisstore: revoke session: %w", store.ErrNotFound)
	}
	return nil
}

// RevokeUserSessions implements store.Sessions in three round trips: read
// the user's index, revoke each listed session (pipelined; on a Cluster
// the pipeline goes to every node at once), then drop the revoked entries
// from the index. A session whose revoke failed keeps its entry, so
// running it again finishes the job.
func (s *Store) RevokeUserSessions(ctx context.Context, userID, except string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, mapErr("revoke sessions", err)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	indexKey := s.userSessionsKey(userID)
	ids, err := s.rdb.ZRange(ctx, indexKey, 0, -1).Result()
	if err != nil {
		return 0, mapErr("revoke sessions", err)
	}
	ids = slices.DeleteFunc(ids, func(id string) bool { return id == except || !store.ValidSessionID(id) })
	if len(ids) == 0 {
		return 0, nil
	}
	now := nanos20(s.clock())
	calls := make([]scriptCall, len(ids))
	for i, id := range ids {
		calls[i] = scriptCall{s.sessions.revoke, []string{s.sessionKey(id)}, []any{userID, now}}
	}
	n, done, firstErr := 0, make([]any, 0, len(ids)), error(nil)
	for i, c := range s.evalAll(ctx, calls) {
		live, err := c.Int64()
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		n += int(live)
		done = append(done, ids[i])
	}
	if len(done) > 0 {
		if err := s.rdb.ZRem(ctx, indexKey, done...).Err(); err != nil {
			firstErr = cmp.Or(firstErr, err)
		}
	}
	if firstErr != nil {
		return n, mapErr("revoke sessions", firstErr)
	}
	return n, nil
}

// UserSessions implements store.Sessions in two round trips: the index,
// then every listed session, pipelined. Entries whose session is gone are
// pruned from the index by a third, when there are any.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]*store.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, mapErr("list sessions", err)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	indexKey := s.userSessionsKey(userID)
	ids, err := s.rdb.ZRange(ctx, indexKey, 0, -1).Result()
	if err != nil {
		return nil, mapErr("list sessions", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HMGet(ctx, s.sessionKey(id), "d", "l", "i", "x", "r", "u")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, mapErr("list sessions", err)
	}
	now := s.clock()
	var out []*store.Session
	var gone []any
	for i, c := range cmds {
		sess, err := listedSession(c.Val(), userID)
		switch {
		case err != nil:
			return nil, err
		case sess == nil || !sess.Live(now):
			gone = append(gone, ids[i])
		default:
			out = append(out, sess)
		}
	}
	if len(gone) > 0 {
		_ = s.rdb.ZRem(ctx, indexKey, gone...).Err() // pruning is best effort
	}
	slices.SortFunc(out, func(a, b *store.Session) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// listedSession decodes an HMGET of d, l, i, x, r, u; nil when the session
// is gone or belongs to another user.
func listedSession(v []any, userID string) (*store.Session, error) {
	f := make([]string, len(v))
	for i, x := range v {
		str, ok := x.(string)
		if !ok {
			return nil, nil
		}
		f[i] = str
	}
	if len(f) != 6 || f[5] != userID {
		return nil, nil
	}
	return sessionFromReply(f[:5])
}
