package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/magiclink-go/magiclink/store"
)

// schema is the application's own users table. Its IDs are the
// application's (an identity column); the columns magiclink reads and
// writes sit beside the application's own (plan). org_id is "" for public
// sign-ups and a partner's organisation for users created through an API
// key; an address is unique within its organisation.
const schema = `
CREATE TABLE IF NOT EXISTS app_users (
	id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id            text NOT NULL DEFAULT '',
	email             text NOT NULL,
	first_name        text NOT NULL DEFAULT '',
	last_name         text NOT NULL DEFAULT '',
	phone             text NOT NULL DEFAULT '',
	language_code     text NOT NULL DEFAULT '',
	mail_permission   boolean NOT NULL DEFAULT false,
	secret_key_digest bytea,
	created_at        timestamptz NOT NULL DEFAULT now(),
	plan              text NOT NULL DEFAULT 'free',
	UNIQUE (org_id, email)
)`

const userColumns = `id, org_id, email, first_name, last_name, phone, language_code, mail_permission, secret_key_digest, created_at`

// Users is magiclink's view of app_users: store.Users, plus
// store.UserEnsurer so that a first sign-in costs one statement.
type Users struct{ pool *pgxpool.Pool }

var (
	_ store.Users       = (*Users)(nil)
	_ store.UserEnsurer = (*Users)(nil)
)

// CreateUser inserts u and replaces u.ID with the row's own ID.
func (a *Users) CreateUser(ctx context.Context, u *store.User) error {
	row := a.pool.QueryRow(ctx, `INSERT INTO app_users (org_id, email, first_name, last_name, phone, language_code,
		mail_permission, secret_key_digest, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (org_id, email) DO NOTHING RETURNING id`, insertArgs(u)...)
	var id int64
	if err := row.Scan(&id); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrExists
		}
		return dbError(err)
	}
	u.ID = strconv.FormatInt(id, 10)
	return nil
}

// FindOrCreateUser returns the address's user, inserting one when there is
// none, in one statement. When a concurrent first sign-in inserts the same
// address meanwhile, the insert does nothing and the statement's snapshot
// does not see that row yet; a second statement reads it.
func (a *Users) FindOrCreateUser(ctx context.Context, u *store.User) (*store.User, bool, error) {
	row := a.pool.QueryRow(ctx, `WITH found AS (
			SELECT `+userColumns+` FROM app_users WHERE org_id = $1 AND email = $2
		), created AS (
			INSERT INTO app_users (org_id, email, first_name, last_name, phone, language_code, mail_permission,
				secret_key_digest, created_at)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE NOT EXISTS (SELECT 1 FROM found)
			ON CONFLICT (org_id, email) DO NOTHING RETURNING `+userColumns+`
		)
		SELECT *, false FROM found UNION ALL SELECT *, true FROM created`, insertArgs(u)...)
	got, created, err := scanUser(row, true)
	if errors.Is(err, pgx.ErrNoRows) {
		got, err = a.UserByEmail(ctx, u.OrgID, u.Email)
		return got, false, err
	}
	if err != nil {
		return nil, false, dbError(err)
	}
	return got, created, nil
}

// UserByEmail returns the user of the organisation with this address.
func (a *Users) UserByEmail(ctx context.Context, orgID, email string) (*store.User, error) {
	u, _, err := scanUser(a.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM app_users WHERE org_id = $1 AND email = $2`, orgID, email), false)
	return u, notFound(err)
}

// UserByID returns the user with this ID; an ID that is not one of ours
// is simply not found.
func (a *Users) UserByID(ctx context.Context, id string) (*store.User, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil, store.ErrNotFound
	}
	u, _, err := scanUser(a.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM app_users WHERE id = $1`, n), false)
	return u, notFound(err)
}

// Plan is the application's own column, which the sign-in hook reads.
func (a *Users) Plan(ctx context.Context, id string) (string, error) {
	var plan string
	err := a.pool.QueryRow(ctx, `SELECT plan FROM app_users WHERE id = $1`, id).Scan(&plan)
	return plan, notFound(err)
}

func insertArgs(u *store.User) []any {
	var digest []byte
	if !u.SecretKeyDigest.IsZero() {
		digest = u.SecretKeyDigest[:]
	}
	return []any{u.OrgID, u.Email, u.FirstName, u.LastName, u.Phone, u.LanguageCode, u.MailPermission, digest, u.CreatedAt}
}

func scanUser(row pgx.Row, withCreated bool) (*store.User, bool, error) {
	var (
		u       store.User
		id      int64
		digest  []byte
		created bool
	)
	dest := []any{&id, &u.OrgID, &u.Email, &u.FirstName, &u.LastName, &u.Phone, &u.LanguageCode, &u.MailPermission, &digest, &u.CreatedAt}
	if withCreated {
		dest = append(dest, &created)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, false, err
	}
	u.ID = strconv.FormatInt(id, 10)
	if len(digest) == len(u.SecretKeyDigest) {
		u.SecretKeyDigest = store.Digest(digest)
	}
	return &u, created, nil
}

// notFound maps "no row" to store.ErrNotFound and anything else to an
// outage.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return dbError(err)
	}
	return nil
}

// dbError reports a database failure as an outage, so magiclink answers
// 503 STORE_UNAVAILABLE and never 500. A real application may tell
// constraint violations from outages more finely.
func dbError(err error) error { return fmt.Errorf("app_users: %w: %w", store.ErrUnavailable, err) }
