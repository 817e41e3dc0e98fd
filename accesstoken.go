package magiclink

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/magiclink-go/magiclink/internal/randid"
)

// accessLeeway is the clock skew allowed for an access token's exp and iat.
const accessLeeway = 5 * time.Second

// maxAccessTokenLen bounds what is parsed as an access token at all.
const maxAccessTokenLen = 4096

// accessKeys signs access tokens and verifies them by kid, with a cache of
// tokens already verified.
type accessKeys struct {
	priv     ed25519.PrivateKey
	kid      string
	verify   map[string]ed25519.PublicKey
	issuer   string
	audience string
	ttl      time.Duration
	jwks     []byte
	verified verifiedTokens
}

func newAccessKeys(secret []byte, cfg Config, ttl time.Duration) (*accessKeys, error) {
	k := &accessKeys{priv: cfg.SessionKey, kid: cfg.SessionKeyID, ttl: ttl,
		issuer: cfg.SessionIssuer, audience: cfg.SessionAudience}
	if k.priv == nil {
		seed, err := hkdf.Key(sha256.New, secret, nil, "magiclink session ed25519 v1", ed25519.SeedSize)
		if err != nil {
			return nil, configError("Secret", err.Error())
		}
		k.priv = ed25519.NewKeyFromSeed(seed)
	} else if len(k.priv) != ed25519.PrivateKeySize {
		return nil, configError("SessionKey", fmt.Sprintf("must be an Ed25519 private key of %d bytes", ed25519.PrivateKeySize))
	}
	pub := k.priv.Public().(ed25519.PublicKey)
	if k.kid == "" {
		sum := sha256.Sum256(pub)
		k.kid = hex.EncodeToString(sum[:8])
	}
	k.verify = map[string]ed25519.PublicKey{k.kid: pub}
	for kid, p := range cfg.SessionVerifyKeys {
		if len(p) != ed25519.PublicKeySize || kid == "" {
			return nil, configError("SessionVerifyKeys", fmt.Sprintf("key %q is not an Ed25519 public key with a kid", kid))
		}
		if kid != k.kid {
			k.verify[kid] = p
		}
	}
	if k.issuer == "" {
		k.issuer = "magiclink"
	}
	if k.audience == "" {
		k.audience = k.issuer
	}
	k.jwks = jwksDocument(k.kid, k.verify)
	k.verified.init()
	return k, nil
}

// accessClaims are the claims of an access token.
type accessClaims struct {
	SessionID string   `json:"sid"`
	Email     string   `json:"email,omitempty"`
	Org       string   `json:"org,omitempty"`
	AMR       []string `json:"amr"`
	jwt.RegisteredClaims
}

// sign returns an access token for session sid of id, valid from now.
func (k *accessKeys) sign(id Identity, sid string, now time.Time) (string, time.Time, error) {
	exp := time.Unix(now.Add(k.ttl).Unix(), 0)
	claims := accessClaims{SessionID: sid, Email: id.Email, Org: id.OrgID, AMR: []string{id.Method},
		RegisteredClaims: jwt.RegisteredClaims{Issuer: k.issuer, Subject: id.UserID, Audience: jwt.ClaimStrings{k.audience},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp), ID: randid.New("")}}
	var body jwt.Claims = claims
	if len(id.Claims) > 0 {
		body = claimsWithExtra{accessClaims: claims, extra: id.Claims}
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, body)
	t.Header["kid"] = k.kid
	signed, err := t.SignedString(k.priv)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("magiclink: signing an access token: %w", err)
	}
	return signed, exp, nil
}

// claimsWithExtra are access-token claims with the ones Hooks.OnSignIn
// added; magiclink's own win any clash (the hook's are checked for clashes
// before, so this is a second line of defence).
type claimsWithExtra struct {
	accessClaims
	extra map[string]any
}

