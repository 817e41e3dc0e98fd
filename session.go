package magiclink

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// Session lifetimes used when Config leaves them zero.
const (
	DefaultAccessTokenTTL = 15 * time.Minute
	DefaultSessionIdleTTL = 7 * 24 * time.Hour
	DefaultSessionMaxTTL  = 30 * 24 * time.Hour
)

// touchEvery is how often at most a session's last-seen time is written.
const touchEvery = time.Minute

// maxUserAgent bounds the User-Agent kept with a session.
const maxUserAgent = 512

// refreshTokenLen is the length of a refresh token: the session ID, a dot
// and a 256-bit secret in base64url.
var refreshTokenLen = store.SessionIDLen + 1 + encodedSecretLen

// Client describes the device a session is started for, for the user's
// list of sessions.
type Client struct {
	// IP is the client's address (the zero value when unknown).
	IP netip.Addr
	// UserAgent is the client's User-Agent header; it is cut to 512 bytes.
	UserAgent string
}

// BrowserSession is a session carried by an opaque cookie.
type BrowserSession struct {
	// ID is the session's public identifier.
	ID string
	// Token is the cookie value: 256 random bits in base64url. The store
	// keeps only its SHA-256. It is a credential: never log it.
	Token string
	// ExpiresAt is when the session ends even if used all along; unused,
	// it ends earlier (Config.SessionIdleTTL).
	ExpiresAt time.Time
}

// Tokens are what an API client holds for a session: a short-lived access
// token (an EdDSA JWT other services can verify offline with JWKS) and a
// refresh token that works once and is replaced by every refresh.
type Tokens struct {
	// SessionID is the session's public identifier (the access token's
	// "sid").
	SessionID string
	// AccessToken is the signed JWT; AccessTokenExpiresAt its "exp".
	AccessToken          string
	AccessTokenExpiresAt time.Time
	// RefreshToken is opaque; present it to Refresh once.
	RefreshToken string
	// ExpiresAt is when the session ends even if refreshed all along.
	ExpiresAt time.Time
}

// SessionInfo describes one of a user's sessions.
type SessionInfo struct {
	ID     string
	Method string
	// CreatedAt is when the user signed in; LastSeenAt when the session
	// was last used, to the minute.
	CreatedAt  time.Time
	LastSeenAt time.Time
	// IdleExpiresAt is when the session ends unless used again; ExpiresAt
	// when it ends regardless.
	IdleExpiresAt time.Time
	ExpiresAt     time.Time
	// IP and UserAgent describe the device that signed in.
	IP        string
	UserAgent string
}

// SignOutScope says which sessions SignOut ends.
type SignOutScope string

// The scopes of SignOut.
const (
	// SignOutLocal ends the session signing out.
	SignOutLocal SignOutScope = "local"
	// SignOutOthers ends every other session of the user.
	SignOutOthers SignOutScope = "others"
	// SignOutGlobal ends every session of the user.
	SignOutGlobal SignOutScope = "global"
)

// StartBrowserSession stores a new session for id (from Verify or
// VerifyCode) and returns its cookie token. Config.SessionIdleTTL and
// SessionMaxTTL bound its life.
func (s *Service) StartBrowserSession(ctx context.Context, id Identity, c Client) (*BrowserSession, error) {
	sess, token, err := s.createSession(ctx, id, c, false)
	s.tel.Session(ctx, "start", resultCode(err))
	if err != nil {
		return nil, err
	}
	return &BrowserSession{ID: sess.ID, Token: token, ExpiresAt: sess.ExpiresAt}, nil
}

// StartAPISession stores a new session for id and returns an access token
// and a refresh token for it. Nobody holds the session's own token.
func (s *Service) StartAPISession(ctx context.Context, id Identity, c Client) (*Tokens, error) {
	sess, refresh, err := s.createSession(ctx, id, c, true)
	s.tel.Session(ctx, "start", resultCode(err))
	if err != nil {
		return nil, err
	}
	return s.tokens(sess, refresh, id.Claims)
}

// createSession stores a session for id. With refresh it returns a refresh
// token, else the session token.
func (s *Service) createSession(ctx context.Context, id Identity, c Client, refresh bool) (*store.Session, string, error) {
	if id.UserID == "" {
		return nil, "", newError(kindValidation, "user_id", "identity has no user ID", nil)
	}
	now := s.now()
	token, tokenHash := newSecret()
	sess := &store.Session{ID: store.SessionID(tokenHash), TokenHash: tokenHash, UserID: id.UserID, OrgID: id.OrgID,
		Email: id.Email, Method: methodOf(id), CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: now.Add(s.sessionIdle), ExpiresAt: now.Add(s.sessionMax), UserAgent: cleanUserAgent(c.UserAgent)}
	if c.IP.IsValid() {
		sess.IP = c.IP.Unmap().WithZone("").String()
	}
	out := token
	if refresh {
		var secret string
		secret, sess.RefreshHash = newSecret()
		out = sess.ID + "." + secret
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return nil, "", s.storeError(err)
	}
	return sess, out, nil
}

