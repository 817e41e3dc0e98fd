package magiclink

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/magiclink-go/magiclink/internal/mask"
	"github.com/magiclink-go/magiclink/store"
)

// Cross-device sign-in with number matching: a browser that asks for a link
// gets a pending request (an opaque cookie) and a two-digit number to show.
// The link opened on another device can then approve that request by
// typing the number, and the asking browser, polling Pending, is signed in.
// An attacker who asks for someone else's address sees the number on their
// own screen only; the victim, who never saw it, can approve only by
// guessing, and one wrong number consumes the link and kills the request.

// pendingKeep is how long a request stays readable after its link expired,
// so that an approval made just before expiry is still taken by the asking
// browser's next poll, and a denial still reported.
const pendingKeep = 2 * time.Minute

// pendingUserAgentMax bounds the User-Agent kept with a request.
const pendingUserAgentMax = 256

// The states Pending reports, as the wire contract spells them.
const (
	// PendingWaiting: no decision yet; show PendingState.Match.
	PendingWaiting = "waiting"
	// PendingApproved: approved on another device; PendingState.Identity is
	// who signed in. Reported once.
	PendingApproved = "approved"
	// PendingExpired: denied (a wrong number), expired, or the link was used
	// another way. Nothing more will happen; ask again.
	PendingExpired = "expired"
)

// PendingTicket is what SendLinkPending hands the asking browser.
type PendingTicket struct {
	// Cookie is the opaque token the browser presents to Pending and
	// Verify. It is a secret: never log it or put it in a URL.
	Cookie string
	// Match is the number the asking browser shows, two digits (Pending
	// reports it too).
	Match string
	// ExpiresAt is when the request (and its link) expires.
	ExpiresAt time.Time
}

// PendingState is what Pending reports to the asking browser.
type PendingState struct {
	// Status is PendingWaiting, PendingApproved or PendingExpired.
	Status string
	// Match is the number to show, two digits, while waiting.
	Match string
	// ExpiresIn is the time left while waiting.
	ExpiresIn time.Duration
	// Identity is who signed in, when approved.
	Identity Identity
}

