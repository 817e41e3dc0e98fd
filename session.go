package magiclink

import (
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/magiclink-go/magiclink/internal/randid"
)

// sessionKeys holds the signing key and every key that may verify.
type sessionKeys struct {
	priv   ed25519.PrivateKey
	kid    string
	verify map[string]ed25519.PublicKey
	ttl    time.Duration
	issuer string
}

func newSessionKeys(secret []byte, cfg Config) (sessionKeys, error) {
	k := sessionKeys{priv: cfg.SessionKey, kid: cfg.SessionKeyID, ttl: cfg.SessionTTL, issuer: cfg.SessionIssuer}
	if k.priv == nil {
		seed, err := hkdf.Key(sha256.New, secret, nil, "magiclink session ed25519 v1", ed25519.SeedSize)
		if err != nil {
			return k, configError("Secret", err.Error())
		}
		k.priv = ed25519.NewKeyFromSeed(seed)
	} else if len(k.priv) != ed25519.PrivateKeySize {
		return k, configError("SessionKey", fmt.Sprintf("must be an Ed25519 private key of %d bytes", ed25519.PrivateKeySize))
	}
	pub := k.priv.Public().(ed25519.PublicKey)
	if k.kid == "" {
		sum := sha256.Sum256(pub)
		k.kid = hex.EncodeToString(sum[:8])
	}
	k.verify = map[string]ed25519.PublicKey{k.kid: pub}
	for kid, p := range cfg.SessionVerifyKeys {
		if len(p) != ed25519.PublicKeySize {
			return k, configError("SessionVerifyKeys", fmt.Sprintf("key %q is not an Ed25519 public key", kid))
		}
		if kid == k.kid {
			continue
		}
		k.verify[kid] = p
	}
	if k.ttl == 0 {
		k.ttl = 24 * time.Hour
	}
	if k.issuer == "" {
		k.issuer = "magiclink"
	}
	return k, nil
}

// sessionClaims are the claims of a session token.
type sessionClaims struct {
	Email string   `json:"email"`
	Org   string   `json:"org,omitempty"`
	AMR   []string `json:"amr"`
	jwt.RegisteredClaims
}

// Session is an issued session token.
type Session struct {
	// Token is the signed JWT (EdDSA).
	Token string
	// ExpiresAt is its "exp".
	ExpiresAt time.Time
}

// SessionTTL returns the lifetime of session tokens.
func (s *Service) SessionTTL() time.Duration { return s.sessions.ttl }

// SessionPublicKeys returns the public keys, by kid, that verify session
// tokens, so other services can check them.
func (s *Service) SessionPublicKeys() map[string]ed25519.PublicKey {
	out := make(map[string]ed25519.PublicKey, len(s.sessions.verify))
	for k, v := range s.sessions.verify {
		out[k] = v
	}
	return out
}

// IssueSession signs a session token for id: claims iss, sub (user ID),
// email, iat, exp, jti and amr (["link"] or ["code"]), with the key's kid in
// the header.
func (s *Service) IssueSession(id Identity) (Session, error) {
	if id.UserID == "" {
		return Session{}, newError(kindValidation, "user_id", "identity has no user ID", nil)
	}
	now := s.now()
	exp := now.Add(s.sessions.ttl)
	method := id.Method
	if method == "" {
		method = "link"
	}
	claims := sessionClaims{Email: id.Email, Org: id.OrgID, AMR: []string{method}, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: s.sessions.issuer, Subject: id.UserID, IssuedAt: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp), ID: randid.New(""),
	}}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = s.sessions.kid
	signed, err := t.SignedString(s.sessions.priv)
	if err != nil {
		return Session{}, fmt.Errorf("magiclink: signing the session: %w", err)
	}
	return Session{Token: signed, ExpiresAt: time.Unix(exp.Unix(), 0)}, nil
}

// ParseSession verifies a session token and returns its identity. The
// algorithm is pinned to EdDSA, "exp" and the issuer are required, and the
// key is chosen by "kid". Any failure is ErrInvalidSession.
func (s *Service) ParseSession(token string) (Identity, error) {
	if len(token) > 4096 {
		return Identity{}, newError(kindInvalidSession, "", "", nil)
	}
	var claims sessionClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if key, ok := s.sessions.verify[kid]; ok {
			return key, nil
		}
		return nil, errors.New("unknown kid")
	}, jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}), jwt.WithExpirationRequired(),
		jwt.WithIssuer(s.sessions.issuer), jwt.WithIssuedAt(), jwt.WithLeeway(5*time.Second), jwt.WithTimeFunc(s.now))
	if err != nil || claims.Subject == "" {
		return Identity{}, newError(kindInvalidSession, "", "", err)
	}
	id := Identity{UserID: claims.Subject, Email: claims.Email, OrgID: claims.Org, Method: "link"}
	if len(claims.AMR) > 0 {
		id.Method = claims.AMR[0]
	}
	return id, nil
}

type identityKey struct{}

// ContextWithIdentity returns a copy of ctx carrying id.
func ContextWithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the Identity that authentication middleware put in
// ctx, and whether there was one.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}
