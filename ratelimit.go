package magiclink

import (
	"context"
	"hash/maphash"
	"math"
	"math/bits"
	"sync"
	"time"
)

// Rate is a rate-limit policy: Limit events per Period on average, in bursts
// of at most Burst. A zero Rate (Limit == 0) disables the limit.
type Rate struct {
	Limit  int
	Period time.Duration
	Burst  int
}

// Decision is the outcome of one rate-limit check.
type Decision struct {
	// Allowed reports whether the event may proceed.
	Allowed bool
	// Remaining is how many more events would be allowed right now.
	Remaining int
	// RetryAfter is how long to wait before the next event would be allowed;
	// zero when Allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the key is back to its full burst.
	ResetAfter time.Duration
}

// Limiter decides whether one event under key is allowed by rate r. An
// implementation must be safe for concurrent use; a decision must be atomic,
// so that N concurrent calls on one key with Burst B allow exactly B when the
// key is fresh. Keys are opaque; the Service namespaces them.
type Limiter interface {
	Allow(ctx context.Context, key string, r Rate) (Decision, error)
}

// Defaults for NewMemoryLimiter.
const (
	// DefaultLimiterMaxKeys bounds the keys a MemoryLimiter remembers. A
	// key costs a 16-byte slot in a table kept at most 7/8 full, so a
	// million keys take at most 32 MiB.
	DefaultLimiterMaxKeys = 1_000_000
	// DefaultLimiterShards is the number of independently locked shards;
	// enough that concurrent callers on a few cores rarely meet on one lock.
	DefaultLimiterShards = 256
)

const (
	// evictSample is how many keys a full shard inspects to choose a
	// victim. They are the keys found from the new key's home slot on, a
	// random sample since hashes are uniform; 8 keeps the insert cost small
	// while the victim is usually among the least restrictive quarter.
	evictSample = 8
	// minShardKeys is the smallest share of MaxKeys a shard gets; with a
	// small MaxKeys there are fewer shards rather than tiny ones.
	minShardKeys = 64
	// maxWindow bounds Burst × emission interval so that timestamp sums can
	// never overflow int64 (about 73 years of nanoseconds).
	maxWindow = int64(1) << 61
)

// MemoryLimiterOption configures NewMemoryLimiter.
type MemoryLimiterOption func(*memoryLimiterConfig)

type memoryLimiterConfig struct {
	clock         func() time.Time
	shards        int
	maxKeys       int
	sweepInterval time.Duration
}

// WithLimiterClock sets the clock the limiter reads; tests pass a fake clock.
// now is called concurrently and must be safe for that. The default reads the
// monotonic clock, so wall-clock jumps do not change decisions.
func WithLimiterClock(now func() time.Time) MemoryLimiterOption {
	return func(c *memoryLimiterConfig) { c.clock = now }
}

// WithLimiterShards sets the number of lock shards, rounded up to a power of
// two (default DefaultLimiterShards). It is lowered so that each shard's share
// of MaxKeys is at least 64 keys.
func WithLimiterShards(n int) MemoryLimiterOption {
	return func(c *memoryLimiterConfig) { c.shards = n }
}

// WithLimiterMaxKeys bounds the number of keys held in memory (default
// DefaultLimiterMaxKeys). See MemoryLimiter for what happens at the bound.
func WithLimiterMaxKeys(n int) MemoryLimiterOption {
	return func(c *memoryLimiterConfig) { c.maxKeys = n }
}

// WithLimiterSweepInterval starts a background goroutine that removes
// decayed keys every d; Close stops it. Without it (the default) decayed keys
// are removed incrementally as new keys arrive, which already keeps memory
// bounded, so the goroutine only helps return memory after a burst of keys
// followed by silence.
func WithLimiterSweepInterval(d time.Duration) MemoryLimiterOption {
	return func(c *memoryLimiterConfig) { c.sweepInterval = d }
}

