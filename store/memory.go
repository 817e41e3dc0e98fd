package store

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"time"
)

// Memory is the embedded in-memory Store. It is sharded so that concurrent
// sign-ins rarely contend on one lock, bounded (PutToken returns ErrFull past
// MaxTokens), and sweeps expired tokens in time proportional to the number
// that expired: each shard files its tokens in per-second expiry buckets
// whose keys sit in a small min-heap, so a sweep touches only what is due
// and never scans live records.
//
// Records are kept compact (about 300 bytes per live token with its code)
// so that a million outstanding sign-ins fit in well under 300 MB.
//
// Memory is for single-process deployments and tests; several instances of a
// server need a shared store such as store/redisstore. It makes no network
// round trips, so unlike the Redis and PostgreSQL stores it adds no spans of
// its own under the Service's.
type Memory struct {
	clock func() time.Time
	// ownClock is set by WithClock: expiry is then judged by clock alone,
	// and the time a TokensAt caller passes is ignored.
	ownClock    bool
	maxTokens   int
	maxSessions int
	sweepEvery  time.Duration
	seed        maphash.Seed
	// codeSeed keys the second half of an address's code key.
	codeSeed maphash.Seed
	shards   []memShard
	pending  pendingTable

	userMu      sync.RWMutex
	usersByID   map[string]User
	usersByMail map[string]string // orgID + "\x00" + email → ID
	customers   map[string]Customer

	sess memSessions

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// memShard holds the tokens whose key falls into it, the code index of the
// addresses that hash into it, and the expiry buckets of its tokens.
//
// Token records live in fixed-size chunks addressed through a small index
// map: a map with ~100-byte slots wastes a third of its memory to its load
// factor, an index of 12-byte slots wastes little.
type memShard struct {
	mu      sync.Mutex
	index   map[uint64]uint32 // key → slot in chunks
	chunks  [][]memToken
	free    []uint32
	codes   map[codeKey]uint64 // address → key of the token holding its active code
	buckets map[int64][]uint64
	due     secondHeap
	tails   map[tailKey]uint16
	tailTab []tailKey
	// lastTail is the tail interned last (valid when tailTab is not
	// empty): most tokens of a shard share it, and comparing three short
	// strings costs less than hashing them for the map.
	lastTail uint16
	count    int
}

// memToken is a Token packed for memory: the map key holds the first 8
// bytes of the digest and rest the other 24; user ID and address share one
// string; organisation, origin and next (which repeat across tokens) are
// interned per shard when there is room.
type memToken struct {
	rest     [24]byte
	mac      Digest
	data     string // userID + email [+ tail when not interned]
	created  int64
	expires  int64
	userLen  uint16
	tail     uint16 // index into tailTab, or inlineTail
	tries    uint8
	hasCode  bool
	codeDead bool
	// linkUsed marks a record kept only for its code after the link was
	// consumed (see Tokens).
	linkUsed bool
}

const (
	memShards  = 64
	inlineTail = ^uint16(0)
	// maxTails bounds each shard's intern table; past it tails are stored
	// inline, so hostile variety costs memory per token, not without bound.
	maxTails = 1024
)

// MemoryOption configures NewMemory.
type MemoryOption func(*Memory)

// WithClock sets the clock used to judge expiry (default time.Now). With
// it, PutTokenAt and ConsumeTokenAt ignore the time they are passed.
func WithClock(now func() time.Time) MemoryOption {
	return func(m *Memory) { m.clock, m.ownClock = now, true }
}

// WithMaxTokens bounds the number of live tokens (default 4,000,000);
// PutToken returns ErrFull beyond it rather than evicting a sign-in in
// flight.
func WithMaxTokens(n int) MemoryOption {
	return func(m *Memory) { m.maxTokens = n }
}

// WithSweepInterval sets how often a background goroutine removes expired
// tokens (default one minute). Zero disables the goroutine; expired records
// are then removed by Sweep and are never returned either way.
func WithSweepInterval(d time.Duration) MemoryOption {
	return func(m *Memory) { m.sweepEvery = d }
}

// NewMemory returns an empty in-memory store. Call Close to stop its sweeper.
func NewMemory(opts ...MemoryOption) *Memory {
	m := &Memory{
		clock:       time.Now,
		maxTokens:   4_000_000,
		maxSessions: defaultMaxSessions,
		sweepEvery:  time.Minute,
		seed:        maphash.MakeSeed(),
		codeSeed:    maphash.MakeSeed(),
		shards:      make([]memShard, memShards),
		usersByID:   make(map[string]User),
		usersByMail: make(map[string]string),
		customers:   make(map[string]Customer),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	for _, o := range opts {
		o(m)
	}
	for i := range m.shards {
		s := &m.shards[i]
		s.index = make(map[uint64]uint32)
		s.codes = make(map[codeKey]uint64)
		s.buckets = make(map[int64][]uint64)
		s.tails = make(map[tailKey]uint16)
	}
	m.sess.init(m.seed, m.maxSessions)
	if m.sweepEvery > 0 {
		go m.sweepLoop(m.sweepEvery)
	} else {
		close(m.done)
	}
	return m
}

// Close stops the background sweeper. It is safe to call more than once.
// The store remains usable after Close, without background sweeping.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() { close(m.stop) })
	<-m.done
	return nil
}

func (m *Memory) sweepLoop(every time.Duration) {
	defer close(m.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.Sweep()
		}
	}
}

