package store

import (
	"context"
	"errors"
	"time"
)

// Errors of the PendingRequests capability. Match with errors.Is.
var (
	// ErrNoPending: the link is live but no request is waiting for it (it
	// was sent without a pending cookie, or made by CreateLink). The link
	// was left untouched.
	ErrNoPending = errors.New("store: no pending request for this link")
	// ErrMatchMismatch: DecidePending got the wrong number. The link was
	// consumed and the request denied.
	ErrMatchMismatch = errors.New("store: match number mismatch")
	// ErrDeviceMismatch: ConsumeTokenFrom was called without the cookie of
	// the request waiting for the link. The link was left untouched.
	ErrDeviceMismatch = errors.New("store: link belongs to another device")
)

// PendingStatus is where a pending sign-in request stands.
type PendingStatus uint8

// The states of a pending request. Waiting is the only state a request is
// created in; DecidePending moves it to Approved or Denied, once.
const (
	// PendingWaiting: the asking browser waits for the link to be approved.
	PendingWaiting PendingStatus = iota + 1
	// PendingApproved: another device approved it with the right number;
	// the asking browser may take it once (TakeApproved).
	PendingApproved
	// PendingDenied: another device typed a wrong number; the request is
	// dead and its link consumed.
	PendingDenied
	// PendingExpired: still waiting when its link expired. Reported, never
	// stored.
	PendingExpired
	// PendingUsed: still waiting, but its link was used by Verify or by its
	// code, so no approval can come any more. Reported, never stored.
	PendingUsed
)

// MaxPendingInfo bounds Pending.UserAgent and Pending.IP, in bytes.
const MaxPendingInfo = 512

// Pending is a sign-in request waiting in the browser that asked for a
// link, so that the link can be approved from another device (cross-device
// sign-in with number matching).
//
// The request is keyed by the SHA-256 digest of a random cookie token that
// only the asking browser holds, and tied to exactly one link. Match is the
// two-digit number the asking browser shows and the approving device must
// type. It is kept as the plain number: the asking browser must be able to
// show it on every poll, so it cannot be stored one-way, and with only 100
// values no digest would hide it from anyone who reads the store anyway.
// What protects it is that it is never handed to the approving side (see
// PendingByLink) and that one wrong try denies the request and consumes its
// link (DecidePending).
type Pending struct {
	// Cookie is SHA-256 of the pending cookie token; the record's key.
	Cookie Digest
	// LinkHash is the Token.Hash of the link this request waits for.
	LinkHash Digest
	// Match is the number to type, 0–99. Zero in PendingByLink's answers.
	Match uint8
	// UserAgent and IP describe the asking browser, for the approving
	// device to see what it approves. Each at most MaxPendingInfo bytes.
	UserAgent string
	IP        string
	// CreatedAt is when the request was made. ExpiresAt is when waiting
	// ends: the link's own expiry (Token.ExpiresAt).
	CreatedAt time.Time
	ExpiresAt time.Time
	// KeepUntil (not before ExpiresAt) is when the record is dropped, so
	// that an approval made just before ExpiresAt can still be taken, and a
	// denial still be reported, for a while.
	KeepUntil time.Time
	// Status is where the request stands.
	Status PendingStatus
	// Token is the consumed link, set only in TakeApproved's answer for an
	// approved request.
	Token *Token
}

// PendingRequests is an optional capability of a Store, found by type
// assertion: a store that has it supports cross-device sign-in. Both
// store.Memory and redisstore.Store have it.
//
// A request is tied to one link, and every transition that involves the
// link (DecidePending, ConsumeTokenFrom) consumes the link in the same
// atomic step, so the link is the arbiter: of a DecidePending and any
// number of ConsumeToken, ConsumeTokenFrom or ConsumeCode calls racing on
// one link, exactly one uses the link. Records end at KeepUntil (judged by
// the store's clock) and are then ErrNotFound.
type PendingRequests interface {
	// PutTokenPending stores t exactly as Tokens.PutToken does and p with
	// it; p.LinkHash must equal t.Hash and p.Status be PendingWaiting.
	// ErrExists when t.Hash or p.Cookie is present; then neither is stored.
	PutTokenPending(ctx context.Context, t *Token, p *Pending) error
	// PendingByCookie returns the request with this cookie digest, Match
	// included, with Status PendingExpired or PendingUsed when it waits in
	// vain. It changes nothing. ErrNotFound when unknown or past KeepUntil.
	PendingByCookie(ctx context.Context, cookie Digest) (*Pending, error)
	// PendingByLink returns the request waiting for the live link with this
	// hash, for the approving device to show what asked. Match is zero and
	// Cookie is zero: the approving side never learns the number.
	// ErrNotFound when the link is unknown, used or expired; ErrNoPending
	// when it is live but has no waiting request.
	PendingByLink(ctx context.Context, link Digest) (*Pending, error)
	// DecidePending consumes the live link with this hash and, in the same
	// atomic step, approves its waiting request when match equals the
	// request's number, or denies it otherwise (then ErrMatchMismatch). It
	// returns the request as decided (without Match, Cookie or Token).
	// ErrNotFound when the link is unknown, used or expired; ErrNoPending
	// when it has no waiting request; in both cases nothing changes.
	DecidePending(ctx context.Context, link Digest, match uint8) (*Pending, error)
	// TakeApproved is the asking browser's poll. It returns the request
	// with this cookie digest like PendingByCookie, and when it is approved
	// it also removes it in the same step and sets Token: of any number of
	// concurrent calls exactly one sees it approved; the others then get
	// ErrNotFound.
	TakeApproved(ctx context.Context, cookie Digest) (*Pending, error)
	// ConsumeTokenFrom is ConsumeToken for a store that must keep a link to
	// the browser that asked for it: when a request waits for the link and
	// cookie is not its cookie digest (a zero cookie means none was
	// presented), it returns ErrDeviceMismatch and leaves the link alone.
	// A link without a request is consumed as by ConsumeToken.
	ConsumeTokenFrom(ctx context.Context, link, cookie Digest) (*Token, error)
}

// ValidatePending checks what PutTokenPending requires of t and p. Stores
// call it first, so bad input changes no state in any of them.
func ValidatePending(t *Token, p *Pending) error {
	switch {
	case p.LinkHash != t.Hash:
		return errors.New("store: pending request is not tied to its token")
	case p.Status != PendingWaiting:
		return errors.New("store: a pending request must be created waiting")
	case p.Match > 99:
		return errors.New("store: match number out of range")
	case p.Cookie.IsZero():
		return errors.New("store: pending request without a cookie digest")
	case !p.ExpiresAt.Equal(t.ExpiresAt):
		return errors.New("store: pending request must expire with its link")
	case p.KeepUntil.Before(p.ExpiresAt):
		return errors.New("store: pending request dropped before it expires")
	case len(p.UserAgent) > MaxPendingInfo || len(p.IP) > MaxPendingInfo:
		return errors.New("store: pending request user agent or IP too long")
	}
	return nil
}
