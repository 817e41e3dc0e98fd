package pgstore

import (
	"context"
	"fmt"

	"github.com/magiclink-go/magiclink/store"
)

// putTokenSQL inserts the token and, when it has a code, makes that code the
// address's active one, replacing any earlier code (but not its link). The
// code is written only if the token was: a duplicate hash changes nothing.
// It returns how many tokens it inserted (0 or 1).
const putTokenSQL = `
WITH t AS (
    INSERT INTO {schema}.tokens (hash, user_id, email, org_id, origin, next, code_mac, created_at, expires_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (hash) DO NOTHING
    RETURNING hash
), c AS (
    INSERT INTO {schema}.codes (email, mac, tries, used, token_hash, user_id, org_id, origin, next, created_at, expires_at)
    SELECT $3, $7, 0, false, hash, $2, $4, $5, $6, $8, $9 FROM t WHERE $7::bytea IS NOT NULL
    ON CONFLICT (email) DO UPDATE SET
        mac = EXCLUDED.mac, tries = 0, used = false, token_hash = EXCLUDED.token_hash,
        user_id = EXCLUDED.user_id, org_id = EXCLUDED.org_id, origin = EXCLUDED.origin,
        next = EXCLUDED.next, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
)
SELECT count(*) FROM t`

// consumeTokenSQL removes and returns a live token: one statement, so of
// concurrent consumers exactly one gets the row.
const consumeTokenSQL = `
DELETE FROM {schema}.tokens WHERE hash = $1 AND expires_at > $2
RETURNING user_id, email, org_id, origin, next, code_mac, created_at, expires_at`

// peekTokenSQL reads a live token and changes nothing.
const peekTokenSQL = `
SELECT user_id, email, org_id, origin, next, code_mac, created_at, expires_at
FROM {schema}.tokens WHERE hash = $1 AND expires_at > $2`

// consumeCodeSQL is one try of a code. The UPDATE locks the address's live
// code row (concurrent tries queue on it and each re-reads the row it
// waited for): a match marks it used, a mismatch counts a try, and the try
// that reaches the limit leaves it dead. On a match the same statement
// deletes the code's link if it is still unused. No row: no live code.
//
// The MAC is compared by the database, not in constant time. It is an HMAC
// under a key the caller never sees, of a code the caller chose, so how
// many leading bytes match tells nothing about the right code.
const consumeCodeSQL = `
WITH c AS (
    UPDATE {schema}.codes
    SET tries = tries + CASE WHEN mac = $2 THEN 0 ELSE 1 END, used = (mac = $2)
    WHERE email = $1 AND expires_at > $3 AND NOT used AND tries < $4
    RETURNING mac = $2 AS hit, token_hash, user_id, org_id, origin, next, mac, created_at, expires_at
), link AS (
    DELETE FROM {schema}.tokens WHERE hash = (SELECT token_hash FROM c WHERE hit)
)
SELECT hit, token_hash, user_id, org_id, origin, next, mac, created_at, expires_at FROM c`

// PutToken implements store.Tokens.
func (s *Store) PutToken(ctx context.Context, t *store.Token) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	var n int
	err := s.db.queryRow(ctx, "put_token", s.q.putToken, t.Hash[:], t.UserID, t.Email, t.OrgID, t.Origin, t.Next,
		nullDigest(t.CodeMAC), t.CreatedAt, t.ExpiresAt).Scan(&n)
	if err != nil {
		return s.fail(ctx, "put token", err)
	}
	if n == 0 {
		return fmt.Errorf("pgstore: put token: %w", store.ErrExists)
	}
	return nil
}

// ConsumeToken implements store.Tokens with one DELETE … RETURNING.
func (s *Store) ConsumeToken(ctx context.Context, hash store.Digest) (*store.Token, error) {
	return s.readToken(ctx, "consume token", "consume_token", s.q.consumeToken, hash)
}

// readToken runs a statement (stmt, its span name) that returns one live
// token's columns.
func (s *Store) readToken(ctx context.Context, op, stmt, sql string, hash store.Digest) (*store.Token, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	t := &store.Token{Hash: hash}
	var mac []byte
	err := s.db.queryRow(ctx, stmt, sql, hash[:], s.clock()).
		Scan(&t.UserID, &t.Email, &t.OrgID, &t.Origin, &t.Next, &mac, &t.CreatedAt, &t.ExpiresAt)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if t.CodeMAC, err = digest(mac); err != nil {
		return nil, fmt.Errorf("pgstore: %s: %w", op, err)
	}
	return t, nil
}

// PeekToken implements store.TokenPeeker with one SELECT: the row exists
// only while its link is unused (ConsumeToken deletes it).
func (s *Store) PeekToken(ctx context.Context, hash store.Digest) (*store.Token, error) {
	return s.readToken(ctx, "peek token", "peek_token", s.q.peekToken, hash)
}

// ConsumeCode implements store.Tokens in one statement.
func (s *Store) ConsumeCode(ctx context.Context, email string, mac store.Digest, maxTries int) (*store.Token, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	t := &store.Token{Email: email}
	var hit bool
	var hash, codeMAC []byte
	err := s.db.queryRow(ctx, "consume_code", s.q.consumeCode, email, mac[:], s.clock(), maxTries).
		Scan(&hit, &hash, &t.UserID, &t.OrgID, &t.Origin, &t.Next, &codeMAC, &t.CreatedAt, &t.ExpiresAt)
	if err != nil {
		return nil, s.fail(ctx, "consume code", err)
	}
	if !hit {
		return nil, fmt.Errorf("pgstore: consume code: %w", store.ErrCodeMismatch)
	}
	if t.Hash, err = digest(hash); err != nil {
		return nil, err
	}
	if t.CodeMAC, err = digest(codeMAC); err != nil {
		return nil, err
	}
	return t, nil
}
