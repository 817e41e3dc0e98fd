package magiclink

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"

	"github.com/magiclink-go/magiclink/internal/mask"
	"github.com/magiclink-go/magiclink/internal/randid"
	"github.com/magiclink-go/magiclink/store"
)

// Errors of CreatePartnerLink, for matching with errors.Is (see the
// sentinel table in errors.go).
var (
	// ErrUserExists is the kind of a partner's registration of an address
	// that already has a user; the partner must send that user's secret key.
	ErrUserExists = &Error{Code: "USER_EXISTS", Message: "a user with this email already exists; send the user's secret key to get a link", kind: kindUserExists}
	// ErrSecretKeyInvalid is the kind of a partner's user secret key that
	// does not belong to a user with the address, or of an address with no
	// user.
	ErrSecretKeyInvalid = &Error{Code: "SECRET_KEY_INVALID", Message: "the secret key is not valid for this user", kind: kindSecretKeyInvalid}
)

// partnerSecretLen is the number of random bytes in a user's secret key.
const partnerSecretLen = 32

// PartnerLinkRequest asks CreatePartnerLink for a link for one of a
// partner's users.
type PartnerLinkRequest struct {
	// OrgID is the partner's organisation: its users live there.
	OrgID string
	// Origin and Next are where the link lands (see LinkRequest).
	Origin string
	Next   string
	// Email is the user's address.
	Email string
	// SecretKey is the user's secret key, as returned when the user was
	// registered. Empty registers a new user with Profile.
	SecretKey string
	// Profile is stored with a new user; it is ignored with a SecretKey.
	Profile PartnerProfile
}

// PartnerProfile is what a partner tells about a new user.
type PartnerProfile struct {
	FirstName      string
	LastName       string
	Phone          string
	LanguageCode   string
	MailPermission bool
}

// PartnerLink is the answer of CreatePartnerLink.
type PartnerLink struct {
	// Link signs the user in; it carries the Service's CreateLinkTTL.
	Link *Link
	// SecretKey is the new user's secret key, returned only when the call
	// registered the user; it is stored only as a digest and cannot be
	// recovered.
	SecretKey string
}

// CreatePartnerLink serves a partner holding an API key. Without a
// SecretKey it registers a new user, with a fresh secret key returned once,
// and returns a link; an address that already has a user in the
// organisation is ErrUserExists, because a link for an existing account
// needs that account's key. With a SecretKey it returns a fresh link when
// the key belongs to the address's user, else ErrSecretKeyInvalid.
//
// A new user is stored only after its link was issued, so a failure leaves
// nothing behind and the partner can retry: a user stored without its key
// reaching the partner would be locked out for good. Rate limits are the
// caller's (see Limit), as for CreateLink.
func (s *Service) CreatePartnerLink(ctx context.Context, req PartnerLinkRequest) (*PartnerLink, error) {
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return nil, err
	}
	u, err := s.users.UserByEmail(ctx, req.OrgID, email)
	switch {
	case err == nil:
	case errors.Is(err, store.ErrNotFound):
		u = nil
	default:
		return nil, s.storeError(err)
	}
	if req.SecretKey != "" {
		return s.partnerLinkForKey(ctx, req, u)
	}
	if u != nil {
		return nil, newError(kindUserExists, "email", "", nil)
	}
	return s.registerPartnerUser(ctx, req, email)
}

// partnerLinkForKey links an existing user whose secret key the partner
// sent. The digest is compared also without a user (against zero), so the
// answer takes as long for an unknown address as for a wrong key.
func (s *Service) partnerLinkForKey(ctx context.Context, req PartnerLinkRequest, u *store.User) (*PartnerLink, error) {
	var want store.Digest
	if u != nil {
		want = u.SecretKeyDigest
	}
	got := sha256.Sum256([]byte(req.SecretKey))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || u == nil || want.IsZero() {
		return nil, newError(kindSecretKeyInvalid, "secretKey", "", nil)
	}
	link, err := s.CreateLink(ctx, LinkRequest{Email: u.Email, Origin: req.Origin, Next: req.Next, OrgID: req.OrgID, UserID: u.ID})
	if err != nil {
		return nil, err
	}
	return &PartnerLink{Link: link}, nil
}

// registerPartnerUser creates a user with a new secret key and links it.
func (s *Service) registerPartnerUser(ctx context.Context, req PartnerLinkRequest, email string) (*PartnerLink, error) {
	var raw [partnerSecretLen]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails (Go ≥ 1.24).
	secret := base64.StdEncoding.EncodeToString(raw[:])
	p := req.Profile
	user := &store.User{ID: randid.New("usr_"), OrgID: req.OrgID, Email: email, FirstName: p.FirstName, LastName: p.LastName,
		Phone: p.Phone, LanguageCode: p.LanguageCode, MailPermission: p.MailPermission,
		SecretKeyDigest: store.Digest(sha256.Sum256([]byte(secret))), CreatedAt: s.now()}
	// Issued first: a link whose user then fails to be created is never
	// returned and expires unused. It names no user ID, because
	// Config.Users may give the user an ID of its own when storing it: the
	// verify finds the user by address.
	link, err := s.CreateLink(ctx, LinkRequest{Email: email, Origin: req.Origin, Next: req.Next, OrgID: req.OrgID, unresolved: true})
	if err != nil {
		return nil, err
	}
	if err := s.users.CreateUser(ctx, user); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, newError(kindUserExists, "email", "", nil)
		}
		return nil, s.storeError(err)
	}
	s.log.InfoContext(ctx, "magiclink: partner user created", "org", req.OrgID, "email", mask.Address(email))
	return &PartnerLink{Link: link, SecretKey: secret}, nil
}