// PendingView describes, for the device that opened a link, the request
// waiting for it. It never contains the number.
type PendingView struct {
	// SameDevice is true when the browser that opened the link is the one
	// that asked for it; the page then simply offers to sign in.
	SameDevice bool
	// UserAgent and IP describe the asking browser; CreatedAt is when it
	// asked, ExpiresAt when the link expires.
	UserAgent string
	IP        string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// pendingAsk carries a browser send's request through issue: what asked in,
// the ticket out. The request and the ticket live in it, so a browser send
// allocates them once, with it.
type pendingAsk struct {
	userAgent string
	ip        netip.Addr
	pending   store.Pending
	ticket    PendingTicket
}

// SendLinkPending is SendLink for a browser that will wait in place for
// the link to be approved on another device. It answers exactly like
// SendLink — known address or not — and also returns a ticket for the
// asking browser, unless the store cannot hold pending requests (then the
// ticket is nil and the link works as SendLink's does). userAgent is shown
// to the approving device.
func (s *Service) SendLinkPending(ctx context.Context, req SendRequest, userAgent string) (*PendingTicket, error) {
	ctx, span := s.tel.Start(ctx, "magiclink.SendLinkPending")
	var ask *pendingAsk
	if _, ok := s.store.(store.PendingRequests); ok {
		ask = &pendingAsk{userAgent: userAgent, ip: req.ClientIP}
	}
	err := s.sendLink(ctx, req, ask)
	s.tel.Send(ctx, resultCode(err))
	endSpan(span, err)
	if err != nil || ask == nil {
		return nil, err
	}
	return &ask.ticket, nil
}

// pendingRandomLen is how many random bytes a pending request takes: its
// cookie and the byte its number is drawn from.
const pendingRandomLen = secretLen + 1

// putPending stores t together with a new waiting request for ask, whose
// cookie and number come from random.
func (s *Service) putPending(ctx context.Context, ps store.PendingRequests, t *store.Token, ask *pendingAsk, random *[pendingRandomLen]byte) error {
	ua := ask.userAgent
	if len(ua) > pendingUserAgentMax {
		// A copy: the store keeps it, and a slice would keep the whole
		// header value (up to a megabyte) alive with it.
		ua = strings.Clone(ua[:pendingUserAgentMax])
	}
	var ip string
	if ask.ip.IsValid() {
		ip = ask.ip.Unmap().WithZone("").String()
	}
	p := &ask.pending
	*p = store.Pending{
		Cookie: sha256.Sum256(random[:secretLen]), LinkHash: t.Hash, Match: matchFrom(random[secretLen]),
		UserAgent: ua, IP: ip, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt,
		KeepUntil: t.ExpiresAt.Add(pendingKeep), Status: store.PendingWaiting,
	}
	if err := ps.PutTokenPending(ctx, t, p); err != nil {
		return err
	}
	// Encoded on the stack: the string is the one copy.
	var cookie [64]byte
	base64.RawURLEncoding.Encode(cookie[:encodedSecretLen], random[:secretLen])
	ask.ticket = PendingTicket{Cookie: string(cookie[:encodedSecretLen]),
		Match: matchText(p.Match), ExpiresAt: t.ExpiresAt}
	return nil
}

// decoyPending answers, for SendLinkPending, a send that Hooks.BeforeSend
// refused: the asking browser must not learn of the refusal, so it gets a
// ticket and a pending request made exactly as putPending makes them, in
// the same store write. The request waits for a link record whose hash is
// random, the digest of no secret anyone holds, and that has no code:
// nothing can consume, approve or deny it, so the request waits until it
// expires and then reads as expired, like a real one nobody acted on. The
// record holds no address. Without ask (SendLink, or a store without
// PendingRequests) there is nothing to answer and nothing is stored.
func (s *Service) decoyPending(ctx context.Context, ask *pendingAsk) error {
	ps, ok := s.store.(store.PendingRequests)
	if ask == nil || !ok {
		return nil
	}
	// One random read of the size issue makes: the hash, then (past the
	// code's bytes) the request's cookie and number.
	var random [secretLen + 4 + pendingRandomLen]byte
	_, _ = rand.Read(random[:])
	now := s.now()
	t := store.Token{Hash: store.Digest(random[:secretLen]), CreatedAt: now, ExpiresAt: now.Add(s.linkTTL)}
	if err := s.putPending(ctx, ps, &t, ask, (*[pendingRandomLen]byte)(random[secretLen+4:])); err != nil {
		return s.storeError(err)
	}
	return nil
}

// matchFrom turns a random byte into a uniformly random number 0–99,
// drawing fresh bytes in the rare case the first is rejected.
func matchFrom(b byte) uint8 {
	for b >= 200 {
		var more [1]byte
		_, _ = rand.Read(more[:])
		b = more[0]
	}
	return b % 100
}

// Pending is the asking browser's poll: it reports whether the request of
// cookie is still waiting (with the number to show), was approved (once:
// the approval is consumed and Identity is who signed in, to start a
// session for) or has ended. An unknown or malformed cookie is
// ErrInvalidPending.
func (s *Service) Pending(ctx context.Context, cookie string) (PendingState, error) {
	ps, ok := s.store.(store.PendingRequests)
	digest, well := parseSecret(cookie)
	if !ok || !well {
		return PendingState{}, newError(kindInvalidPending, "", "", nil)
	}
	p, err := ps.TakeApproved(ctx, digest)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return PendingState{}, newError(kindInvalidPending, "", "", nil)
		}
		return PendingState{}, s.storeError(err)
	}
	now := s.now()
	switch {
	case p.Status == store.PendingApproved && p.Token != nil:
		id, err := s.identity(ctx, p.Token, "link")
		if err != nil {
			return PendingState{}, err
		}
		s.log.InfoContext(ctx, "magiclink: cross-device sign-in completed", "email", mask.Address(id.Email))
		return PendingState{Status: PendingApproved, Identity: id}, nil
	case p.Status == store.PendingWaiting && now.Before(p.ExpiresAt):
		return PendingState{Status: PendingWaiting, Match: matchText(p.Match), ExpiresIn: p.ExpiresAt.Sub(now)}, nil
	default:
		return PendingState{Status: PendingExpired}, nil
	}
}

// PendingRequest describes the request waiting for the link token, for the
// page that opened the link; cookie is that browser's pending cookie ("" if
// none). An unknown, used or expired link is ErrInvalidToken; a link no
// request waits for is ErrInvalidPending.
func (s *Service) PendingRequest(ctx context.Context, token, cookie string) (PendingView, error) {
	ps, ok := s.store.(store.PendingRequests)
	digest, well := parseSecret(token)
	if !well {
		return PendingView{}, newError(kindInvalidToken, "", "", nil)
	}
	if !ok {
		return PendingView{}, newError(kindInvalidPending, "", "", nil)
	}
	if c, ok := parseSecret(cookie); ok {
		mine, err := ps.PendingByCookie(ctx, c)
		if err == nil && digestEqual(mine.LinkHash, digest) && mine.Status == store.PendingWaiting {
			return viewOf(mine, true), nil
		}
	}
	p, err := ps.PendingByLink(ctx, digest)
	if err != nil {
		return PendingView{}, s.pendingError(err)
	}
	return viewOf(p, false), nil
}

