package store

import (
	"context"
	"crypto/subtle"
	"fmt"
	"hash/maphash"
	"sync"
	"time"
)

// Memory is the embedded in-memory Store. It is sharded so that concurrent
// sign-ins rarely contend on one lock, bounded (PutToken returns ErrFull past
// MaxTokens), and sweeps expired tokens in time proportional to the number
// that expired: each shard keeps its tokens in a min-heap by expiry, so a
// sweep pops only what is due and never scans live records.
//
// Memory is for single-process deployments and tests; several instances of a
// server need a shared store such as store/redisstore.
type Memory struct {
	clock     func() time.Time
	maxTokens int
	seed      maphash.Seed
	shards    []memShard

	userMu      sync.RWMutex
	usersByID   map[string]User
	usersByMail map[string]string // orgID + "\x00" + email → ID
	customers   map[string]Customer

	sweepEvery time.Duration
	stop       chan struct{}
	done       chan struct{}
	closeOnce  sync.Once
}

type memShard struct {
	mu     sync.Mutex
	tokens map[Digest]Token
	codes  map[string]memCode
	expiry expiryHeap
	count  int
}

type memCode struct {
	mac   Digest
	token Digest
	tries int
	exp   int64
}

// MemoryOption configures NewMemory.
type MemoryOption func(*Memory)

// WithClock sets the clock used to judge expiry (default time.Now).
func WithClock(now func() time.Time) MemoryOption {
	return func(m *Memory) { m.clock = now }
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

const memShards = 64

// NewMemory returns an empty in-memory store. Call Close to stop its sweeper.
func NewMemory(opts ...MemoryOption) *Memory {
	m := &Memory{
		clock:       time.Now,
		maxTokens:   4_000_000,
		sweepEvery:  time.Minute,
		seed:        maphash.MakeSeed(),
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
		m.shards[i].tokens = make(map[Digest]Token)
		m.shards[i].codes = make(map[string]memCode)
	}
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

// Sweep removes every token and code that has expired and returns how many
// tokens it removed. Its cost is proportional to that number.
func (m *Memory) Sweep() int {
	now := m.clock().UnixNano()
	removed := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for len(s.expiry) > 0 && s.expiry[0].exp <= now {
			it := s.expiry.pop()
			if it.code {
				if c, ok := s.codes[it.email]; ok && c.exp <= now {
					delete(s.codes, it.email)
				}
				continue
			}
			if t, ok := s.tokens[it.hash]; ok && t.ExpiresAt.UnixNano() <= now {
				delete(s.tokens, it.hash)
				s.count--
				removed++
			}
		}
		s.mu.Unlock()
	}
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

func (m *Memory) tokenShard(h Digest) *memShard {
	// The digest is uniformly random already; its first byte picks a shard.
	return &m.shards[int(h[0])%len(m.shards)]
}

func (m *Memory) codeShard(email string) *memShard {
	return &m.shards[maphash.String(m.seed, email)%uint64(len(m.shards))]
}

// PutToken implements Tokens.
func (m *Memory) PutToken(ctx context.Context, t *Token) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	exp := t.ExpiresAt.UnixNano()
	if exp <= m.clock().UnixNano() {
		return fmt.Errorf("store: token already expired")
	}
	s := m.tokenShard(t.Hash)
	s.mu.Lock()
	if _, ok := s.tokens[t.Hash]; ok {
		s.mu.Unlock()
		return ErrExists
	}
	if s.count >= (m.maxTokens+len(m.shards)-1)/len(m.shards) {
		s.mu.Unlock()
		return ErrFull
	}
	s.tokens[t.Hash] = *t
	s.count++
	s.expiry.push(expiryItem{exp: exp, hash: t.Hash})
	s.mu.Unlock()

	if !t.CodeMAC.IsZero() {
		cs := m.codeShard(t.Email)
		cs.mu.Lock()
		cs.codes[t.Email] = memCode{mac: t.CodeMAC, token: t.Hash, exp: exp}
		cs.expiry.push(expiryItem{exp: exp, code: true, email: t.Email})
		cs.mu.Unlock()
	}
	return nil
}

// ConsumeToken implements Tokens.
func (m *Memory) ConsumeToken(ctx context.Context, hash Digest) (*Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := m.clock().UnixNano()
	s := m.tokenShard(hash)
	s.mu.Lock()
	t, ok := s.tokens[hash]
	if ok {
		delete(s.tokens, hash)
		s.count--
	}
	s.mu.Unlock()
	if !ok || t.ExpiresAt.UnixNano() <= now {
		return nil, ErrNotFound
	}
	return &t, nil
}

// ConsumeCode implements Tokens.
func (m *Memory) ConsumeCode(ctx context.Context, email string, mac Digest, maxTries int) (*Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := m.clock().UnixNano()
	cs := m.codeShard(email)
	cs.mu.Lock()
	c, ok := cs.codes[email]
	if !ok || c.exp <= now {
		if ok {
			delete(cs.codes, email)
		}
		cs.mu.Unlock()
		return nil, ErrNotFound
	}
	if subtle.ConstantTimeCompare(c.mac[:], mac[:]) != 1 {
		c.tries++
		if c.tries >= maxTries {
			delete(cs.codes, email)
		} else {
			cs.codes[email] = c
		}
		cs.mu.Unlock()
		return nil, ErrCodeMismatch
	}
	delete(cs.codes, email)
	cs.mu.Unlock()
	// The token consumption is the single point that decides between the
	// link and the code: whichever removes the token first wins.
	return m.ConsumeToken(ctx, c.token)
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

// expiryItem is one heap entry: a token hash or a code's e-mail address,
// due at exp (Unix nanoseconds). Entries for records already consumed stay
// until due and are then skipped, which keeps consumption O(1).
type expiryItem struct {
	exp   int64
	hash  Digest
	code  bool
	email string
}

// expiryHeap is a binary min-heap on exp, written out to avoid the interface
// conversions of container/heap on every push.
type expiryHeap []expiryItem

func (h *expiryHeap) push(it expiryItem) {
	*h = append(*h, it)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].exp <= a[i].exp {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *expiryHeap) pop() expiryItem {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a[n] = expiryItem{}
	a = a[:n]
	i := 0
	for {
		l, r, small := 2*i+1, 2*i+2, i
		if l < n && a[l].exp < a[small].exp {
			small = l
		}
		if r < n && a[r].exp < a[small].exp {
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
