package store

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"time"
)

// ErrRefreshReused: RotateRefresh was given a refresh token that the
// session had already rotated away. That is what a stolen token looks
// like, so the store has revoked the session in the same step.
var ErrRefreshReused = errors.New("store: refresh token reused")

// Session is one signed-in device or client: a stored, revocable record.
//
// A session is found three ways: by the digest of its session token (the
// opaque browser cookie), by its ID (the "sid" of an access token) and, for
// a refresh, by its ID together with the digest of the current refresh
// token. Raw tokens are never stored; only their SHA-256 digests are.
type Session struct {
	// ID is the session's public identifier, SessionID(TokenHash). It is
	// shown to the user in a session list and carried in access tokens;
	// knowing it grants nothing.
	ID string
	// TokenHash is the SHA-256 of the session token, a 256-bit random
	// value. For a session that was handed out only as access and refresh
	// tokens, the session token is made and discarded, so nobody holds it.
	TokenHash Digest
	// RefreshHash is the SHA-256 of the current refresh token, or zero when
	// the session has none (a browser session). RotateRefresh replaces it;
	// the store remembers at least the PreviousRefreshKept most recent
	// earlier ones, to recognise their reuse.
	RefreshHash Digest

	// UserID, OrgID and Email say who is signed in; Method how ("link" or
	// "code").
	UserID string
	OrgID  string
	Email  string
	Method string

	// CreatedAt is when the session began; LastSeenAt when it was last used
	// as the Service recorded it (at most about once a minute).
	CreatedAt  time.Time
	LastSeenAt time.Time
	// IdleExpiresAt is when the session ends unless it is used again (each
	// touch moves it); ExpiresAt is when it ends regardless.
	IdleExpiresAt time.Time
	ExpiresAt     time.Time

	// IP and UserAgent describe the client that signed in, for the user's
	// session list.
	IP        string
	UserAgent string
}

// Live reports whether s has neither idled out nor reached its maximum age
// at now.
func (s *Session) Live(now time.Time) bool {
	return now.Before(s.IdleExpiresAt) && now.Before(s.ExpiresAt)
}

// Deadline is when s ends if it is not used again: the earlier of its idle
// and absolute expiry.
func (s *Session) Deadline() time.Time {
	if s.IdleExpiresAt.Before(s.ExpiresAt) {
		return s.IdleExpiresAt
	}
	return s.ExpiresAt
}

// PreviousRefreshKept is how many rotated-away refresh digests a store
// keeps per session, at least. Presenting one of them is reuse; an older
// one is merely unknown (ErrNotFound). A client refreshes once per access
// token lifetime, so this spans hours of history.
const PreviousRefreshKept = 16

// MaxSessionField bounds the length of a session's strings (user ID, org,
// address, method, IP, User-Agent); CreateSession rejects longer ones.
const MaxSessionField = 1024

// Touch asks a lookup to record that the session is being used. The
// Service decides the policy; the store only writes, in the same step as
// the lookup, so a request costs one round trip to a remote store.
//
// The zero Touch writes nothing.
type Touch struct {
	// At is the new LastSeenAt.
	At time.Time
	// IfSeenBefore makes the write conditional: only a session whose
	// LastSeenAt is before it is touched. The Service passes At minus one
	// minute, so a busy session is written at most once a minute.
	IfSeenBefore time.Time
	// IdleExpiresAt is the new idle expiry, written together with At.
	IdleExpiresAt time.Time
}

// due reports whether t asks for a write on a session last seen at seen.
func (t Touch) due(seen time.Time) bool {
	return !t.At.IsZero() && seen.Before(t.IfSeenBefore)
}

// Apply performs the touch on s when it is due, and reports whether it
// did. Stores that hold Session values use it so every store agrees on
// what a touch writes.
func (t Touch) Apply(s *Session) bool {
	if !t.due(s.LastSeenAt) {
		return false
	}
	s.LastSeenAt = t.At
	s.IdleExpiresAt = t.IdleExpiresAt
	return true
}

