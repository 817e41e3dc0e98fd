package magiclink

import (
	"context"
	"errors"

	"github.com/magiclink-go/magiclink/internal/randid"
	"github.com/magiclink-go/magiclink/store"
)

// lookupUser returns the ID of the user with this address, or "" when there
// is none. Both cases take the same path through the store.
func (s *Service) lookupUser(ctx context.Context, orgID, email string) (string, error) {
	u, err := s.users.UserByEmail(ctx, orgID, email)
	switch {
	case err == nil:
		return u.ID, nil
	case errors.Is(err, store.ErrNotFound):
		return "", nil
	default:
		return "", s.storeError(err)
	}
}

// resolveUser returns the ID of the user a consumed token signs in,
// creating the user on a first sign-in unless signup is disabled (then ""
// for an address without one). A Users with store.UserEnsurer does it in
// one round trip.
func (s *Service) resolveUser(ctx context.Context, t *store.Token) (string, error) {
	if s.disableSignup {
		return s.lookupUser(ctx, t.OrgID, t.Email)
	}
	u := &store.User{ID: randid.New("usr_"), OrgID: t.OrgID, Email: t.Email, CreatedAt: s.now()}
	if e, ok := s.users.(store.UserEnsurer); ok {
		got, created, err := e.FindOrCreateUser(ctx, u)
		if err != nil {
			return "", s.storeError(err)
		}
		if created {
			s.userCreated(ctx, got)
		}
		return checkedUserID(got.ID)
	}
	userID, err := s.lookupUser(ctx, t.OrgID, t.Email)
	if err != nil || userID != "" {
		return userID, err
	}
	switch err := s.users.CreateUser(ctx, u); {
	case err == nil:
		s.userCreated(ctx, u)
		return checkedUserID(u.ID)
	case errors.Is(err, store.ErrExists):
		// A concurrent first sign-in created the user first.
		return s.lookupUser(ctx, t.OrgID, t.Email)
	default:
		return "", s.storeError(err)
	}
}

// checkedUserID refuses the empty ID a faulty Config.Users may leave, which
// would otherwise read as "no user".
func checkedUserID(id string) (string, error) {
	if id == "" {
		return "", errors.New("magiclink: Config.Users left a created user without an ID")
	}
	return id, nil
}