// MemoryLimiter is an in-process Limiter implementing GCRA (the generic cell
// rate algorithm): each key holds a single timestamp, its theoretical arrival
// time (TAT). With emission interval T = Period/Limit and burst B (Burst, or 1
// when Burst ≤ 0), an event at time now computes
//
//	tat     = max(stored TAT, now)
//	newTat  = tat + T
//	allowAt = newTat − B·T
//
// and is denied when now < allowAt (RetryAfter = allowAt − now, ResetAfter =
// tat − now, Remaining = 0, nothing stored); otherwise newTat is stored and
// the decision has Remaining = ⌊(now − allowAt)/T⌋, ResetAfter = newTat − now.
// T is Period/Limit in whole nanoseconds, truncated, and at least one. A Rate
// with Limit 0 is disabled: every event is allowed with Remaining math.MaxInt
// and nothing is stored. Limit < 0, Period ≤ 0 with Limit > 0, or B·T beyond
// about 73 years are errors matching ErrInvalidConfig.
//
// Keys are stored as a 64-bit hash under a random per-limiter seed, never as
// strings: two keys share state only if their hashes collide, which for n
// keys happens with probability about n²/2⁶⁵ (3·10⁻⁸ at a million keys) and
// cannot be steered by a client that does not know the seed.
//
// Memory bound: at most MaxKeys keys are held, 16 bytes each in tables kept
// at most 7/8 full (32 MiB at the default million). The bound is split evenly
// over the shards, so the usable total can be up to Shards−1 keys lower. A
// key whose TAT is not after now carries no information — it behaves exactly
// like an unknown key — so decayed keys may be deleted at any time. They are
// left in place while there is room (updating a key in place is cheaper than
// re-inserting it), and removed when a shard reaches its share: by a full
// sweep of the shard if at least half its size in keys arrived since the
// last one (so the sweep is O(1) per insert amortised), or else by the
// eviction below. Sweep and WithLimiterSweepInterval remove them on demand.
//
// When a new key arrives at a shard full of live keys, the limiter evicts the
// key with the smallest TAT — the one closest to its full burst, hence the
// least restrictive — among a random sample of evictSample (8) keys of that
// shard. Evicting a key resets it to a full burst. A key is therefore only
// evicted in favour of keys that are all at least as limited as it is, so an
// attacker who keeps more than MaxKeys distinct keys live can only relax the
// limits of the least-limited keys, by at most what they had left to refill;
// a key being limited hard outlives any flood of fresh keys, no new key is
// ever denied for lack of room, and memory never grows past the bound.
//
// A MemoryLimiter is safe for concurrent use. Decisions for existing keys do
// not allocate.
type MemoryLimiter struct {
	shards  []limiterShard
	mask    uint64
	seed    maphash.Seed
	perCap  int
	clock   func() time.Time
	base    time.Time
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// limiterShard is padded to its own cache lines so that two cores working on
// neighbouring shards do not invalidate each other's lock word.
type limiterShard struct {
	mu sync.Mutex
	// tab maps a key's 64-bit hash to its TAT in nanoseconds since the
	// limiter's base time.
	tab tatTable
	// inserts counts new keys since the last full sweep of this shard.
	inserts int
	_       [8]byte // 64 bytes in all
}

// NewMemoryLimiter returns a MemoryLimiter. Call Close when done with it if
// WithLimiterSweepInterval was used; Close is harmless otherwise.
func NewMemoryLimiter(opts ...MemoryLimiterOption) *MemoryLimiter {
	cfg := memoryLimiterConfig{shards: DefaultLimiterShards, maxKeys: DefaultLimiterMaxKeys}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxKeys <= 0 {
		cfg.maxKeys = DefaultLimiterMaxKeys
	}
	n := 1
	for n < cfg.shards && n < 1<<16 {
		n <<= 1
	}
	// A shard must hold enough keys for the eviction sample to be a sample:
	// in a shard of one key, every new key would evict a limited one.
	for n > 1 && cfg.maxKeys/n < minShardKeys {
		n >>= 1
	}
	l := &MemoryLimiter{
		shards: make([]limiterShard, n),
		mask:   uint64(n - 1),
		seed:   maphash.MakeSeed(),
		perCap: cfg.maxKeys / n,
		clock:  cfg.clock,
	}
	if l.clock != nil {
		l.base = l.clock()
	} else {
		l.base = time.Now()
	}
	if cfg.sweepInterval > 0 {
		l.stop = make(chan struct{})
		l.stopped = make(chan struct{})
		go l.sweepLoop(cfg.sweepInterval)
	}
	return l
}

// now returns nanoseconds since the limiter's base time. The default clock
// path uses time.Since, which reads only the monotonic clock.
func (l *MemoryLimiter) now() int64 {
	if l.clock == nil {
		return int64(time.Since(l.base))
	}
	return int64(l.clock().Sub(l.base))
}

// Allow implements Limiter. It never blocks on I/O, so ctx is not consulted.
func (l *MemoryLimiter) Allow(_ context.Context, key string, r Rate) (Decision, error) {
	if r.Limit == 0 {
		return Decision{Allowed: true, Remaining: math.MaxInt}, nil
	}
	t, b, err := gcraParams(r)
	if err != nil {
		return Decision{}, err
	}
	// The low bits of h choose the shard, the high bits the slot in it.
	h := fixHash(maphash.String(l.seed, key))
	s := &l.shards[h&l.mask]
	s.mu.Lock()
	now := l.now()
	slot := s.tab.find(h)
	tat := now
	if slot >= 0 && s.tab.slots[slot].tat > now {
		tat = s.tab.slots[slot].tat
	}
	newTat := tat + t
	allowAt := newTat - b*t
	if now < allowAt {
		s.mu.Unlock()
		return Decision{
			RetryAfter: time.Duration(allowAt - now),
			ResetAfter: time.Duration(tat - now),
		}, nil
	}
	if slot >= 0 {
		s.tab.slots[slot].tat = newTat
	} else {
		l.insert(s, h, newTat, now)
	}
	s.mu.Unlock()
	return Decision{
		Allowed:    true,
		Remaining:  int(min((now-allowAt)/t, b-1)),
		ResetAfter: time.Duration(newTat - now),
	}, nil
}

// gcraParams returns the emission interval and burst of a rate with Limit ≠ 0.
func gcraParams(r Rate) (t, b int64, err error) {
	if r.Limit < 0 {
		return 0, 0, configError("rate", "rate limit must not be negative")
	}
	if r.Period <= 0 {
		return 0, 0, configError("rate", "rate period must be positive")
	}
	t = max(int64(r.Period)/int64(r.Limit), 1)
	b = max(int64(r.Burst), 1)
	if b > maxWindow/t {
		return 0, 0, configError("rate", "rate burst × period/limit is too large")
	}
	return t, b, nil
}

// insert adds a new key to s, whose lock the caller holds, keeping the shard
// within its share of MaxKeys.
func (l *MemoryLimiter) insert(s *limiterShard, h uint64, tat, now int64) {
	if s.tab.n >= l.perCap {
		// At its share of MaxKeys. Decayed keys go first, in a full sweep
		// when enough keys arrived since the last one that its O(len) cost
		// is O(1) per insert amortised; otherwise, or if every key is live,
		// drop the least restrictive key of a sample — a decayed one when
		// the sample holds any, since its TAT is smallest.
		if s.inserts >= s.tab.n/2 {
			sweepShard(s, now)
		}
		if s.tab.n >= l.perCap {
			s.tab.evictFrom(s.tab.home(h))
		}
	}
	s.inserts++
	s.tab.insert(h, tat)
}

// sweepShard deletes every decayed key of s, whose lock the caller holds.
func sweepShard(s *limiterShard, now int64) int {
	s.inserts = 0
	return s.tab.deleteIf(func(tat int64) bool { return tat <= now })
}

// Sweep deletes every decayed key now and returns how many it deleted. The
// limiter already sweeps incrementally; Sweep is for callers that want memory
// back at a moment of their choosing.
func (l *MemoryLimiter) Sweep() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += sweepShard(s, l.now())
		s.mu.Unlock()
	}
	return n
}

