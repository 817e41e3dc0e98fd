package store

import (
	"cmp"
	"context"
	"crypto/subtle"
	"hash/maphash"
	"slices"
	"sync"
	"time"
)

// memSessions is the session part of Memory. Sessions live in shards by
// ID, each with its own lock, so concurrent requests of different sessions
// rarely contend; a second set of shards indexes session IDs by user for
// listing and revoking. Lock order: a user shard, then a session shard.
//
// Expired sessions are swept like tokens, from per-second buckets of their
// deadline. A touch moves a session's deadline later without re-filing it;
// the sweep that finds it still live files it again under its new
// deadline, so a sweep costs what is due plus what was touched since.
type memSessions struct {
	seed  maphash.Seed
	max   int // per shard
	parts [memShards]sessionShard
	users [memShards]userSessionShard
}

type sessionShard struct {
	mu      sync.Mutex
	byID    map[sid]*memSession
	buckets map[int64][]sid
	due     secondHeap
}

type userSessionShard struct {
	mu  sync.Mutex
	ids map[string]map[sid]struct{} // user ID → session IDs
}

// sid is a session ID as the maps key it: every ID is SessionID of a
// digest, SessionIDLen bytes, so an array holds it and the maps and buckets
// that hold one per session hold no string for the collector to mark.
type sid [SessionIDLen]byte

// sidOf returns id as a sid, and false when it cannot be a session ID.
func sidOf(id string) (sid, bool) {
	var k sid
	if len(id) != SessionIDLen {
		return k, false
	}
	copy(k[:], id)
	return k, true
}

type memSession struct {
	s Session
	// prev holds rotated-away refresh digests, newest first.
	prev []Digest
	// filed is the bucket second the session is filed under.
	filed int64
}

// defaultMaxSessions bounds the live sessions of a Memory store.
const defaultMaxSessions = 1_000_000

func (ms *memSessions) init(seed maphash.Seed, max int) {
	ms.seed = seed
	ms.max = (max + memShards - 1) / memShards
	for i := range ms.parts {
		ms.parts[i].byID = make(map[sid]*memSession)
		ms.parts[i].buckets = make(map[int64][]sid)
		ms.users[i].ids = make(map[string]map[sid]struct{})
	}
}

func (ms *memSessions) part(id sid) *sessionShard {
	return &ms.parts[maphash.Bytes(ms.seed, id[:])%memShards]
}

func (ms *memSessions) user(userID string) *userSessionShard {
	return &ms.users[maphash.String(ms.seed, userID)%memShards]
}

// WithMaxSessions bounds the number of live sessions (default 1,000,000);
// CreateSession returns ErrFull beyond it rather than ending a session.
func WithMaxSessions(n int) MemoryOption {
	return func(m *Memory) { m.maxSessions = n }
}

// file puts id in the bucket of its deadline; the shard must be locked.
func (p *sessionShard) file(id sid, rec *memSession) {
	d := rec.s.Deadline().UnixNano()
	sec := (d + int64(time.Second) - 1) / int64(time.Second)
	rec.filed = sec
	b, ok := p.buckets[sec]
	if !ok {
		p.due.push(sec)
	}
	p.buckets[sec] = append(b, id)
}

// CreateSession implements Sessions.
func (m *Memory) CreateSession(ctx context.Context, s *Session) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckNewSession(s, m.clock()); err != nil {
		return err
	}
	id := sid(sessionID(s.TokenHash))
	u := m.sess.user(s.UserID)
	u.mu.Lock()
	defer u.mu.Unlock()
	p := m.sess.part(id)
	p.mu.Lock()
	if _, ok := p.byID[id]; ok {
		p.mu.Unlock()
		return ErrExists
	}
	if len(p.byID) >= m.sess.max {
		p.mu.Unlock()
		return ErrFull
	}
	rec := &memSession{s: *s}
	p.byID[id] = rec
	p.file(id, rec)
	p.mu.Unlock()
	set := u.ids[s.UserID]
	if set == nil {
		set = make(map[sid]struct{})
		u.ids[s.UserID] = set
	}
	set[id] = struct{}{}
	return nil
}

// SessionByToken implements Sessions.
func (m *Memory) SessionByToken(ctx context.Context, tokenHash Digest, touch Touch) (*Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return m.lookupSession(sessionID(tokenHash), &tokenHash, touch)
}

// SessionByID implements Sessions.
func (m *Memory) SessionByID(ctx context.Context, id string, touch Touch) (*Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, ok := sidOf(id)
	if !ok {
		return nil, ErrNotFound
	}
	return m.lookupSession(k, nil, touch)
}

// lookupSession returns a copy of the live session id, touched; with
// tokenHash it must also carry that token digest.
func (m *Memory) lookupSession(id sid, tokenHash *Digest, touch Touch) (*Session, error) {
	now := m.clock()
	p := m.sess.part(id)
	p.mu.Lock()
	defer p.mu.Unlock()
	rec := p.byID[id]
	if rec == nil || !rec.s.Live(now) {
		return nil, ErrNotFound
	}
	if tokenHash != nil && subtle.ConstantTimeCompare(rec.s.TokenHash[:], tokenHash[:]) != 1 {
		return nil, ErrNotFound
	}
	touch.Apply(&rec.s)
	out := rec.s
	return &out, nil
}