// tokens signs an access token for sess, with claims (from
// Hooks.OnSignIn) beside its own, and pairs it with refresh.
func (s *Service) tokens(sess *store.Session, refresh string, claims map[string]any) (*Tokens, error) {
	id := sessionIdentity(sess)
	id.Claims = claims
	access, exp, err := s.access.sign(id, sess.ID, s.now())
	if err != nil {
		return nil, err
	}
	return &Tokens{SessionID: sess.ID, AccessToken: access, AccessTokenExpiresAt: exp, RefreshToken: refresh,
		ExpiresAt: sess.ExpiresAt}, nil
}

// Refresh trades a refresh token for a new access token and a new refresh
// token. A refresh token works once: of concurrent refreshes with one token
// exactly one succeeds. Presenting a refresh token that was already
// replaced is what a stolen one looks like, so the whole session is
// revoked (every token of it stops working) and ErrInvalidSession is
// returned, as for any unknown, malformed or expired refresh token.
//
// Hooks.OnSignIn runs again on every refresh, so the claims it adds stay
// current; when it refuses, the session is revoked and the error returned.
//
// WithClientIP applies the per-IP verify limit (Limits.VerifyPerIP), which
// bounds guessing as it does for links and codes.
func (s *Service) Refresh(ctx context.Context, refreshToken string, opts ...VerifyOption) (*Tokens, Identity, error) {
	t, id, reused, err := s.refresh(ctx, refreshToken, opts)
	result := resultCode(err)
	if reused {
		result = "reused"
	}
	s.tel.Session(ctx, "refresh", result)
	return t, id, err
}

// refresh is Refresh; reused reports a replaced refresh token, for the
// metric that operators alert on.
func (s *Service) refresh(ctx context.Context, refreshToken string, opts []VerifyOption) (_ *Tokens, _ Identity, reused bool, _ error) {
	if err := s.limitVerify(ctx, opts, ""); err != nil {
		return nil, Identity{}, false, err
	}
	sid, digest, ok := parseRefreshToken(refreshToken)
	if !ok {
		return nil, Identity{}, false, newError(kindInvalidSession, "refresh_token", "", nil)
	}
	secret, next := newSecret()
	sess, err := s.store.RotateRefresh(ctx, sid, digest, next, s.touch(s.now()))
	switch {
	case errors.Is(err, store.ErrRefreshReused):
		s.log.WarnContext(ctx, "magiclink: a replaced refresh token was presented; session revoked", "session", sid)
		return nil, Identity{}, true, newError(kindInvalidSession, "refresh_token", "", nil)
	case errors.Is(err, store.ErrNotFound):
		return nil, Identity{}, false, newError(kindInvalidSession, "refresh_token", "", nil)
	case err != nil:
		return nil, Identity{}, false, s.storeError(err)
	}
	id, err := s.signIn(ctx, sessionIdentity(sess))
	if err != nil {
		// The hook refused (or failed) to let the session go on: end it,
		// so that its cookie and access tokens stop at once too.
		if rerr := s.store.RevokeSession(ctx, sess.UserID, sess.ID); rerr != nil && !errors.Is(rerr, store.ErrNotFound) {
			s.log.WarnContext(ctx, "magiclink: revoking a session Hooks.OnSignIn refused failed", "session", sess.ID, "error", rerr.Error())
		}
		return nil, Identity{}, false, err
	}
	t, err := s.tokens(sess, sid+"."+secret, id.Claims)
	if err != nil {
		return nil, Identity{}, false, err
	}
	return t, sessionIdentity(sess), false, nil
}

// CheckSessionToken returns who is signed in with a browser session token
// (the cookie value), after checking in the store that the session is
// live, and records the use (at most once a minute). Any token that is
// not a live session is ErrInvalidSession; a store failure is
// ErrStoreUnavailable, never a sign-out.
func (s *Service) CheckSessionToken(ctx context.Context, token string) (Identity, error) {
	digest, ok := parseSecret(token)
	if !ok {
		return Identity{}, newError(kindInvalidSession, "", "", nil)
	}
	sess, err := s.store.SessionByToken(ctx, digest, s.touch(s.now()))
	if err != nil {
		return Identity{}, s.sessionError(err)
	}
	return sessionIdentity(sess), nil
}

// CheckAccessToken returns who is signed in with an access token: it
// verifies the JWT (EdDSA, kid, exp, iss and aud) and then checks in the
// store that its session is still live, so a revoked session's access
// tokens stop working at once. Errors are as for CheckSessionToken.
func (s *Service) CheckAccessToken(ctx context.Context, token string) (Identity, error) {
	now := s.now() // one clock read for both: a read is not free on every host
	c, err := s.access.check(token, now)
	if err != nil {
		return Identity{}, newError(kindInvalidSession, "", "", err)
	}
	sess, err := s.store.SessionByID(ctx, c.SessionID, s.touch(now))
	if err != nil {
		return Identity{}, s.sessionError(err)
	}
	if sess.UserID != c.Subject {
		return Identity{}, newError(kindInvalidSession, "", "", nil)
	}
	return sessionIdentity(sess), nil
}

