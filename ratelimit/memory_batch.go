package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"time"

	"github.com/magiclink-go/magiclink/internal/gcra"
)

// batchItem is one live request of a batch while it is decided.
type batchItem struct {
	req       int // index in the batch
	h         uint64
	t, b      int64 // emission interval and burst
	tat       int64 // max(stored TAT, now), counting earlier items on the same key
	newTat    int64
	retryFrom int64 // allowAt − now when this item alone is refused, else 0
}

// smallBatch is the size of batch the limiter decides without allocating
// its working set (a send has two limits).
const smallBatch = 4

// AllowBatch implements BatchLimiter: every shard a key of the batch lives
// in is locked (in index order, so that batches cannot deadlock), every key
// is checked, and only when all are allowed is any charged. It allocates
// only its result.
func (l *Memory) AllowBatch(_ context.Context, reqs []Request) ([]Decision, error) {
	out := make([]Decision, len(reqs))
	var itemBuf [smallBatch]batchItem
	items := itemBuf[:0]
	for i, r := range reqs {
		if r.Rate.Limit == 0 {
			continue
		}
		t, b, err := gcra.Params(r.Rate.Limit, r.Rate.Period, r.Rate.Burst)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidRate, err)
		}
		items = append(items, batchItem{req: i, h: fixHash(maphash.String(l.seed, r.Key)), t: t, b: b})
	}
	var shardBuf [smallBatch]uint64
	shards := l.lockShards(items, shardBuf[:0])
	now := l.now()
	allowed := l.check(items, now)
	if allowed {
		for _, it := range items {
			l.charge(&l.shards[it.h&l.mask], it.h, it.newTat, now)
		}
	}
	for _, i := range shards {
		l.shards[i].mu.Unlock()
	}
	fillDecisions(out, items, allowed, now)
	return out, nil
}

// lockShards locks the distinct shards of items in ascending order and
// returns their indices.
func (l *Memory) lockShards(items []batchItem, idx []uint64) []uint64 {
	for _, it := range items {
		i := it.h & l.mask
		pos := 0
		for pos < len(idx) && idx[pos] < i {
			pos++
		}
		if pos < len(idx) && idx[pos] == i {
			continue
		}
		idx = append(idx, 0)
		copy(idx[pos+1:], idx[pos:])
		idx[pos] = i
	}
	for _, i := range idx {
		l.shards[i].mu.Lock()
	}
	return idx
}

// check computes each item's TATs as Allow would, one after the other, and
// reports whether all of them are allowed. The caller holds every shard.
func (l *Memory) check(items []batchItem, now int64) bool {
	allowed := true
	for k := range items {
		it := &items[k]
		it.tat = now
		s := &l.shards[it.h&l.mask]
		if slot := s.tab.find(it.h); slot >= 0 && s.tab.slots[slot].tat > now {
			it.tat = s.tab.slots[slot].tat
		}
		for j := range k {
			if items[j].h == it.h {
				it.tat = max(it.tat, items[j].newTat)
			}
		}
		it.newTat = it.tat + it.t
		if allowAt := it.newTat - it.b*it.t; now < allowAt {
			it.retryFrom = allowAt - now
			allowed = false
		}
	}
	return allowed
}

// charge stores tat for h in s, whose lock the caller holds.
func (l *Memory) charge(s *limiterShard, h uint64, tat, now int64) {
	if slot := s.tab.find(h); slot >= 0 {
		s.tab.slots[slot].tat = tat
		return
	}
	l.insert(s, h, tat, now)
}

// fillDecisions writes the decision of every request: Allow's when the
// batch was allowed, else a refusal that says which keys refused.
func fillDecisions(out []Decision, items []batchItem, allowed bool, now int64) {
	if allowed {
		for i := range out {
			out[i] = Decision{Allowed: true, Remaining: math.MaxInt}
		}
	}
	for _, it := range items {
		if allowed {
			allowAt := it.newTat - it.b*it.t
			out[it.req] = Decision{
				Allowed:    true,
				Remaining:  int(min((now-allowAt)/it.t, it.b-1)),
				ResetAfter: time.Duration(it.newTat - now),
			}
			continue
		}
		out[it.req] = Decision{RetryAfter: time.Duration(it.retryFrom), ResetAfter: time.Duration(it.tat - now)}
	}
}
