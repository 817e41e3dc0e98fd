package store

import (
	"context"
	"sync"
	"time"
)

// pendingTable holds Memory's pending sign-in requests (PendingRequests).
//
// Lock order: a token shard's lock, then the table's. Every step that uses a
// link holds the link's shard lock, the same lock ConsumeToken and
// ConsumeCode take, so the shard lock is the one arbiter of the link.
type pendingTable struct {
	mu       sync.Mutex
	byCookie map[Digest]*pendingRec
	byLink   map[Digest]Digest // link hash → cookie digest
	// buckets files cookies by the second their record ends (KeepUntil),
	// so a sweep touches only what is due.
	buckets map[int64][]Digest
	due     secondHeap
}

type pendingRec struct {
	p     Pending // Status is Waiting, Approved or Denied; Token is nil
	token *Token  // the consumed link, once approved
}

var _ PendingRequests = (*Memory)(nil)

// PutTokenPending implements PendingRequests.
func (m *Memory) PutTokenPending(ctx context.Context, t *Token, p *Pending) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ValidatePending(t, p); err != nil {
		return err
	}
	// The request goes in first so that a full table refuses before the
	// token is stored; until the token is in, nothing can use the request.
	if err := m.pending.insert(p, m.maxTokens); err != nil {
		return err
	}
	if err := m.PutToken(ctx, t); err != nil {
		m.pending.remove(p.Cookie)
		return err
	}
	return nil
}

// PendingByCookie implements PendingRequests.
func (m *Memory) PendingByCookie(ctx context.Context, cookie Digest) (*Pending, error) {
	return m.pollPending(ctx, cookie, false)
}

// TakeApproved implements PendingRequests.
func (m *Memory) TakeApproved(ctx context.Context, cookie Digest) (*Pending, error) {
	return m.pollPending(ctx, cookie, true)
}

// pollPending reads the request with this cookie and, with take, removes
// it when it is approved. A waiting request whose link is gone is reported
// as used; the link is looked at after the table's lock is released, which
// is fine for a report: only the link's own transitions must be atomic.
func (m *Memory) pollPending(ctx context.Context, cookie Digest, take bool) (*Pending, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := m.clock()
	pt := &m.pending
	pt.mu.Lock()
	rec, ok := pt.byCookie[cookie]
	if !ok || !rec.p.KeepUntil.After(now) {
		pt.mu.Unlock()
		return nil, ErrNotFound
	}
	out := rec.p
	if rec.p.Status == PendingApproved && take {
		out.Token = rec.token
		pt.removeLocked(cookie)
	}
	pt.mu.Unlock()
	if out.Status == PendingWaiting {
		switch {
		case !out.ExpiresAt.After(now):
			out.Status = PendingExpired
		case !m.linkLive(out.LinkHash, now):
			out.Status = PendingUsed
		}
	}
	return &out, nil
}

func (m *Memory) linkLive(link Digest, now time.Time) bool {
	key, rest := splitDigest(link)
	s := m.tokenShard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live(key, rest, now.UnixNano())
}

// PendingByLink implements PendingRequests.
func (m *Memory) PendingByLink(ctx context.Context, link Digest) (*Pending, error) {
	var out Pending
	err := m.withLinkRequest(ctx, link, func(_ *memShard, _ uint64, rec *pendingRec) {
		out = rec.p
	})
	if err != nil {
		return nil, err
	}
	out.Match, out.Cookie = 0, Digest{}
	return &out, nil
}

// DecidePending implements PendingRequests.
func (m *Memory) DecidePending(ctx context.Context, link Digest, match uint8) (*Pending, error) {
	var out Pending
	var mismatch bool
	err := m.withLinkRequest(ctx, link, func(s *memShard, key uint64, rec *pendingRec) {
		tok := s.takeLive(key)
		// Both numbers are public to whoever asked; a plain comparison
		// leaks nothing worth a constant-time one.
		if rec.p.Match == match {
			rec.p.Status, rec.token = PendingApproved, tok
		} else {
			rec.p.Status, mismatch = PendingDenied, true
		}
		out = rec.p
	})
	if err != nil {
		return nil, err
	}
	out.Match, out.Cookie = 0, Digest{}
	if mismatch {
		return &out, ErrMatchMismatch
	}
	return &out, nil
}