func viewOf(p *store.Pending, same bool) PendingView {
	return PendingView{SameDevice: same, UserAgent: p.UserAgent, IP: p.IP, CreatedAt: p.CreatedAt, ExpiresAt: p.ExpiresAt}
}

// Approve decides, on the device that opened the link token, the request
// waiting for it: the right number (as shown on the asking device) consumes
// the link and approves the request, and the asking browser is signed in on
// its next poll — this device is not. A wrong number consumes the link too
// and denies the request: ErrMatchInvalid. A malformed number is a
// validation error and changes nothing. An unknown, used or expired link is
// ErrInvalidToken; one no request waits for, ErrInvalidPending. Attempts
// count against the per-IP verify limit (WithClientIP).
func (s *Service) Approve(ctx context.Context, token, match string, opts ...VerifyOption) error {
	ctx, span := s.tel.Start(ctx, "magiclink.Approve")
	err := s.approve(ctx, token, match, opts)
	s.tel.Approval(ctx, resultCode(err))
	endSpan(span, err)
	return err
}

// approve is Approve without its telemetry.
func (s *Service) approve(ctx context.Context, token, match string, opts []VerifyOption) error {
	if err := s.limitVerify(ctx, opts, ""); err != nil {
		return err
	}
	n, ok := parseMatch(match)
	if !ok {
		return newError(kindValidation, "match", "match must be the two-digit number shown on the other device", nil)
	}
	digest, ok := parseSecret(token)
	if !ok {
		return newError(kindInvalidToken, "", "", nil)
	}
	ps, ok := s.store.(store.PendingRequests)
	if !ok {
		return newError(kindInvalidPending, "", "", nil)
	}
	p, err := ps.DecidePending(ctx, digest, n)
	askedFrom := ""
	if p != nil {
		askedFrom = p.IP
	}
	if errors.Is(err, store.ErrMatchMismatch) {
		// Worth a warning: a person who types a number they were never
		// shown may be approving an attacker's request.
		s.log.WarnContext(ctx, "magiclink: cross-device approval denied: wrong number",
			"asked_from", askedFrom, "approver_ip", clientIP(opts))
		return newError(kindMatchInvalid, "match", "", nil)
	}
	if err != nil {
		return s.pendingError(err)
	}
	s.log.InfoContext(ctx, "magiclink: cross-device sign-in approved", "asked_from", askedFrom, "approver_ip", clientIP(opts))
	return nil
}

// consumeLink consumes the link of digest for Verify, judged at now when
// the store takes the Service's clock reading: under RequireSameDevice only
// in the browser holding its pending cookie.
func (s *Service) consumeLink(ctx context.Context, digest store.Digest, opts []VerifyOption, now time.Time) (*store.Token, error) {
	ps, ok := s.store.(store.PendingRequests)
	if !s.sameDevice || !ok {
		if s.tokensAt != nil {
			return s.tokensAt.ConsumeTokenAt(ctx, digest, now)
		}
		return s.store.ConsumeToken(ctx, digest)
	}
	var cookie store.Digest
	for _, o := range opts {
		if c, ok := parseSecret(o.pendingCookie); ok {
			cookie = c
		}
	}
	return ps.ConsumeTokenFrom(ctx, digest, cookie)
}

// pendingError maps a store error of the pending capability.
func (s *Service) pendingError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return newError(kindInvalidToken, "", "", nil)
	case errors.Is(err, store.ErrNoPending):
		return newError(kindInvalidPending, "", "", nil)
	case errors.Is(err, store.ErrDeviceMismatch):
		return newError(kindDeviceMismatch, "", "", nil)
	default:
		return s.storeError(err)
	}
}

// parseMatch accepts the number as typed: one or two ASCII digits.
func parseMatch(v string) (uint8, bool) {
	if len(v) == 0 || len(v) > 2 {
		return 0, false
	}
	var n uint8
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
		n = n*10 + v[i] - '0'
	}
	return n, true
}

// matchDigits holds every number's two digits, so matchText allocates
// nothing.
const matchDigits = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// matchText is the number as shown: always two digits (n ≤ 99).
func matchText(n uint8) string { return matchDigits[2*int(n) : 2*int(n)+2] }

func clientIP(opts []VerifyOption) string {
	for _, o := range opts {
		if o.ip.IsValid() {
			return o.ip.String()
		}
	}
	return ""
}

// checkSameDevice refuses RequireSameDevice on a store that cannot keep a
// link to the browser that asked for it. (Without Store, the built-in
// memory store can.)
func checkSameDevice(cfg Config) error {
	if _, ok := cfg.Store.(store.PendingRequests); cfg.RequireSameDevice && cfg.Store != nil && !ok {
		return configError("RequireSameDevice", "the store cannot hold pending requests (store.PendingRequests)")
	}
	return nil
}
