package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/magiclink-go/magiclink/store"
)

// dropIfEqualScript deletes KEYS[1] only while it holds exactly ARGV[1].
const dropIfEqualScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`

// CreateUser implements store.Users. A user is kept twice, whole, under the
// ID key and under the (organisation, address) key: users are never
// updated, and each lookup is then one GET. CreateUser first gives u.ID the
// slot tag of the address (see placeUser), so both keys share a slot and
// one script claims both, or neither: one round trip, and no crash window.
// A caller's ID that carries another slot's tag is kept; on a Cluster its
// two keys are then claimed in two steps (createInSteps).
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	if err := ctx.Err(); err != nil {
		return mapErr("create user", err)
	}
	emailKey, idKey, together := s.placeUser(u)
	if !together {
		return s.createInSteps(ctx, u, emailKey, idKey)
	}
	found, err := s.claimUser(ctx, "create user", u, emailKey, idKey)
	switch {
	case err != nil:
		return err
	case found != nil:
		return fmt.Errorf("redisstore: create user: address %w", store.ErrExists)
	default:
		return nil
	}
}

// createInSteps is CreateUser for an ID key and an address key in two
// slots of a Cluster, which no single script or transaction can claim
// together. It claims them in order, each with SET NX:
//
//  1. the ID key — taken means store.ErrExists;
//  2. the address key — taken means store.ErrExists, after deleting the ID
//     record of step 1 (only if it is still ours).
//
// Of any number of concurrent calls for one address exactly one succeeds,
// and an ID is never given twice. Crash window: if the process dies (or
// Redis becomes unreachable) between the steps, an ID record remains that
// no address points to. It is harmless — nothing finds it but UserByID
// with an ID that only the failed caller knew — and the address stays
// free. The opposite order would leave the address blocked for good.
func (s *Store) createInSteps(ctx context.Context, u *store.User, emailKey, idKey string) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	rec := encodeUser(u)
	ok, err := s.rdb.SetNX(ctx, idKey, rec, 0).Result()
	if err != nil {
		return mapErr("create user", err)
	}
	if !ok {
		return fmt.Errorf("redisstore: create user: ID %w", store.ErrExists)
	}
	ok, err = s.rdb.SetNX(ctx, emailKey, rec, 0).Result()
	if err != nil {
		// The address claim may have happened with its reply lost, so the
		// ID record stays: undoing it could strand the address record.
		return mapErr("create user", err)
	}
	if ok {
		return nil
	}
	if err := s.dropIfEqual.Run(ctx, s.rdb, []string{idKey}, rec).Err(); err != nil {
		return fmt.Errorf("redisstore: create user: address %w (and releasing the ID failed: %w)", store.ErrExists, mapErr("release user ID", err))
	}
	return fmt.Errorf("redisstore: create user: address %w", store.ErrExists)
}

// UserByEmail implements store.Users in one round trip.
func (s *Store) UserByEmail(ctx context.Context, orgID, email string) (*store.User, error) {
	return s.getUser(ctx, s.userEmailKey(orgID, email))
}

// UserByID implements store.Users in one round trip. Only an ID that ends
// in a slot tag but is not found under it costs a second: an earlier
// version may have stored an ID of that shape, chosen by an application,
// under its own tag (legacyUserIDKey).
func (s *Store) UserByID(ctx context.Context, id string) (*store.User, error) {
	u, err := s.getUser(ctx, s.userIDKey(id))
	if _, tagged := idSlotTag(id); tagged && errors.Is(err, store.ErrNotFound) {
		return s.getUser(ctx, s.legacyUserIDKey(id))
	}
	return u, err
}

func (s *Store) getUser(ctx context.Context, key string) (*store.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, mapErr("get user", err)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	b, err := s.rdb.Get(ctx, key).Bytes()
	if err != nil {
		return nil, mapErr("get user", err)
	}
	u, err := decodeUser(b)
	if err != nil {
		return nil, fmt.Errorf("redisstore: get user: %w", err)
	}
	return u, nil
}

// PutCustomer implements store.Customers in one round trip.
func (s *Store) PutCustomer(ctx context.Context, c *store.Customer) error {
	if err := ctx.Err(); err != nil {
		return mapErr("put customer", err)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	return mapErr("put customer", s.rdb.Set(ctx, s.customerKey(c.ID), encodeCustomer(c), 0).Err())
}

// CustomerByID implements store.Customers in one round trip.
func (s *Store) CustomerByID(ctx context.Context, id string) (*store.Customer, error) {
	if err := ctx.Err(); err != nil {
		return nil, mapErr("get customer", err)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	b, err := s.rdb.Get(ctx, s.customerKey(id)).Bytes()
	if err != nil {
		return nil, mapErr("get customer", err)
	}
	c, err := decodeCustomer(b)
	if err != nil {
		return nil, fmt.Errorf("redisstore: get customer: %w", err)
	}
	return c, nil
}