// Sweep removes every token (with its code) and every session that has
// expired, and every pending request past its KeepUntil, and returns how
// many tokens and sessions it removed. Its cost is proportional to the
// number of records removed (plus, for sessions, the ones touched since
// they were last filed).
func (m *Memory) Sweep() int {
	return m.sweepTokens() + m.sweepSessions()
}

func (m *Memory) sweepTokens() int {
	now := m.clock().UnixNano()
	removed := 0
	var gone []string // addresses whose code may point at a removed token
	var goneKeys []uint64
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for len(s.due) > 0 && s.due[0]*int64(time.Second) <= now {
			sec := s.due.pop()
			for _, k := range s.buckets[sec] {
				if t := s.get(k); t != nil && t.expires <= now {
					rec := s.remove(k)
					removed++
					if t := rec; t.hasCode {
						gone = append(gone, tokenEmail(t))
						goneKeys = append(goneKeys, k)
					}
				}
			}
			delete(s.buckets, sec)
		}
		s.mu.Unlock()
	}
	for i, email := range gone {
		m.dropCode(email, goneKeys[i])
	}
	m.pending.sweep(now)
	return removed
}

// Len returns the number of tokens held, expired ones not yet swept included.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += s.count
		s.mu.Unlock()
	}
	return n
}

func splitDigest(h Digest) (key uint64, rest [24]byte) {
	copy(rest[:], h[8:])
	return binary.BigEndian.Uint64(h[:8]), rest
}

func (m *Memory) tokenShard(key uint64) *memShard {
	// Digests are uniformly random already; low bits pick a shard.
	return &m.shards[key%uint64(len(m.shards))]
}

// codeKey names an address in the code index: two independent keyed
// 64-bit hashes of it. The index then holds no string, so the collector
// has nothing in it to mark, and 128 bits of a hash whose seeds nobody
// outside the process knows collide no more often than the digests that key
// the tokens. ConsumeCode checks the address of the token it finds anyway.
type codeKey [2]uint64

// codeShard returns the shard holding the address's code index, and the
// address's key in it.
func (m *Memory) codeShard(email string) (*memShard, codeKey) {
	h := maphash.String(m.seed, email)
	return &m.shards[h%uint64(len(m.shards))], codeKey{h, maphash.String(m.codeSeed, email)}
}

// The data string is userID + email + (inline tail); the tail itself is
// orgID \x00 origin \x00 next. emailLen recovers the address length: it is
// the rest of data when the tail is interned, and is stored in front of an
// inline tail otherwise.
func emailLen(t memToken) int {
	if t.tail != inlineTail {
		return len(t.data) - int(t.userLen)
	}
	return int(binary.BigEndian.Uint16([]byte(t.data[len(t.data)-2:])))
}

// tokenEmail is the address of t.
func tokenEmail(t memToken) string {
	return t.data[t.userLen : int(t.userLen)+emailLen(t)]
}

const chunkSize = 1024

// get returns the record of key, or nil. The pointer is valid while the
// shard is locked.
func (s *memShard) get(key uint64) *memToken {
	p, _ := s.lookup(key)
	return p
}