// MarshalJSON merges the extra claims under magiclink's own.
func (c claimsWithExtra) MarshalJSON() ([]byte, error) {
	own, err := json.Marshal(c.accessClaims)
	if err != nil {
		return nil, err
	}
	var merged map[string]json.RawMessage
	if err := json.Unmarshal(own, &merged); err != nil {
		return nil, err
	}
	for name, v := range c.extra {
		if _, taken := merged[name]; taken || reservedClaim(name) {
			continue
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("claim %q: %w", name, err)
		}
		merged[name] = raw
	}
	return json.Marshal(merged)
}

// check verifies an access token and returns its claims: EdDSA only, the
// key chosen by kid, exp required, iss and aud this Service's, base64url
// in its one canonical form (so that one token has one spelling). A token
// verified before is found in the cache and only its expiry is judged
// again, which spares the signature check (tens of microseconds) on every
// request; the cache compares whole tokens, so it can only answer for the
// exact bytes that were verified.
func (k *accessKeys) check(token string, now time.Time) (accessClaims, error) {
	if c, ok := k.verified.get(token); ok {
		if !now.Before(c.ExpiresAt.Add(accessLeeway)) {
			return accessClaims{}, errors.New("token is expired")
		}
		return c, nil
	}
	c, err := k.parse(token, now)
	if err != nil {
		return accessClaims{}, err
	}
	k.verified.put(token, c, now)
	return c, nil
}

func (k *accessKeys) parse(token string, now time.Time) (accessClaims, error) {
	if len(token) > maxAccessTokenLen {
		return accessClaims{}, errors.New("token too long")
	}
	var c accessClaims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if key, ok := k.verify[kid]; ok {
			return key, nil
		}
		return nil, errors.New("unknown kid")
	}, jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}), jwt.WithExpirationRequired(),
		jwt.WithIssuer(k.issuer), jwt.WithAudience(k.audience), jwt.WithIssuedAt(), jwt.WithLeeway(accessLeeway), jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(func() time.Time { return now }))
	switch {
	case err != nil:
		return accessClaims{}, err
	case c.Subject == "" || c.SessionID == "" || len(c.AMR) != 1:
		return accessClaims{}, errors.New("token lacks sub, sid or amr")
	}
	return c, nil
}

// verifiedTokens remembers recently verified access tokens, bounded: a
// shard that fills up first drops its expired entries, then half of the
// rest. Entries are whole tokens, so a hit is the very token verified.
type verifiedTokens struct {
	seed   maphash.Seed
	shards [16]verifiedShard
}

type verifiedShard struct {
	mu sync.Mutex
	m  map[string]verifiedToken
}

type verifiedToken struct {
	claims accessClaims
	exp    time.Time
}

// verifiedPerShard bounds each shard: 16 × 512 tokens of about 600 bytes
// is a few megabytes at most.
const verifiedPerShard = 512

func (v *verifiedTokens) init() {
	v.seed = maphash.MakeSeed()
	for i := range v.shards {
		v.shards[i].m = make(map[string]verifiedToken)
	}
}

func (v *verifiedTokens) shard(token string) *verifiedShard {
	return &v.shards[maphash.String(v.seed, token)%uint64(len(v.shards))]
}

func (v *verifiedTokens) get(token string) (accessClaims, bool) {
	s := v.shard(token)
	s.mu.Lock()
	e, ok := s.m[token]
	s.mu.Unlock()
	return e.claims, ok
}

func (v *verifiedTokens) put(token string, c accessClaims, now time.Time) {
	s := v.shard(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= verifiedPerShard {
		for t, e := range s.m {
			if !now.Before(e.exp) {
				delete(s.m, t)
			}
		}
		for t := range s.m {
			if len(s.m) < verifiedPerShard/2 {
				break
			}
			delete(s.m, t)
		}
	}
	s.m[token] = verifiedToken{claims: c, exp: c.ExpiresAt.Add(accessLeeway)}
}
