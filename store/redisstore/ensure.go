package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/magiclink-go/magiclink/store"
)

// findOrCreateUserScript returns the user record under the address key
// KEYS[1]; when there is none it stores ARGV[1] under the address key and
// the ID key KEYS[2] and returns 1, or returns 0 when the ID is taken.
// Users have no TTL. CreateUser runs it too, and reads a record as "the
// address is taken".
const findOrCreateUserScript = `
local u = redis.call('GET', KEYS[1])
if u then return u end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('SET', KEYS[1], ARGV[1])
return 1
`

// FindOrCreateUser implements store.UserEnsurer in one script, for a known
// user and a first sign-in alike, on one server and on a Cluster: u.ID gets
// the slot tag of u's address (see placeUser), so both keys share a slot;
// the script writes both keys or neither, so there is no crash window
// either. Only an ID that already carries another slot's tag costs more on
// a Cluster: a lookup and CreateUser's two steps.
func (s *Store) FindOrCreateUser(ctx context.Context, u *store.User) (*store.User, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, mapErr("find or create user", err)
	}
	emailKey, idKey, together := s.placeUser(u)
	if !together {
		return s.findOrCreateInSteps(ctx, u, emailKey, idKey)
	}
	found, err := s.claimUser(ctx, "find or create user", u, emailKey, idKey)
	switch {
	case err != nil:
		return nil, false, err
	case found != nil:
		return found, false, nil
	default:
		created := *u
		return &created, true, nil
	}
}

// claimUser runs findOrCreateUserScript for u on its two keys, for the
// operation op. It returns the user already under the address key, or nil
// when it stored u; an ID that is taken is store.ErrExists.
func (s *Store) claimUser(ctx context.Context, op string, u *store.User, emailKey, idKey string) (*store.User, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	res, err := s.findOrCreateUser.Run(ctx, s.rdb, []string{emailKey, idKey}, encodeUser(u)).Result()
	if err != nil {
		return nil, mapErr(op, err)
	}
	switch v := res.(type) {
	case int64:
		if v == 0 {
			return nil, fmt.Errorf("redisstore: %s: ID %w", op, store.ErrExists)
		}
		return nil, nil
	case string:
		found, err := decodeUser([]byte(v))
		if err != nil {
			return nil, fmt.Errorf("redisstore: %s: %w", op, err)
		}
		return found, nil
	default:
		return nil, fmt.Errorf("redisstore: %s: %w: unexpected reply %T", op, errCorrupt, res)
	}
}

// findOrCreateInSteps is FindOrCreateUser for keys in two slots of a
// Cluster: a lookup, and CreateUser's two claims (which keep its crash
// rules) when it finds none.
func (s *Store) findOrCreateInSteps(ctx context.Context, u *store.User, emailKey, idKey string) (*store.User, bool, error) {
	found, err := s.getUser(ctx, emailKey)
	if !errors.Is(err, store.ErrNotFound) {
		return found, false, err
	}
	switch err := s.createInSteps(ctx, u, emailKey, idKey); {
	case err == nil:
		created := *u
		return &created, true, nil
	case errors.Is(err, store.ErrExists):
		// A concurrent first sign-in may have won the address; if so, its
		// user is the one. Else the ID itself was taken.
		if found, ferr := s.getUser(ctx, emailKey); ferr == nil {
			return found, false, nil
		}
		return nil, false, err
	default:
		return nil, false, err
	}
}