// lookup is get that also returns the record's slot, for removeAt.
func (s *memShard) lookup(key uint64) (*memToken, uint32) {
	slot, ok := s.index[key]
	if !ok {
		return nil, 0
	}
	return &s.chunks[slot/chunkSize][slot%chunkSize], slot
}

// put stores rec under key in a free slot.
func (s *memShard) put(key uint64, rec memToken) {
	var slot uint32
	if n := len(s.free); n > 0 {
		slot = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		slot = uint32(len(s.chunks) * chunkSize)
		s.chunks = append(s.chunks, make([]memToken, chunkSize))
		for i := chunkSize - 1; i > 0; i-- {
			s.free = append(s.free, slot+uint32(i))
		}
	}
	s.chunks[slot/chunkSize][slot%chunkSize] = rec
	s.index[key] = slot
	s.count++
}

// remove deletes key's record and returns it; the key must exist.
func (s *memShard) remove(key uint64) memToken {
	return s.removeAt(key, s.index[key])
}

// removeAt is remove of key's record at slot, as lookup returned it.
func (s *memShard) removeAt(key uint64, slot uint32) memToken {
	p := &s.chunks[slot/chunkSize][slot%chunkSize]
	rec := *p
	*p = memToken{} // drop the string so the collector can free it
	delete(s.index, key)
	s.free = append(s.free, slot)
	s.count--
	return rec
}

// tailKey is the part of a token that repeats across tokens. A struct of
// strings as a map key is looked up without building a combined string.
type tailKey struct{ org, origin, next string }

func (s *memShard) intern(tail tailKey) uint16 {
	if len(s.tailTab) > 0 && s.tailTab[s.lastTail] == tail {
		return s.lastTail
	}
	if i, ok := s.tails[tail]; ok {
		s.lastTail = i
		return i
	}
	if len(s.tailTab) >= maxTails {
		return inlineTail
	}
	// Copies, for the reason putToken copies the address: the table keeps
	// them for as long as the store lives.
	tail = tailKey{strings.Clone(tail.org), strings.Clone(tail.origin), strings.Clone(tail.next)}
	i := uint16(len(s.tailTab))
	s.tailTab = append(s.tailTab, tail)
	s.tails[tail] = i
	s.lastTail = i
	return i
}

func (s *memShard) unpack(key uint64, t memToken) *Token {
	out := &Token{UserID: t.data[:t.userLen], CodeMAC: t.mac,
		CreatedAt: time.Unix(0, t.created), ExpiresAt: time.Unix(0, t.expires)}
	binary.BigEndian.PutUint64(out.Hash[:8], key)
	copy(out.Hash[8:], t.rest[:])
	el := emailLen(t)
	out.Email = t.data[t.userLen : int(t.userLen)+el]
	if t.tail != inlineTail {
		k := s.tailTab[t.tail]
		out.OrgID, out.Origin, out.Next = k.org, k.origin, k.next
		return out
	}
	tail := t.data[int(t.userLen)+el : len(t.data)-2]
	i := indexByte(tail, 0)
	out.OrgID = tail[:i]
	tail = tail[i+1:]
	j := indexByte(tail, 0)
	out.Origin, out.Next = tail[:j], tail[j+1:]
	return out
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return len(s)
}

// PutToken implements Tokens.
func (m *Memory) PutToken(ctx context.Context, t *Token) error {
	return m.putToken(ctx, t, m.clock().UnixNano())
}

// PutTokenAt implements TokensAt.
func (m *Memory) PutTokenAt(ctx context.Context, t *Token, now time.Time) error {
	return m.putToken(ctx, t, m.at(now))
}

// at is the time to judge expiry by: now as the caller read it from the
// real clock, unless the store was given a clock of its own.
func (m *Memory) at(now time.Time) int64 {
	if m.ownClock {
		return m.clock().UnixNano()
	}
	return now.UnixNano()
}

