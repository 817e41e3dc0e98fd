package pgstore

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/magiclink-go/magiclink/store"
)

const sessionColumns = `id, token_hash, refresh_hash, user_id, org_id, email, method,
    created_at, last_seen_at, idle_expires_at, expires_at, ip, user_agent`

// A session is live at @now when neither expiry has come.
const liveSession = `idle_expires_at > @now::timestamptz AND expires_at > @now::timestamptz`

// createSessionSQL inserts a session, or replaces a dead row that still
// holds its ID; no row back means the ID is taken by a live session.
const createSessionSQL = `
INSERT INTO {schema}.sessions AS s (` + sessionColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (id) DO UPDATE SET
    token_hash = EXCLUDED.token_hash, refresh_hash = EXCLUDED.refresh_hash, previous_refresh = '{}',
    user_id = EXCLUDED.user_id, org_id = EXCLUDED.org_id, email = EXCLUDED.email, method = EXCLUDED.method,
    created_at = EXCLUDED.created_at, last_seen_at = EXCLUDED.last_seen_at,
    idle_expires_at = EXCLUDED.idle_expires_at, expires_at = EXCLUDED.expires_at,
    ip = EXCLUDED.ip, user_agent = EXCLUDED.user_agent
WHERE NOT (s.idle_expires_at > $14 AND s.expires_at > $14)
RETURNING 1`

// sessionLookupSQL finds a live session by ID, and by token digest too
// when @token is not NULL, applying a due touch in the same statement. A
// touch is due when @due and the session was last seen before @seenBefore;
// the UPDATE then returns the touched row, else the SELECT returns it as
// the statement's snapshot has it. (A concurrent touch that commits first
// makes this one not due; the row returned is then the one before it.)
const sessionLookupSQL = `
WITH touched AS (
    UPDATE {schema}.sessions SET last_seen_at = @at::timestamptz, idle_expires_at = @idle::timestamptz
    WHERE id = @id::text AND (@token::bytea IS NULL OR sha256(token_hash) = sha256(@token)) AND ` + liveSession + `
        AND @due::boolean AND last_seen_at < @seenBefore::timestamptz
    RETURNING ` + sessionColumns + `
)
SELECT ` + sessionColumns + ` FROM touched
UNION ALL
SELECT ` + sessionColumns + ` FROM {schema}.sessions
WHERE id = @id AND (@token::bytea IS NULL OR sha256(token_hash) = sha256(@token)) AND ` + liveSession + `
    AND NOT EXISTS (SELECT 1 FROM touched)
LIMIT 1`

// rotateRefreshSQL is one UPDATE that locks the live session and, on the
// version it locked, either rotates (the current digest is @cur: @next
// replaces it, @cur joins the history, a due touch is applied) or, when
// @cur is in the history, revokes it (reuse). Concurrent rotations with one
// digest queue on the row: the first rotates, each later one finds @cur in
// the history and revokes, and after that finds nothing. SET reads the row
// as it was before this statement.
const rotateRefreshSQL = `
UPDATE {schema}.sessions SET
    refresh_hash = CASE WHEN refresh_hash = @cur::bytea THEN @next::bytea ELSE refresh_hash END,
    previous_refresh = CASE WHEN refresh_hash = @cur
        THEN (ARRAY[@cur::bytea] || previous_refresh)[1:@kept::int] ELSE previous_refresh END,
    last_seen_at = CASE WHEN refresh_hash = @cur AND @due::boolean AND last_seen_at < @seenBefore::timestamptz
        THEN @at::timestamptz ELSE last_seen_at END,
    idle_expires_at = CASE
        WHEN refresh_hash IS DISTINCT FROM @cur THEN 'epoch'
        WHEN @due AND last_seen_at < @seenBefore THEN @idle::timestamptz
        ELSE idle_expires_at END