// ConsumeTokenFrom implements PendingRequests.
func (m *Memory) ConsumeTokenFrom(ctx context.Context, link, cookie Digest) (*Token, error) {
	var tok *Token
	err := m.withLiveLink(ctx, link, func(s *memShard, key uint64, now time.Time) error {
		pt := &m.pending
		pt.mu.Lock()
		rec := pt.forLinkLocked(link, now)
		mine := rec == nil || rec.p.Cookie == cookie
		pt.mu.Unlock()
		if !mine {
			return ErrDeviceMismatch
		}
		tok = s.takeLive(key)
		return nil
	})
	return tok, err
}

// withLinkRequest runs f with the live link's shard and the table locked,
// on the request waiting for that link. ErrNotFound when the link is not
// live, ErrNoPending when no request waits for it.
func (m *Memory) withLinkRequest(ctx context.Context, link Digest, f func(s *memShard, key uint64, rec *pendingRec)) error {
	return m.withLiveLink(ctx, link, func(s *memShard, key uint64, now time.Time) error {
		pt := &m.pending
		pt.mu.Lock()
		defer pt.mu.Unlock()
		rec := pt.forLinkLocked(link, now)
		if rec == nil || rec.p.Status != PendingWaiting {
			return ErrNoPending
		}
		f(s, key, rec)
		return nil
	})
}

// withLiveLink runs f with the shard of link locked and the store's time,
// when the link is live then; its error is f's. ErrNotFound when the link
// is not live, ctx's error when ctx is done. The shard is locked before the
// pending table, always.
func (m *Memory) withLiveLink(ctx context.Context, link Digest, f func(s *memShard, key uint64, now time.Time) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	key, rest := splitDigest(link)
	s := m.tokenShard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := m.clock()
	if !s.live(key, rest, now.UnixNano()) {
		return ErrNotFound
	}
	return f(s, key, now)
}

// forLinkLocked returns the unexpired record tied to link, or nil.
func (pt *pendingTable) forLinkLocked(link Digest, now time.Time) *pendingRec {
	cookie, ok := pt.byLink[link]
	if !ok {
		return nil
	}
	rec := pt.byCookie[cookie]
	if rec == nil || !rec.p.KeepUntil.After(now) {
		return nil
	}
	return rec
}

// insert adds p unless its cookie or link is taken or limit records exist.
func (pt *pendingTable) insert(p *Pending, limit int) error {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.byCookie == nil {
		pt.byCookie = make(map[Digest]*pendingRec)
		pt.byLink = make(map[Digest]Digest)
		pt.buckets = make(map[int64][]Digest)
	}
	if _, ok := pt.byCookie[p.Cookie]; ok {
		return ErrExists
	}
	if _, ok := pt.byLink[p.LinkHash]; ok {
		return ErrExists
	}
	if len(pt.byCookie) >= limit {
		return ErrFull
	}
	rec := &pendingRec{p: *p}
	rec.p.Token = nil
	pt.byCookie[p.Cookie] = rec
	pt.byLink[p.LinkHash] = p.Cookie
	sec := (p.KeepUntil.UnixNano() + int64(time.Second) - 1) / int64(time.Second)
	b, ok := pt.buckets[sec]
	if !ok {
		pt.due.push(sec)
	}
	pt.buckets[sec] = append(b, p.Cookie)
	return nil
}

func (pt *pendingTable) remove(cookie Digest) {
	pt.mu.Lock()
	pt.removeLocked(cookie)
	pt.mu.Unlock()
}

// removeLocked drops the record of cookie, if any; its bucket entry stays
// until the sweep, which skips cookies it no longer finds.
func (pt *pendingTable) removeLocked(cookie Digest) {
	rec, ok := pt.byCookie[cookie]
	if !ok {
		return
	}
	delete(pt.byCookie, cookie)
	if pt.byLink[rec.p.LinkHash] == cookie {
		delete(pt.byLink, rec.p.LinkHash)
	}
}

// sweep drops every record whose KeepUntil has passed, in time
// proportional to the number of records filed for the seconds now due.
func (pt *pendingTable) sweep(now int64) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	for len(pt.due) > 0 && pt.due[0]*int64(time.Second) <= now {
		sec := pt.due.pop()
		for _, c := range pt.buckets[sec] {
			if rec, ok := pt.byCookie[c]; ok && rec.p.KeepUntil.UnixNano() <= now {
				pt.removeLocked(c)
			}
		}
		delete(pt.buckets, sec)
	}
}