func (m *Memory) putToken(ctx context.Context, t *Token, now int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	exp := t.ExpiresAt.UnixNano()
	if exp <= now {
		return fmt.Errorf("store: token already expired")
	}
	if len(t.UserID) > 1024 || len(t.Email) > 1024 {
		return fmt.Errorf("store: user ID or address too long")
	}
	key, rest := splitDigest(t.Hash)
	rec := memToken{rest: rest, mac: t.CodeMAC, created: t.CreatedAt.UnixNano(), expires: exp,
		userLen: uint16(len(t.UserID)), hasCode: !t.CodeMAC.IsZero()}
	// The record's string is built before the lock is taken: an allocation
	// may have to help the collector, which no other sign-in in this shard
	// should wait for. The rare record whose tail is not interned builds
	// its longer string under the lock. It is always a copy: the address
	// alone (no user yet) would otherwise be the caller's string, which may
	// be a slice of a whole request body, kept alive for the token's life.
	if t.UserID == "" {
		rec.data = strings.Clone(t.Email)
	} else {
		rec.data = t.UserID + t.Email
	}
	s := m.tokenShard(key)
	s.mu.Lock()
	if _, ok := s.index[key]; ok {
		// Same first 64 bits of a random digest: a repeat, in practice.
		s.mu.Unlock()
		return ErrExists
	}
	if s.count >= (m.maxTokens+len(m.shards)-1)/len(m.shards) {
		s.mu.Unlock()
		return ErrFull
	}
	rec.tail = s.intern(tailKey{t.OrgID, t.Origin, t.Next})
	if rec.tail == inlineTail {
		var n [2]byte
		binary.BigEndian.PutUint16(n[:], uint16(len(t.Email)))
		rec.data = t.UserID + t.Email + t.OrgID + "\x00" + t.Origin + "\x00" + t.Next + string(n[:])
	}
	s.put(key, rec)
	sec := (exp + int64(time.Second) - 1) / int64(time.Second)
	b, ok := s.buckets[sec]
	if !ok {
		s.due.push(sec)
	}
	s.buckets[sec] = append(b, key)
	s.mu.Unlock()

	if rec.hasCode {
		cs, ck := m.codeShard(t.Email)
		cs.mu.Lock()
		cs.codes[ck] = key
		cs.mu.Unlock()
	}
	return nil
}

// dropCode removes the address's code index if it still points at key.
func (m *Memory) dropCode(email string, key uint64) {
	cs, ck := m.codeShard(email)
	cs.mu.Lock()
	if k, ok := cs.codes[ck]; ok && k == key {
		delete(cs.codes, ck)
	}
	cs.mu.Unlock()
}

// take consumes the link of the live token with this key and returns it,
// or nil. A record whose code is still alive stays, marked linkUsed, for
// ConsumeCode.
func (m *Memory) take(key uint64, rest [24]byte, now int64) *Token {
	s := m.tokenShard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	// One index lookup serves the check and the removal.
	p, slot := s.lookup(key)
	if !liveRecord(p, rest, now) {
		return nil
	}
	return s.takeAt(key, p, slot)
}

// live reports whether key holds a token with this rest whose link is
// unused and unexpired. The shard must be locked.
func (s *memShard) live(key uint64, rest [24]byte, now int64) bool {
	return liveRecord(s.get(key), rest, now)
}

// liveRecord is live of the record p (nil for none).
func liveRecord(p *memToken, rest [24]byte, now int64) bool {
	return p != nil && !p.linkUsed && p.expires > now && subtle.ConstantTimeCompare(p.rest[:], rest[:]) == 1
}

// takeLive consumes the link of the live token key (see live). The shard
// must be locked.
func (s *memShard) takeLive(key uint64) *Token {
	p, slot := s.lookup(key)
	return s.takeAt(key, p, slot)
}

// takeAt is takeLive of the record p at slot, as lookup returned them.
func (s *memShard) takeAt(key uint64, p *memToken, slot uint32) *Token {
	if p.hasCode && !p.codeDead {
		p.linkUsed = true
		return s.unpack(key, *p)
	}
	return s.unpack(key, s.removeAt(key, slot))
}

// ConsumeToken implements Tokens.
func (m *Memory) ConsumeToken(ctx context.Context, hash Digest) (*Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return m.consumeToken(hash, m.clock().UnixNano())
}

// ConsumeTokenAt implements TokensAt.
func (m *Memory) ConsumeTokenAt(ctx context.Context, hash Digest, now time.Time) (*Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return m.consumeToken(hash, m.at(now))
}

func (m *Memory) consumeToken(hash Digest, now int64) (*Token, error) {
	key, rest := splitDigest(hash)
	if t := m.take(key, rest, now); t != nil {
		return t, nil
	}
	return nil, ErrNotFound
}