// Sessions returns the live sessions of a user, oldest first.
func (s *Service) Sessions(ctx context.Context, userID string) ([]SessionInfo, error) {
	list, err := s.store.UserSessions(ctx, userID)
	if err != nil {
		return nil, s.storeError(err)
	}
	out := make([]SessionInfo, len(list))
	for i, x := range list {
		out[i] = SessionInfo{ID: x.ID, Method: x.Method, CreatedAt: x.CreatedAt, LastSeenAt: x.LastSeenAt,
			IdleExpiresAt: x.IdleExpiresAt, ExpiresAt: x.ExpiresAt, IP: x.IP, UserAgent: x.UserAgent}
	}
	return out, nil
}

// RevokeSession ends session sessionID of userID. It is ErrSessionNotFound
// when the user has no live session with that ID, another user's included.
func (s *Service) RevokeSession(ctx context.Context, userID, sessionID string) error {
	if !store.ValidSessionID(sessionID) {
		return newError(kindSessionNotFound, "id", "", nil)
	}
	err := s.store.RevokeSession(ctx, userID, sessionID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		err = newError(kindSessionNotFound, "id", "", nil)
	case err != nil:
		err = s.storeError(err)
	}
	s.tel.Session(ctx, "revoke", resultCode(err))
	return err
}

// SignOut ends the session of id (SignOutLocal, the default for ""), the
// user's other sessions (SignOutOthers) or all of them (SignOutGlobal).
// Ending a session that has already ended is not an error.
func (s *Service) SignOut(ctx context.Context, id Identity, scope SignOutScope) error {
	var err error
	switch scope {
	case SignOutLocal, "":
		if err = s.store.RevokeSession(ctx, id.UserID, id.SessionID); errors.Is(err, store.ErrNotFound) {
			err = nil
		}
	case SignOutOthers:
		_, err = s.store.RevokeUserSessions(ctx, id.UserID, id.SessionID)
	case SignOutGlobal:
		_, err = s.store.RevokeUserSessions(ctx, id.UserID, "")
	default:
		return newError(kindValidation, "scope", `scope must be "local", "others" or "global"`, nil)
	}
	if err != nil {
		err = s.storeError(err)
	}
	s.tel.Session(ctx, "sign_out_"+string(cmp.Or(scope, SignOutLocal)), resultCode(err))
	return err
}

// touch is the store.Touch of a use at now: last seen written at most
// once a minute, the idle expiry moved with it.
func (s *Service) touch(now time.Time) store.Touch {
	return store.Touch{At: now, IfSeenBefore: now.Add(-touchEvery), IdleExpiresAt: now.Add(s.sessionIdle)}
}

// sessionError maps a failed session lookup: gone is ErrInvalidSession,
// anything else a store failure.
func (s *Service) sessionError(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return newError(kindInvalidSession, "", "", nil)
	}
	return s.storeError(err)
}

func sessionIdentity(sess *store.Session) Identity {
	return Identity{UserID: sess.UserID, Email: sess.Email, OrgID: sess.OrgID, Method: sess.Method, SessionID: sess.ID}
}

func methodOf(id Identity) string {
	if id.Method == "" {
		return "link"
	}
	return id.Method
}

// newSecret returns 256 random bits in base64url and their SHA-256.
func newSecret() (string, store.Digest) {
	var raw [secretLen]byte
	_, _ = rand.Read(raw[:])
	return base64.RawURLEncoding.EncodeToString(raw[:]), sha256.Sum256(raw[:])
}

// parseRefreshToken splits "<session ID>.<secret>" and digests the secret.
func parseRefreshToken(t string) (sid string, digest store.Digest, ok bool) {
	if len(t) != refreshTokenLen || t[store.SessionIDLen] != '.' {
		return "", store.Digest{}, false
	}
	sid = t[:store.SessionIDLen]
	if !store.ValidSessionID(sid) {
		return "", store.Digest{}, false
	}
	digest, ok = parseSecret(t[store.SessionIDLen+1:])
	return sid, digest, ok
}

// cleanUserAgent keeps a User-Agent fit for a session list: at most
// maxUserAgent bytes of valid UTF-8 without control characters.
func cleanUserAgent(ua string) string {
	ua = strings.ToValidUTF8(ua, "")
	ua = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, ua)
	if len(ua) > maxUserAgent {
		// A rune cut in two is invalid UTF-8, which goes too.
		ua = strings.ToValidUTF8(ua[:maxUserAgent], "")
	}
	return ua
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
