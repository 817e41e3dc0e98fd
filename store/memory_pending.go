package store

import (
	"context"
	"encoding/binary"
	"sync"
	"time"
)

// pendingTable holds Memory's pending sign-in requests (PendingRequests).
//
// Lock order: a token shard's lock, then the table's. Every step that uses a
// link holds the link's shard lock, the same lock ConsumeToken and
// ConsumeCode take, so the shard lock is the one arbiter of the link.
//
// Records are values with a single pointer (their user agent and IP in one
// string), keyed like the tokens by the first 64 bits of their cookie
// digest: a busy server holds one per browser send for the link's life and
// more, and each pointer is work for every collection. The rest of the
// digest is in the record and compared on every lookup.
type pendingTable struct {
	mu       sync.Mutex
	byCookie map[uint64]pendingRec
	byLink   map[uint64]uint64 // first 64 bits of the link hash → cookie key
	// approved holds the consumed link of each approved request, until it
	// is taken or the record ends.
	approved map[uint64]*Token
	// buckets files cookie keys by the second their record ends
	// (KeepUntil), so a sweep touches only what is due.
	buckets map[int64][]uint64
	due     secondHeap
}

// pendingRec is a Pending packed for memory; times are Unix nanoseconds.
type pendingRec struct {
	cookieRest [24]byte
	link       Digest
	info       string // UserAgent + IP
	created    int64
	expires    int64
	keep       int64
	uaLen      uint16
	match      uint8
	status     PendingStatus
}

func packPending(p *Pending) pendingRec {
	_, rest := splitDigest(p.Cookie)
	return pendingRec{cookieRest: rest, link: p.LinkHash, info: p.UserAgent + p.IP,
		created: p.CreatedAt.UnixNano(), expires: p.ExpiresAt.UnixNano(), keep: p.KeepUntil.UnixNano(),
		uaLen: uint16(len(p.UserAgent)), match: p.Match, status: p.Status}
}

// unpack is the request of cookie key ck, without Token.
func (r *pendingRec) unpack(ck uint64) Pending {
	out := Pending{LinkHash: r.link, Match: r.match, UserAgent: r.info[:r.uaLen], IP: r.info[r.uaLen:],
		CreatedAt: time.Unix(0, r.created), ExpiresAt: time.Unix(0, r.expires), KeepUntil: time.Unix(0, r.keep),
		Status: r.status}
	binary.BigEndian.PutUint64(out.Cookie[:8], ck)
	copy(out.Cookie[8:], r.cookieRest[:])
	return out
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
	now := m.clock().UnixNano()
	ck, rest := splitDigest(cookie)
	pt := &m.pending
	pt.mu.Lock()
	rec, ok := pt.byCookie[ck]
	if !ok || rec.cookieRest != rest || rec.keep <= now {
		pt.mu.Unlock()
		return nil, ErrNotFound
	}
	out := rec.unpack(ck)
	if rec.status == PendingApproved && take {
		out.Token = pt.approved[ck]
		pt.removeLocked(ck)
	}
	pt.mu.Unlock()
	if out.Status == PendingWaiting {
		switch {
		case rec.expires <= now:
			out.Status = PendingExpired
		case !m.linkLive(out.LinkHash, now):
			out.Status = PendingUsed
		}
	}
	return &out, nil
}

func (m *Memory) linkLive(link Digest, now int64) bool {
	key, rest := splitDigest(link)
	s := m.tokenShard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live(key, rest, now)
}