// PeekToken implements TokenPeeker.
func (m *Memory) PeekToken(ctx context.Context, hash Digest) (*Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key, rest := splitDigest(hash)
	now := m.clock().UnixNano()
	s := m.tokenShard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.get(key)
	if p == nil || p.linkUsed || p.expires <= now || subtle.ConstantTimeCompare(p.rest[:], rest[:]) != 1 {
		return nil, ErrNotFound
	}
	return s.unpack(key, *p), nil
}

// ConsumeCode implements Tokens.
func (m *Memory) ConsumeCode(ctx context.Context, email string, mac Digest, maxTries int) (*Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := m.clock().UnixNano()
	cs, ck := m.codeShard(email)
	cs.mu.Lock()
	key, ok := cs.codes[ck]
	cs.mu.Unlock()
	if !ok {
		return nil, ErrNotFound
	}
	s := m.tokenShard(key)
	s.mu.Lock()
	t := s.get(key)
	if t == nil || !t.hasCode || t.codeDead || t.expires <= now || tokenEmail(*t) != email {
		s.mu.Unlock()
		m.dropCode(email, key)
		return nil, ErrNotFound
	}
	if subtle.ConstantTimeCompare(t.mac[:], mac[:]) != 1 {
		// Tries are counted under the token's lock, so concurrent guesses
		// are judged exactly maxTries times in all.
		t.tries++
		dead := int(t.tries) >= maxTries
		t.codeDead = dead
		if dead && t.linkUsed {
			s.remove(key) // nothing left to use
		}
		s.mu.Unlock()
		if dead {
			m.dropCode(email, key)
		}
		return nil, ErrCodeMismatch
	}
	// The token's removal under its lock is the single point that decides
	// between the link and the code.
	out := s.unpack(key, s.remove(key))
	s.mu.Unlock()
	m.dropCode(email, key)
	return out, nil
}

func userKey(orgID, email string) string { return orgID + "\x00" + email }

// CreateUser implements Users.
func (m *Memory) CreateUser(ctx context.Context, u *User) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k := userKey(u.OrgID, u.Email)
	m.userMu.Lock()
	defer m.userMu.Unlock()
	if _, ok := m.usersByID[u.ID]; ok {
		return ErrExists
	}
	if _, ok := m.usersByMail[k]; ok {
		return ErrExists
	}
	m.usersByID[u.ID] = *u
	m.usersByMail[k] = u.ID
	return nil
}

// UserByEmail implements Users.
func (m *Memory) UserByEmail(ctx context.Context, orgID, email string) (*User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.userMu.RLock()
	defer m.userMu.RUnlock()
	id, ok := m.usersByMail[userKey(orgID, email)]
	if !ok {
		return nil, ErrNotFound
	}
	u := m.usersByID[id]
	return &u, nil
}

// UserByID implements Users.
func (m *Memory) UserByID(ctx context.Context, id string) (*User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.userMu.RLock()
	defer m.userMu.RUnlock()
	u, ok := m.usersByID[id]
	if !ok {
		return nil, ErrNotFound
	}
	return &u, nil
}

// PutCustomer implements Customers.
func (m *Memory) PutCustomer(ctx context.Context, c *Customer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.userMu.Lock()
	m.customers[c.ID] = *c
	m.userMu.Unlock()
	return nil
}

// CustomerByID implements Customers.
func (m *Memory) CustomerByID(ctx context.Context, id string) (*Customer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.userMu.RLock()
	c, ok := m.customers[id]
	m.userMu.RUnlock()
	if !ok {
		return nil, ErrNotFound
	}
	return &c, nil
}

// secondHeap is a binary min-heap of expiry seconds, one entry per
// non-empty bucket, written out to avoid container/heap's interface calls.
type secondHeap []int64

func (h *secondHeap) push(v int64) {
	*h = append(*h, v)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p] <= a[i] {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *secondHeap) pop() int64 {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	i := 0
	for {
		l, r, small := 2*i+1, 2*i+2, i
		if l < n && a[l] < a[small] {
			small = l
		}
		if r < n && a[r] < a[small] {
			small = r
		}
		if small == i {
			break
		}
		a[i], a[small] = a[small], a[i]
		i = small
	}
	*h = a
	return top
}

var _ Store = (*Memory)(nil)