// Len returns the number of keys currently held, decayed or not.
func (l *MemoryLimiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += s.tab.n
		s.mu.Unlock()
	}
	return n
}

// Close stops the background sweeper, if any. It is idempotent and the
// limiter stays usable afterwards.
func (l *MemoryLimiter) Close() error {
	l.once.Do(func() {
		if l.stop != nil {
			close(l.stop)
			<-l.stopped
		}
	})
	return nil
}

func (l *MemoryLimiter) sweepLoop(every time.Duration) {
	defer close(l.stopped)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
			l.Sweep()
		}
	}
}

// tatTable is an open-addressing hash table from key hash to TAT with linear
// probing and backward-shift deletion (no tombstones). A Go map costs three
// dependent cache misses per lookup at 100k keys (header, table, group);
// this costs one, which is most of a decision's time.
type tatTable struct {
	// slots has a power-of-two length; h == 0 marks an empty slot.
	slots []tatSlot
	// shift turns a hash into a home slot: the top bits, which are
	// independent of the low bits that chose the shard.
	shift uint
	// n is the number of keys held.
	n int
}

type tatSlot struct {
	h   uint64
	tat int64
}

// minTableSlots is the initial size of a shard's table.
const minTableSlots = 8

// fixHash keeps 0 free as the empty-slot marker.
func fixHash(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}