WHERE id = @id AND ` + liveSession + ` AND (refresh_hash = @cur OR @cur = ANY(previous_refresh))
RETURNING idle_expires_at = 'epoch' AS reused, ` + sessionColumns

const revokeSessionSQL = `
DELETE FROM {schema}.sessions WHERE id = $1 AND user_id = $2 AND idle_expires_at > $3 AND expires_at > $3`

// revokeUserSessionsSQL counts only the live sessions it ends; dead rows
// of the user go too.
const revokeUserSessionsSQL = `
WITH gone AS (
    DELETE FROM {schema}.sessions WHERE user_id = $1 AND id <> $2
    RETURNING idle_expires_at > $3 AND expires_at > $3 AS live
)
SELECT count(*) FILTER (WHERE live) FROM gone`

const userSessionsSQL = `
SELECT ` + sessionColumns + ` FROM {schema}.sessions
WHERE user_id = $1 AND idle_expires_at > $2 AND expires_at > $2
ORDER BY created_at, id`

const sweepSessionsSQL = `
DELETE FROM {schema}.sessions WHERE id IN (
    SELECT id FROM {schema}.sessions WHERE least(idle_expires_at, expires_at) <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED
) AND least(idle_expires_at, expires_at) <= $1`

// CreateSession implements store.Sessions.
func (s *Store) CreateSession(ctx context.Context, sess *store.Session) error {
	now := s.clock()
	if err := store.CheckNewSession(sess, now); err != nil {
		return fmt.Errorf("pgstore: create session: %w", err)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	var one int
	err := s.db.queryRow(ctx, "create_session", s.q.createSession, sess.ID, sess.TokenHash[:], nullDigest(sess.RefreshHash),
		sess.UserID, sess.OrgID, sess.Email, sess.Method, sess.CreatedAt, sess.LastSeenAt, sess.IdleExpiresAt,
		sess.ExpiresAt, sess.IP, sess.UserAgent, now).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("pgstore: create session: %w", store.ErrExists)
	}
	if err != nil {
		return s.fail(ctx, "create session", err)
	}
	return nil
}

// SessionByToken implements store.Sessions in one statement, touch
// included.
func (s *Store) SessionByToken(ctx context.Context, tokenHash store.Digest, touch store.Touch) (*store.Session, error) {
	return s.lookupSession(ctx, store.SessionID(tokenHash), tokenHash[:], touch)
}

// SessionByID implements store.Sessions in one statement, touch included.
func (s *Store) SessionByID(ctx context.Context, id string, touch store.Touch) (*store.Session, error) {
	return s.lookupSession(ctx, id, nil, touch)
}

func (s *Store) lookupSession(ctx context.Context, id string, token []byte, touch store.Touch) (*store.Session, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	args := touchArgs(touch)
	args["id"], args["token"], args["now"] = id, token, s.clock()
	sess, err := scanSession(s.db.queryRow(ctx, "session_lookup", s.q.sessionLookup, args))
	if err != nil {
		return nil, s.fail(ctx, "session lookup", err)
	}
	if token != nil && subtle.ConstantTimeCompare(sess.TokenHash[:], token) != 1 {
		return nil, fmt.Errorf("pgstore: session lookup: %w", store.ErrNotFound)
	}
	return sess, nil
}

// RotateRefresh implements store.Sessions in one statement.
func (s *Store) RotateRefresh(ctx context.Context, id string, current, next store.Digest, touch store.Touch) (*store.Session, error) {
	if current.IsZero() {
		// A session without a refresh token has nothing to rotate.
		return nil, fmt.Errorf("pgstore: rotate refresh: %w", store.ErrNotFound)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	args := touchArgs(touch)
	args["id"], args["cur"], args["next"], args["now"] = id, current[:], next[:], s.clock()
	args["kept"] = store.PreviousRefreshKept
	var reused bool
	sess, err := scanSession(s.db.queryRow(ctx, "rotate_refresh", s.q.rotateRefresh, args), &reused)
	if err != nil {
		return nil, s.fail(ctx, "rotate refresh", err)
	}
	if reused {
		return nil, fmt.Errorf("pgstore: rotate refresh: %w", store.ErrRefreshReused)
	}
	return sess, nil
}

// RevokeSession implements store.Sessions.
func (s *Store) RevokeSession(ctx context.Context, userID, id string) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	tag, err := s.db.exec(ctx, "revoke_session", s.q.revokeSession, id, userID, s.clock())
	if err != nil {
		return s.fail(ctx, "revoke session", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: revoke session: %w", store.ErrNotFound)
	}
	return nil
}

// RevokeUserSessions implements store.Sessions.
func (s *Store) RevokeUserSessions(ctx context.Context, userID, except string) (int, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	var n int
	if err := s.db.queryRow(ctx, "revoke_user_sessions", s.q.revokeUserSessions, userID, except, s.clock()).Scan(&n); err != nil {
		return 0, s.fail(ctx, "revoke user sessions", err)
	}
	return n, nil
}

// UserSessions implements store.Sessions.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]*store.Session, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	rows, err := s.db.query(ctx, "user_sessions", s.q.userSessions, userID, s.clock())
	if err != nil {
		return nil, s.fail(ctx, "user sessions", err)
	}
	defer rows.Close()
	var out []*store.Session
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, s.fail(ctx, "user sessions", err)
		}
		out = append(out, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "user sessions", err)
	}
	return out, nil
}

// touchArgs are the named arguments of a touch: @due, @at, @seenBefore and
// @idle (times are never NULL, so a zero Touch still has typed values).
func touchArgs(t store.Touch) pgx.NamedArgs {
	return pgx.NamedArgs{"due": !t.At.IsZero(), "at": t.At, "seenBefore": t.IfSeenBefore, "idle": t.IdleExpiresAt}
}

// scanSession reads sessionColumns, after the leading columns in lead.
func scanSession(row pgx.Row, lead ...any) (*store.Session, error) {
	sess := &store.Session{}
	var token, refresh []byte
	dest := append(lead, &sess.ID, &token, &refresh, &sess.UserID, &sess.OrgID, &sess.Email, &sess.Method,
		&sess.CreatedAt, &sess.LastSeenAt, &sess.IdleExpiresAt, &sess.ExpiresAt, &sess.IP, &sess.UserAgent)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	var err error
	if sess.TokenHash, err = digest(token); err != nil {
		return nil, fmt.Errorf("session %s: %w", strconv.Quote(sess.ID), err)
	}
	if sess.RefreshHash, err = digest(refresh); err != nil {
		return nil, fmt.Errorf("session %s: %w", strconv.Quote(sess.ID), err)
	}
	return sess, nil
}
