package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink/store"
)

// findOrCreateUserScript returns the user record under the address key
// KEYS[1]; when there is none it stores ARGV[1] under the address key and
// the ID key KEYS[2] and returns 1, or returns 0 when the ID is taken.
// Users have no TTL.
const findOrCreateUserScript = `
local u = redis.call('GET', KEYS[1])
if u then return u end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('SET', KEYS[1], ARGV[1])
return 1
`

// FindOrCreateUser implements store.UserEnsurer. On a standalone or
// Sentinel server it is one script, for a known user and a first sign-in
// alike, so a verify costs the consume and this; the script writes both
// keys or neither, so it has no crash window either. On a Cluster the
// address key and the ID key live in different slots, which one script
// cannot touch: a known user still costs one GET, a new one CreateUser's
// two commands after it.
func (s *Store) FindOrCreateUser(ctx context.Context, u *store.User) (*store.User, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, mapErr("find or create user", err)
	}
	if _, cluster := s.rdb.(*redis.ClusterClient); cluster {
		return s.findOrCreateInSteps(ctx, u)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	rec := encodeUser(u)
	res, err := s.findOrCreateUser.Run(ctx, s.rdb, []string{s.userEmailKey(u.OrgID, u.Email), s.userIDKey(u.ID)}, rec).Result()
	if err != nil {
		return nil, false, mapErr("find or create user", err)
	}
	switch v := res.(type) {
	case int64:
		if v == 0 {
			return nil, false, fmt.Errorf("redisstore: find or create user: ID %w", store.ErrExists)
		}
		created := *u
		return &created, true, nil
	case string:
		found, err := decodeUser([]byte(v))
		if err != nil {
			return nil, false, fmt.Errorf("redisstore: find or create user: %w", err)
		}
		return found, false, nil
	default:
		return nil, false, fmt.Errorf("redisstore: find or create user: %w: unexpected reply %T", errCorrupt, res)
	}
}

// findOrCreateInSteps is FindOrCreateUser for a Cluster: a lookup, and
// CreateUser (whose two claims keep its crash rules) when it finds none.
func (s *Store) findOrCreateInSteps(ctx context.Context, u *store.User) (*store.User, bool, error) {
	found, err := s.UserByEmail(ctx, u.OrgID, u.Email)
	if !errors.Is(err, store.ErrNotFound) {
		return found, false, err
	}
	switch err := s.CreateUser(ctx, u); {
	case err == nil:
		created := *u
		return &created, true, nil
	case errors.Is(err, store.ErrExists):
		// A concurrent first sign-in may have won the address; if so, its
		// user is the one. Else the ID itself was taken.
		if found, ferr := s.UserByEmail(ctx, u.OrgID, u.Email); ferr == nil {
			return found, false, nil
		}
		return nil, false, err
	default:
		return nil, false, err
	}
}