func (t *tatTable) home(h uint64) int { return int(h >> t.shift) }

// find returns the slot holding h, or -1.
func (t *tatTable) find(h uint64) int {
	if t.n == 0 {
		return -1
	}
	mask := len(t.slots) - 1
	for i := t.home(h); ; i = (i + 1) & mask {
		switch t.slots[i].h {
		case h:
			return i
		case 0:
			return -1
		}
	}
}

// insert adds h, which must not be present, growing the table to keep its
// load at most 7/8. Probe runs get longer than at lower loads, but four
// slots share a cache line, so a longer run costs little while a smaller
// table keeps more of the working set in cache and TLB — a lookup's cost is
// its one memory access.
func (t *tatTable) insert(h uint64, tat int64) {
	if (t.n+1)*8 > len(t.slots)*7 {
		t.grow()
	}
	mask := len(t.slots) - 1
	i := t.home(h)
	for t.slots[i].h != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = tatSlot{h: h, tat: tat}
	t.n++
}

func (t *tatTable) grow() {
	size := max(2*len(t.slots), minTableSlots)
	old := t.slots
	t.slots = make([]tatSlot, size)
	t.shift = uint(64 - bits.TrailingZeros(uint(size)))
	t.n = 0
	for _, s := range old {
		if s.h != 0 {
			t.insert(s.h, s.tat)
		}
	}
}

// deleteAt empties slot i and shifts later members of its probe run back so
// that every key stays reachable from its home slot.
func (t *tatTable) deleteAt(i int) {
	mask := len(t.slots) - 1
	for j := (i + 1) & mask; t.slots[j].h != 0; j = (j + 1) & mask {
		k := t.home(t.slots[j].h)
		// The key in j may fill the hole at i unless its home lies
		// cyclically in (i, j], where it would become unreachable.
		if (j > i && (k <= i || k > j)) || (j < i && k <= i && k > j) {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = tatSlot{}
	t.n--
}

// deleteIf deletes every key whose TAT satisfies drop and returns how many.
func (t *tatTable) deleteIf(drop func(tat int64) bool) int {
	deleted := 0
	for i := 0; i < len(t.slots); i++ {
		// deleteAt may shift another key into i, so look at i again.
		for t.slots[i].h != 0 && drop(t.slots[i].tat) {
			t.deleteAt(i)
			deleted++
		}
	}
	return deleted
}

// evictFrom deletes the key with the smallest TAT among the first
// evictSample keys found from slot start on. Keys hash uniformly, so this is
// a random sample.
func (t *tatTable) evictFrom(start int) {
	if t.n == 0 {
		return
	}
	mask := len(t.slots) - 1
	want := min(evictSample, t.n)
	victim, best, seen := -1, int64(math.MaxInt64), 0
	for i := start; seen < want; i = (i + 1) & mask {
		if t.slots[i].h == 0 {
			continue
		}
		if t.slots[i].tat < best {
			victim, best = i, t.slots[i].tat
		}
		seen++
	}
	t.deleteAt(victim)
}

// LimitRequest is one key and its rate in a batch decision.
type LimitRequest struct {
	Key  string
	Rate Rate
}

// BatchLimiter is an optional capability of a Limiter: deciding several
// keys in one round trip (the Redis store pipelines them). Each decision is
// made as by Allow, independently: a denial of one does not undo the
// others. The Service uses it for the per-IP and per-address limits of a
// send when the limiter has it.
type BatchLimiter interface {
	Limiter
	AllowBatch(ctx context.Context, reqs []LimitRequest) ([]Decision, error)
}
