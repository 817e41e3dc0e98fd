package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"time"

	"github.com/magiclink-go/magiclink/internal/gcra"
)

// Defaults of NewMemory.
const (
	// defaultMaxKeys bounds the keys a Memory remembers. A
	// key costs a 16-byte slot in a table kept at most 7/8 full, so a
	// million keys take at most 32 MiB.
	defaultMaxKeys = 1_000_000
	// defaultShards is the number of independently locked shards;
	// enough that concurrent callers on a few cores rarely meet on one lock.
	defaultShards = 256
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
)

// Option configures NewMemory.
type Option func(*memoryConfig)

type memoryConfig struct {
	clock         func() time.Time
	shards        int
	maxKeys       int
	sweepInterval time.Duration
}

// WithClock sets the clock the limiter reads; tests pass a fake clock.
// now is called concurrently and must be safe for that. The default reads the
// monotonic clock, so wall-clock jumps do not change decisions.
func WithClock(now func() time.Time) Option {
	return func(c *memoryConfig) { c.clock = now }
}

// WithShards sets the number of lock shards, rounded up to a power of
// two (default 256). It is lowered so that each shard's share
// of MaxKeys is at least 64 keys.
func WithShards(n int) Option {
	return func(c *memoryConfig) { c.shards = n }
}

// WithMaxKeys bounds the number of keys held in memory (default
// 1,000,000). See Memory for what happens at the bound.
func WithMaxKeys(n int) Option {
	return func(c *memoryConfig) { c.maxKeys = n }
}

// WithSweepInterval starts a background goroutine that removes
// decayed keys every d; Close stops it. Without it (the default) decayed keys
// are removed incrementally as new keys arrive, which already keeps memory
// bounded, so the goroutine only helps return memory after a burst of keys
// followed by silence.
func WithSweepInterval(d time.Duration) Option {
	return func(c *memoryConfig) { c.sweepInterval = d }
}

// Memory is an in-process Limiter implementing GCRA (the generic cell
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
// about 73 years are errors matching ErrInvalidRate.
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
// eviction below. WithSweepInterval also removes them periodically.
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
// A Memory is safe for concurrent use. Decisions for existing keys do
// not allocate.
type Memory struct {
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

// NewMemory returns a Memory. Call Close when done with it if
// WithSweepInterval was used; Close is harmless otherwise.
func NewMemory(opts ...Option) *Memory {
	cfg := memoryConfig{shards: defaultShards, maxKeys: defaultMaxKeys}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxKeys <= 0 {
		cfg.maxKeys = defaultMaxKeys
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
	l := &Memory{
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
func (l *Memory) now() int64 {
	if l.clock == nil {
		return int64(time.Since(l.base))
	}
	return int64(l.clock().Sub(l.base))
}

// Allow implements Limiter. It never blocks on I/O, so ctx is not consulted.
func (l *Memory) Allow(_ context.Context, key string, r Rate) (Decision, error) {
	if r.Limit == 0 {
		return Decision{Allowed: true, Remaining: math.MaxInt}, nil
	}
	t, b, err := gcra.Params(r.Limit, r.Period, r.Burst)
	if err != nil {
		return Decision{}, fmt.Errorf("%w: %v", ErrInvalidRate, err)
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

// insert adds a new key to s, whose lock the caller holds, keeping the shard
// within its share of MaxKeys.
func (l *Memory) insert(s *limiterShard, h uint64, tat, now int64) {
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

// sweep deletes every decayed key now and returns how many it deleted; the
// background sweeper calls it.
func (l *Memory) sweep() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += sweepShard(s, l.now())
		s.mu.Unlock()
	}
	return n
}

// keys returns the number of keys currently held, decayed or not.
func (l *Memory) keys() int {
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
func (l *Memory) Close() error {
	l.once.Do(func() {
		if l.stop != nil {
			close(l.stop)
			<-l.stopped
		}
	})
	return nil
}

func (l *Memory) sweepLoop(every time.Duration) {
	defer close(l.stopped)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
			l.sweep()
		}
	}
}
