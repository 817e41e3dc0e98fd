package ratelimit

import (
	"math"
	"math/bits"
)

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