// Sessions stores sessions.
//
// Expiry is judged by the store's clock: a session whose IdleExpiresAt or
// ExpiresAt is not after now is gone (ErrNotFound) for every method, even
// if the backend still holds it. A revoked session is gone at once and for
// good.
type Sessions interface {
	// CreateSession stores s. s.ID must be SessionID(s.TokenHash) and
	// s.UserID non-empty; s must be live. ErrExists when the ID is taken.
	CreateSession(ctx context.Context, s *Session) error
	// SessionByToken returns the live session whose token digest is
	// tokenHash, after applying touch to it.
	SessionByToken(ctx context.Context, tokenHash Digest, touch Touch) (*Session, error)
	// SessionByID returns the live session with this ID, after applying
	// touch to it.
	SessionByID(ctx context.Context, id string, touch Touch) (*Session, error)
	// RotateRefresh replaces the refresh digest of session id: when
	// current is its RefreshHash, next becomes the RefreshHash, current
	// joins the previous ones, touch is applied, and the updated session
	// is returned. Of any number of concurrent calls with the same current
	// digest exactly one succeeds. When current is a previous refresh
	// digest of the session, the session is revoked and ErrRefreshReused
	// returned. ErrNotFound when the session is gone or current is neither.
	RotateRefresh(ctx context.Context, id string, current, next Digest, touch Touch) (*Session, error)
	// RevokeSession ends session id of userID. ErrNotFound when userID has
	// no live session with that ID (another user's session included).
	RevokeSession(ctx context.Context, userID, id string) error
	// RevokeUserSessions ends every session of userID except the one with
	// ID except ("" ends them all) and returns how many live sessions it
	// ended. A session created while it runs may survive it.
	RevokeUserSessions(ctx context.Context, userID, except string) (int, error)
	// UserSessions returns the live sessions of userID, oldest first (by
	// CreatedAt, then ID).
	UserSessions(ctx context.Context, userID string) ([]*Session, error)
}

// SessionID returns the public ID of the session whose token digest is
// tokenHash: its first 128 bits in base64url without padding (22
// characters of [A-Za-z0-9_-]). A store keys a session by it, so a lookup
// by token digest and one by ID (an access token's sid) find the same
// record in one step, and the record keeps the whole digest, which a
// lookup by token compares in constant time. Half of the SHA-256 of a
// 256-bit random token says nothing about the token, so the ID can be
// shown and handed out.
func SessionID(tokenHash Digest) string {
	id := sessionID(tokenHash)
	return string(id[:])
}

// sessionID is SessionID into an array, for lookups that need no string
// on the heap.
func sessionID(tokenHash Digest) [SessionIDLen]byte {
	var id [SessionIDLen]byte
	base64.RawURLEncoding.Encode(id[:], tokenHash[:16])
	return id
}

// SessionIDLen is the length of every ID that SessionID returns.
const SessionIDLen = 22

// ValidSessionID reports whether id has the form SessionID returns, so a
// caller can refuse a malformed ID before asking a store.
func ValidSessionID(id string) bool {
	if len(id) != SessionIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if strings.IndexByte(base64URL, id[i]) < 0 {
			return false
		}
	}
	// 22 characters carry 132 bits for 128: the canonical encoding leaves
	// the last character's 4 low bits zero.
	return strings.IndexByte(base64URL, id[len(id)-1])&0xf == 0
}

const base64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// CheckNewSession reports what is wrong with s for CreateSession at now,
// or nil. Stores call it so they all refuse the same records.
func CheckNewSession(s *Session, now time.Time) error {
	switch {
	case s.TokenHash.IsZero():
		return errors.New("store: session without a token digest")
	case s.ID != SessionID(s.TokenHash):
		return errors.New("store: session ID is not SessionID(TokenHash)")
	case s.UserID == "":
		return errors.New("store: session without a user")
	case !s.Live(now):
		return errors.New("store: session already expired")
	}
	for _, f := range [...]string{s.UserID, s.OrgID, s.Email, s.Method, s.IP, s.UserAgent} {
		if len(f) > MaxSessionField {
			return errors.New("store: session field too long")
		}
	}
	return nil
}
