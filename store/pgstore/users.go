package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/magiclink-go/magiclink/store"
)

const userColumns = `id, org_id, email, first_name, last_name, phone, language_code, mail_permission,
    secret_key_digest, created_at`

const createUserSQL = `
INSERT INTO {schema}.users (` + userColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

// findOrCreateUserSQL inserts the user unless the organisation already has
// one with this address, and returns whichever user holds the address,
// without writing anything for a known user. It returns no row only when a
// concurrent statement inserted the address after this one took its
// snapshot (DO NOTHING waited for it, the SELECT cannot see it); the caller
// then reads the row. A taken ID is still a unique violation.
const findOrCreateUserSQL = `
WITH ins AS (` + createUserSQL + `
    ON CONFLICT (org_id, email) DO NOTHING
    RETURNING ` + userColumns + `
)
SELECT ` + userColumns + ` FROM ins
UNION ALL
SELECT ` + userColumns + ` FROM {schema}.users WHERE org_id = $2 AND email = $3
LIMIT 1`

const userByEmailSQL = `SELECT ` + userColumns + ` FROM {schema}.users WHERE org_id = $1 AND email = $2`

const userByIDSQL = `SELECT ` + userColumns + ` FROM {schema}.users WHERE id = $1`

// CreateUser implements store.Users.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if _, err := s.db.exec(ctx, "create_user", s.q.createUser, userArgs(u)...); err != nil {
		return s.fail(ctx, "create user", err)
	}
	return nil
}

// FindOrCreateUser implements store.UserEnsurer in one statement, which
// writes nothing for a known user; so a verify costs the consume and this,
// on a first sign-in too. Only when a concurrent first sign-in of the same
// address wins the insert does it take a second statement to read that
// user.
func (s *Store) FindOrCreateUser(ctx context.Context, u *store.User) (user *store.User, created bool, err error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	user, err = scanUser(s.db.queryRow(ctx, "find_or_create_user", s.q.findOrCreateUser, userArgs(u)...))
	if errors.Is(err, pgx.ErrNoRows) {
		user, err = scanUser(s.db.queryRow(ctx, "user_by_email", s.q.userByEmail, u.OrgID, u.Email))
	}
	if err != nil {
		return nil, false, s.fail(ctx, "find or create user", err)
	}
	// IDs are unique across the store, so the returned row is u's exactly
	// when it carries u's ID.
	return user, user.ID == u.ID, nil
}

// UserByEmail implements store.Users.
func (s *Store) UserByEmail(ctx context.Context, orgID, email string) (*store.User, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	u, err := scanUser(s.db.queryRow(ctx, "user_by_email", s.q.userByEmail, orgID, email))
	if err != nil {
		return nil, s.fail(ctx, "user by email", err)
	}
	return u, nil
}

// UserByID implements store.Users.
func (s *Store) UserByID(ctx context.Context, id string) (*store.User, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	u, err := scanUser(s.db.queryRow(ctx, "user_by_id", s.q.userByID, id))
	if err != nil {
		return nil, s.fail(ctx, "user by id", err)
	}
	return u, nil
}

func userArgs(u *store.User) []any {
	return []any{u.ID, u.OrgID, u.Email, u.FirstName, u.LastName, u.Phone, u.LanguageCode, u.MailPermission,
		nullDigest(u.SecretKeyDigest), u.CreatedAt}
}

func scanUser(row pgx.Row) (*store.User, error) {
	u := &store.User{}
	var key []byte
	err := row.Scan(&u.ID, &u.OrgID, &u.Email, &u.FirstName, &u.LastName, &u.Phone, &u.LanguageCode,
		&u.MailPermission, &key, &u.CreatedAt)
	if err != nil {
		return nil, err
	}
	if u.SecretKeyDigest, err = digest(key); err != nil {
		return nil, fmt.Errorf("user %q: %w", u.ID, err)
	}
	return u, nil
}
