package magiclink

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// Link is an issued sign-in link.
type Link struct {
	// URL is the full link: {origin}{LinkPath}?token_hash=…&type=magiclink&next=…,
	// and for a mailed link in a language the mail templates have
	// &locale=… (such as "de"), which the pages it opens speak.
	URL string
	// Token is the link secret in the URL.
	Token string
	// Code is the 6-digit code that signs in the same way as the link; it is
	// mailed with it. Links from CreateLink have none (""): a code nobody
	// was mailed would replace the one that was, and give whoever guesses
	// fresh tries outside the send limit.
	Code string
	// ExpiresAt is when link and code stop working.
	ExpiresAt time.Time
}

// issue stores a new token and returns its link; with withCode (a mailed
// link) the token carries a code, which becomes the address's active code;
// with ask, a pending request is stored with it; lang is the URL's locale
// suffix (linkLocale), "" for none.
func (s *Service) issue(ctx context.Context, email, orgID, userID, origin, next, lang string, ttl time.Duration, withCode bool, ask *pendingAsk) (*Link, error) {
	// One read for the secret, the code's bits and, with ask, the pending
	// request's cookie and number. crypto/rand.Read never fails (Go ≥ 1.24).
	var random [secretLen + 4 + pendingRandomLen]byte
	n := secretLen + 4
	if ask != nil {
		n = len(random)
	}
	_, _ = rand.Read(random[:n])
	raw := (*[secretLen]byte)(random[:secretLen])
	digest := store.Digest(sha256.Sum256(raw[:]))
	now := s.now()
	// The link and the token record it is made from are allocated
	// together: the record escapes into the store call anyway, and one
	// allocation is cheaper than two on a path every sign-in takes.
	is := &issued{token: store.Token{Hash: digest, UserID: userID, Email: email, OrgID: orgID, Origin: origin, Next: next,
		CreatedAt: now, ExpiresAt: now.Add(ttl)}}
	t := &is.token
	var code string
	if withCode {
		code = codeFrom([4]byte(random[secretLen:]))
		t.CodeMAC = codeMAC(&s.codeKey, email, code)
	}
	var err error
	if ps, ok := s.store.(store.PendingRequests); ok && ask != nil {
		err = s.putPending(ctx, ps, t, ask, (*[pendingRandomLen]byte)(random[secretLen+4:]))
	} else {
		err = s.putToken(ctx, t, now)
	}
	if err != nil {
		return nil, s.storeError(err)
	}
	u, tokenAt := s.linkURL(origin, raw, next, lang)
	is.link = Link{URL: u, Token: u[tokenAt : tokenAt+encodedSecretLen], Code: code, ExpiresAt: t.ExpiresAt}
	return &is.link, nil
}

// issued is a Link with the token record it was issued from.
type issued struct {
	link  Link
	token store.Token
}

// putToken stores t, judged at now (the clock reading t was made with)
// when the store takes the Service's reading of the real clock.
func (s *Service) putToken(ctx context.Context, t *store.Token, now time.Time) error {
	if s.tokensAt != nil {
		return s.tokensAt.PutTokenAt(ctx, t, now)
	}
	return s.store.PutToken(ctx, t)
}

// linkURL builds {origin}{LinkPath}?token_hash=…&type=magiclink&next=…
// followed by lang, a precomputed "&locale=…" or "". Slashes in next stay
// readable ("next=/overview"), as in the documents this format follows;
// everything else that needs it is escaped.
// It returns the URL and the offset of the encoded secret in it, so that
// Link.Token can share the URL's memory.
func (s *Service) linkURL(origin string, raw *[secretLen]byte, next, lang string) (string, int) {
	var b strings.Builder
	b.Grow(len(origin) + len(s.linkPath) + encodedSecretLen + len(next)*3 + len(lang) + 48)
	b.WriteString(origin)
	b.WriteString(s.linkPath)
	b.WriteString("?token_hash=")
	tokenAt := b.Len()
	var enc [64]byte
	base64.RawURLEncoding.Encode(enc[:encodedSecretLen], raw[:])
	b.Write(enc[:encodedSecretLen])
	b.WriteString("&type=magiclink&next=")
	for i := 0; i < len(next); i++ {
		c := next[i]
		if c == '/' || c == '-' || c == '_' || c == '.' || c == '~' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') {
			b.WriteByte(c)
			continue
		}
		const hex = "0123456789ABCDEF"
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	b.WriteString(lang)
	return b.String(), tokenAt
}