// PendingByLink implements PendingRequests.
func (m *Memory) PendingByLink(ctx context.Context, link Digest) (*Pending, error) {
	var out Pending
	err := m.withLinkRequest(ctx, link, func(_ *memShard, _ uint64, ck uint64, rec *pendingRec) bool {
		out = rec.unpack(ck)
		return false
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
	err := m.withLinkRequest(ctx, link, func(s *memShard, key uint64, ck uint64, rec *pendingRec) bool {
		tok := s.takeLive(key)
		// Both numbers are public to whoever asked; a plain comparison
		// leaks nothing worth a constant-time one.
		if rec.match == match {
			rec.status = PendingApproved
			m.pending.approved[ck] = tok
		} else {
			rec.status, mismatch = PendingDenied, true
		}
		out = rec.unpack(ck)
		return true
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
	err := m.withLiveLink(ctx, link, func(s *memShard, key uint64, now int64) error {
		pt := &m.pending
		pt.mu.Lock()
		ck, rec, ok := pt.forLinkLocked(link, now)
		mine := !ok || rec.cookie(ck) == cookie
		pt.mu.Unlock()
		if !mine {
			return ErrDeviceMismatch
		}
		tok = s.takeLive(key)
		return nil
	})
	return tok, err
}

// cookie is the cookie digest of the record with cookie key ck.
func (r *pendingRec) cookie(ck uint64) Digest {
	var d Digest
	binary.BigEndian.PutUint64(d[:8], ck)
	copy(d[8:], r.cookieRest[:])
	return d
}

// withLinkRequest runs f with the live link's shard and the table locked,
// on a copy of the request waiting for that link, which is stored back when
// f reports it changed it. ErrNotFound when the link is not live,
// ErrNoPending when no request waits for it.
func (m *Memory) withLinkRequest(ctx context.Context, link Digest, f func(s *memShard, key, ck uint64, rec *pendingRec) bool) error {
	return m.withLiveLink(ctx, link, func(s *memShard, key uint64, now int64) error {
		pt := &m.pending
		pt.mu.Lock()
		defer pt.mu.Unlock()
		ck, rec, ok := pt.forLinkLocked(link, now)
		if !ok || rec.status != PendingWaiting {
			return ErrNoPending
		}
		if f(s, key, ck, &rec) {
			pt.byCookie[ck] = rec
		}
		return nil
	})
}

// withLiveLink runs f with the shard of link locked and the store's time,
// when the link is live then; its error is f's. ErrNotFound when the link
// is not live, ctx's error when ctx is done. The shard is locked before the
// pending table, always.
func (m *Memory) withLiveLink(ctx context.Context, link Digest, f func(s *memShard, key uint64, now int64) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	key, rest := splitDigest(link)
	s := m.tokenShard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := m.clock().UnixNano()
	if !s.live(key, rest, now) {
		return ErrNotFound
	}
	return f(s, key, now)
}

// forLinkLocked returns the unexpired record tied to link, with its cookie
// key, if there is one.
func (pt *pendingTable) forLinkLocked(link Digest, now int64) (uint64, pendingRec, bool) {
	lk, _ := splitDigest(link)
	ck, ok := pt.byLink[lk]
	if !ok {
		return 0, pendingRec{}, false
	}
	rec, ok := pt.byCookie[ck]
	if !ok || rec.link != link || rec.keep <= now {
		return 0, pendingRec{}, false
	}
	return ck, rec, true
}

// insert adds p unless its cookie or link is taken or limit records exist.
// A cookie or link whose first 64 bits are those of another's is taken, as
// a token's is: with random digests, that is a repeat in practice.
func (pt *pendingTable) insert(p *Pending, limit int) error {
	rec := packPending(p) // copies the strings before the lock is taken
	ck, _ := splitDigest(p.Cookie)
	lk, _ := splitDigest(p.LinkHash)
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.byCookie == nil {
		pt.byCookie = make(map[uint64]pendingRec)
		pt.byLink = make(map[uint64]uint64)
		pt.approved = make(map[uint64]*Token)
		pt.buckets = make(map[int64][]uint64)
	}
	if _, ok := pt.byCookie[ck]; ok {
		return ErrExists
	}
	if _, ok := pt.byLink[lk]; ok {
		return ErrExists
	}
	if len(pt.byCookie) >= limit {
		return ErrFull
	}
	pt.byCookie[ck] = rec
	pt.byLink[lk] = ck
	sec := (rec.keep + int64(time.Second) - 1) / int64(time.Second)
	b, ok := pt.buckets[sec]
	if !ok {
		pt.due.push(sec)
	}
	pt.buckets[sec] = append(b, ck)
	return nil
}

// remove drops the record of cookie, if any.
func (pt *pendingTable) remove(cookie Digest) {
	ck, rest := splitDigest(cookie)
	pt.mu.Lock()
	if rec, ok := pt.byCookie[ck]; ok && rec.cookieRest == rest {
		pt.removeLocked(ck)
	}
	pt.mu.Unlock()
}

// removeLocked drops the record of cookie key ck, if any; its bucket entry
// stays until the sweep, which skips cookies it no longer finds.
func (pt *pendingTable) removeLocked(ck uint64) {
	rec, ok := pt.byCookie[ck]
	if !ok {
		return
	}
	delete(pt.byCookie, ck)
	delete(pt.approved, ck)
	lk, _ := splitDigest(rec.link)
	if pt.byLink[lk] == ck {
		delete(pt.byLink, lk)
	}
}

// sweep drops every record whose KeepUntil has passed, in time
// proportional to the number of records filed for the seconds now due.
func (pt *pendingTable) sweep(now int64) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	for len(pt.due) > 0 && pt.due[0]*int64(time.Second) <= now {
		sec := pt.due.pop()
		for _, ck := range pt.buckets[sec] {
			if rec, ok := pt.byCookie[ck]; ok && rec.keep <= now {
				pt.removeLocked(ck)
			}
		}
		delete(pt.buckets, sec)
	}
}
