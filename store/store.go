// Package store defines the storage contracts of magiclink and provides the
// embedded in-memory implementation (NewMemory).
//
// A store keeps four kinds of records:
//
//   - tokens: one per issued link, keyed by the SHA-256 digest of the link
//     secret (the secret itself is never stored), each with an optional
//     6-digit code kept as an HMAC;
//   - users: by ID and by (organisation, e-mail), with an optional digest of
//     the user's API secret key;
//   - customers: an operator's customer ID mapped to an e-mail address;
//   - sessions: one per signed-in device, keyed by a digest of its session
//     token, with the digest of its current refresh token (see Sessions).
//   - pending sign-in requests (the optional PendingRequests capability): a
//     browser waiting for its link to be approved on another device.
//
// Every method takes a context first. Not-found is reported as ErrNotFound
// (wrapped or bare, match it with errors.Is); a store that cannot be reached
// returns an error matching ErrUnavailable. Implementations must be safe for
// concurrent use; the conformance suite in store/storetest pins the contract.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors returned by stores. Match with errors.Is.
var (
	// ErrNotFound: the record does not exist, has expired or was consumed.
	ErrNotFound = errors.New("store: not found")
	// ErrExists: a record with the same unique key already exists.
	ErrExists = errors.New("store: already exists")
	// ErrCodeMismatch: ConsumeCode got a wrong code; the try was counted.
	ErrCodeMismatch = errors.New("store: code mismatch")
	// ErrUnavailable: the backend cannot be reached or timed out.
	ErrUnavailable = errors.New("store: unavailable")
	// ErrFull: a bounded store has no room for another record.
	ErrFull = errors.New("store: full")
)

// Digest is a SHA-256 digest or an HMAC-SHA-256 value.
type Digest [32]byte

// IsZero reports whether d is all zeros (unset).
func (d Digest) IsZero() bool { return d == Digest{} }

// Token is one issued sign-in link.
type Token struct {
	// Hash is SHA-256 of the link secret; it is the record's key.
	Hash Digest
	// UserID is the user the link signs in, or "" when the address had no
	// user when the link was sent (the user is created at verify time).
	UserID string
	// Email is the normalized address the link was sent to.
	Email string
	// OrgID is the organisation the link belongs to ("" for the default).
	OrgID string
	// Origin is the canonical callback origin; Next the safe path to land on.
	Origin string
	Next   string
	// CodeMAC is HMAC(server key, email ‖ code) of the link's code, or zero
	// when the link has no code.
	CodeMAC Digest
	// CreatedAt and ExpiresAt bound the link's life.
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Tokens stores issued links and their codes.
//
// A link and its code are two single-use credentials from one mail. Using
// the code consumes the link too; using the link leaves the code usable
// until it expires, so that a mail scanner that presses the confirm button
// cannot lock the user out: the code in the same mail still signs in, on
// any device. Whoever holds the mail could use either anyway.
//
// A code belongs to an e-mail address: PutToken with a non-zero CodeMAC makes
// that code the address's one active code, replacing any earlier one (earlier
// links stay valid; only their codes die). The code lives until the token's
// ExpiresAt at the latest.
type Tokens interface {
	// PutToken stores t until t.ExpiresAt. ErrExists if t.Hash is present.
	PutToken(ctx context.Context, t *Token) error
	// ConsumeToken removes and returns the live token with this hash,
	// atomically: of any number of concurrent calls exactly one succeeds.
	// ErrNotFound when unknown, expired or already consumed (by the link or
	// by its code).
	ConsumeToken(ctx context.Context, hash Digest) (*Token, error)
	// ConsumeCode checks mac against the active code of email. On a match it
	// removes the code, consumes the token's link if it is still unused, and
	// returns the token (also when its link was already used); of any number
	// of concurrent calls with the right code exactly one succeeds. On a
	// mismatch it counts a try and returns ErrCodeMismatch; the try that
	// reaches maxTries also kills the code. ErrNotFound when the address has
	// no live code.
	ConsumeCode(ctx context.Context, email string, mac Digest, maxTries int) (*Token, error)
}

// User is a person who can sign in.
type User struct {
	// ID is unique across the store, assigned by the caller.
	ID string
	// OrgID is the organisation ("" for the default); Email is normalized
	// and unique within OrgID.
	OrgID string
	Email string

	FirstName      string
	LastName       string
	Phone          string
	LanguageCode   string
	MailPermission bool

	// SecretKeyDigest is SHA-256 of the user's partner secret key
	// (X-User-Secret-Key of POST /api/v1/Auth/CreateMagicLink), or
	// zero when the user has none.
	SecretKeyDigest Digest

	CreatedAt time.Time
}

// Users stores users. Every store implements it; an application that keeps
// users in a table of its own implements it too and passes it as
// magiclink.Config.Users, while tokens and sessions stay in the store.
//
// Users of every organisation pass through it: OrgID "" is the public
// sign-up, and each partner API key has an organisation of its own, whose
// users carry the profile fields and SecretKeyDigest. An address is unique
// within its organisation, not across them.
type Users interface {
	// CreateUser stores u. ErrExists when u.ID or (u.OrgID, u.Email) is
	// taken. The caller fills u.ID with a fresh random ID; an
	// implementation that assigns IDs itself (a database sequence, its own
	// format) may replace it, and the caller then uses u.ID as left.
	CreateUser(ctx context.Context, u *User) error
	// UserByEmail returns the user with this organisation and address.
	UserByEmail(ctx context.Context, orgID, email string) (*User, error)
	// UserByID returns the user with this ID.
	UserByID(ctx context.Context, id string) (*User, error)
}

// UserEnsurer is an optional capability of a Users store, found by type
// assertion: resolving a signing-in address to its user in one round trip,
// creating the user on a first sign-in. The Service uses it when its store
// has it, so a verify costs the consume and this.
type UserEnsurer interface {
	// FindOrCreateUser returns the user of u.OrgID with u.Email, storing u
	// when the organisation has none; created reports whether u was
	// stored. Of concurrent calls for one address exactly one creates it
	// and all return that user. ErrExists only when u.ID belongs to
	// another address. Like CreateUser, an implementation may replace u.ID
	// before storing u (redisstore adds a slot tag); the user returned, and
	// u, then hold the ID it stored.
	FindOrCreateUser(ctx context.Context, u *User) (user *User, created bool, err error)
}

// Customer maps an operator's customer ID (POST /admin/magic_link) to an
// address.
type Customer struct {
	ID    string
	Email string
	// OrgID is the organisation the customer's users live in.
	OrgID string
}

// Customers stores customers.
type Customers interface {
	// PutCustomer creates or replaces the customer with c.ID.
	PutCustomer(ctx context.Context, c *Customer) error
	// CustomerByID returns the customer with this ID.
	CustomerByID(ctx context.Context, id string) (*Customer, error)
}

// Store is everything the Service needs.
type Store interface {
	Tokens
	Users
	Customers
	Sessions
}