// RotateRefresh implements Sessions.
func (m *Memory) RotateRefresh(ctx context.Context, idText string, current, next Digest, touch Touch) (*Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id, ok := sidOf(idText)
	if !ok {
		return nil, ErrNotFound
	}
	now := m.clock()
	p := m.sess.part(id)
	p.mu.Lock()
	rec := p.byID[id]
	if rec == nil || !rec.s.Live(now) {
		p.mu.Unlock()
		return nil, ErrNotFound
	}
	if !rec.s.RefreshHash.IsZero() && subtle.ConstantTimeCompare(rec.s.RefreshHash[:], current[:]) == 1 {
		if len(rec.prev) < PreviousRefreshKept {
			rec.prev = append(rec.prev, Digest{})
		}
		copy(rec.prev[1:], rec.prev)
		rec.prev[0] = current
		rec.s.RefreshHash = next
		touch.Apply(&rec.s)
		out := rec.s
		p.mu.Unlock()
		return &out, nil
	}
	reused := false
	for _, d := range rec.prev {
		reused = reused || subtle.ConstantTimeCompare(d[:], current[:]) == 1
	}
	if !reused {
		p.mu.Unlock()
		return nil, ErrNotFound
	}
	userID := rec.s.UserID
	delete(p.byID, id)
	p.mu.Unlock()
	m.unindexSession(userID, id)
	return nil, ErrRefreshReused
}

// unindexSession drops id from userID's index unless it is back.
func (m *Memory) unindexSession(userID string, id sid) {
	u := m.sess.user(userID)
	u.mu.Lock()
	defer u.mu.Unlock()
	p := m.sess.part(id)
	p.mu.Lock()
	_, back := p.byID[id]
	p.mu.Unlock()
	if !back {
		u.drop(userID, id)
	}
}

// drop removes id from userID's set; the shard must be locked.
func (u *userSessionShard) drop(userID string, id sid) {
	set := u.ids[userID]
	delete(set, id)
	if len(set) == 0 {
		delete(u.ids, userID)
	}
}

// RevokeSession implements Sessions.
func (m *Memory) RevokeSession(ctx context.Context, userID, idText string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id, ok := sidOf(idText)
	if !ok {
		return ErrNotFound
	}
	now := m.clock()
	u := m.sess.user(userID)
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.ids[userID][id]; !ok {
		return ErrNotFound
	}
	live, _ := m.removeSession(id, userID, now)
	u.drop(userID, id)
	if !live {
		return ErrNotFound
	}
	return nil
}

// removeSession deletes session id when it belongs to userID, and reports
// whether it was live and whether it existed.
func (m *Memory) removeSession(id sid, userID string, now time.Time) (live, existed bool) {
	p := m.sess.part(id)
	p.mu.Lock()
	defer p.mu.Unlock()
	rec := p.byID[id]
	if rec == nil || rec.s.UserID != userID {
		return false, false
	}
	delete(p.byID, id)
	return rec.s.Live(now), true
}

// RevokeUserSessions implements Sessions.
func (m *Memory) RevokeUserSessions(ctx context.Context, userID, except string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := m.clock()
	u := m.sess.user(userID)
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for id := range u.ids[userID] {
		if string(id[:]) == except {
			continue
		}
		if live, _ := m.removeSession(id, userID, now); live {
			n++
		}
		u.drop(userID, id)
	}
	return n, nil
}

// UserSessions implements Sessions.
func (m *Memory) UserSessions(ctx context.Context, userID string) ([]*Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := m.clock()
	u := m.sess.user(userID)
	u.mu.Lock()
	var out []*Session
	for id := range u.ids[userID] {
		p := m.sess.part(id)
		p.mu.Lock()
		if rec := p.byID[id]; rec != nil && rec.s.UserID == userID && rec.s.Live(now) {
			s := rec.s
			out = append(out, &s)
		}
		p.mu.Unlock()
	}
	u.mu.Unlock()
	slices.SortFunc(out, func(a, b *Session) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// sweepSessions removes the sessions whose deadline has passed and returns
// how many it removed.
func (m *Memory) sweepSessions() int {
	now := m.clock()
	type gone struct {
		user string
		id   sid
	}
	var removed []gone
	for i := range m.sess.parts {
		p := &m.sess.parts[i]
		p.mu.Lock()
		for len(p.due) > 0 && p.due[0]*int64(time.Second) <= now.UnixNano() {
			sec := p.due.pop()
			for _, id := range p.buckets[sec] {
				rec := p.byID[id]
				switch {
				case rec == nil || rec.filed != sec:
					// Revoked, or filed again later.
				case rec.s.Live(now):
					p.file(id, rec) // touched since it was filed
				default:
					delete(p.byID, id)
					removed = append(removed, gone{rec.s.UserID, id})
				}
			}
			delete(p.buckets, sec)
		}
		p.mu.Unlock()
	}
	for _, g := range removed {
		m.unindexSession(g.user, g.id)
	}
	return len(removed)
}

// sessionCount returns the number of sessions held, expired ones not yet
// swept included.
func (m *Memory) sessionCount() int {
	n := 0
	for i := range m.sess.parts {
		p := &m.sess.parts[i]
		p.mu.Lock()
		n += len(p.byID)
		p.mu.Unlock()
	}
	return n
}
