package pgstore

import (
	"context"
	"fmt"
	"math"

	"github.com/magiclink-go/magiclink/internal/gcra"
	"github.com/magiclink-go/magiclink/ratelimit"
)

var _ ratelimit.BatchLimiter = (*Store)(nil)

// Allow implements ratelimit.Limiter with GCRA in one statement on the
// database clock, so every instance sharing the database enforces one
// limit. Its decisions follow ratelimit.Memory: with T = Period/Limit and
// B = Burst (1 when Burst ≤ 0),
//
//	tat = max(stored TAT, now); newTat = tat + T; allowAt = newTat − B·T
//
// now < allowAt denies (RetryAfter = allowAt − now, ResetAfter = tat − now,
// Remaining 0) and charges nothing; otherwise newTat is stored and
// Remaining = ⌊(now − allowAt)/T⌋ capped at B−1, ResetAfter = newTat − now.
// A Rate with Limit 0 allows everything without a statement. Keys may be
// any string.
func (s *Store) Allow(ctx context.Context, key string, r ratelimit.Rate) (ratelimit.Decision, error) {
	ds, err := s.AllowBatch(ctx, []ratelimit.Request{{Key: key, Rate: r}})
	if err != nil {
		return ratelimit.Decision{}, err
	}
	return ds[0], nil
}

// AllowBatch implements ratelimit.BatchLimiter: every decision in one
// statement, all or nothing. Each key is decided as by Allow; unless every
// key allows, none is charged, so a request that one limit refuses spends
// no other limit's budget. The decisions of the keys that would have
// allowed then say so (Allowed true) although they were not charged. The
// keys of one batch must be distinct.
func (s *Store) AllowBatch(ctx context.Context, reqs []ratelimit.Request) ([]ratelimit.Decision, error) {
	out := make([]ratelimit.Decision, len(reqs))
	events := make([]gcraEvent, 0, len(reqs))
	index := make([]int, 0, len(reqs)) // events[j] decides reqs[index[j]]
	seen := make(map[string]struct{}, len(reqs))
	for i, r := range reqs {
		if r.Rate.Limit == 0 {
			out[i] = ratelimit.Decision{Allowed: true, Remaining: math.MaxInt}
			continue
		}
		t, b, err := gcra.Params(r.Rate.Limit, r.Rate.Period, r.Rate.Burst)
		if err != nil {
			return nil, fmt.Errorf("pgstore: %w: %v", ratelimit.ErrInvalidRate, err)
		}
		if _, dup := seen[r.Key]; dup {
			return nil, fmt.Errorf("pgstore: rate limit: key %q twice in one batch", r.Key)
		}
		seen[r.Key] = struct{}{}
		events = append(events, gcraEvent{key: r.Key, interval: t, span: b * t})
		index = append(index, i)
	}
	if len(events) == 0 {
		return out, nil
	}
	verdicts, err := s.gcra(ctx, events)
	if err != nil {
		return nil, err
	}
	for j, v := range verdicts {
		out[index[j]] = decision(v, events[j])
	}
	return out, nil
}

// decision turns the database's verdict into a ratelimit.Decision.
func decision(v gcraVerdict, e gcraEvent) ratelimit.Decision {
	if !v.allowed {
		return ratelimit.Decision{RetryAfter: v.retryAfter, ResetAfter: v.resetAfter}
	}
	b := e.span / e.interval
	// now − allowAt = B·T − (newTat − now).
	return ratelimit.Decision{
		Allowed:    true,
		Remaining:  int(min((e.span-int64(v.resetAfter))/e.interval, b-1)),
		ResetAfter: v.resetAfter,
	}
}
