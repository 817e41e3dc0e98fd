package pgstore

import (
	"context"
	"fmt"
	"time"
)

// gcraSQL decides a batch of rate-limit events in one statement: the gcra
// function of the first migration locks the keys' rows in key order, reads
// the database clock, decides every event, and charges all of them or none.
const gcraSQL = `SELECT allowed, retry_after, reset_after FROM {schema}.gcra($1, $2, $3)`

// gcraEvent is one event to decide: key, emission interval T and window
// B·T, both in nanoseconds.
type gcraEvent struct {
	key            string
	interval, span int64
}

// gcraVerdict is the database's answer for one event.
type gcraVerdict struct {
	allowed    bool
	retryAfter time.Duration
	resetAfter time.Duration
}

// gcra decides events in one statement, all or nothing.
func (s *Store) gcra(ctx context.Context, events []gcraEvent) ([]gcraVerdict, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	keys := make([]string, len(events))
	intervals := make([]int64, len(events))
	spans := make([]int64, len(events))
	for i, e := range events {
		keys[i], intervals[i], spans[i] = e.key, e.interval, e.span
	}
	rows, err := s.db.query(ctx, "gcra", s.q.gcra, keys, intervals, spans)
	if err != nil {
		return nil, s.fail(ctx, "rate limit", err)
	}
	defer rows.Close()
	out := make([]gcraVerdict, 0, len(events))
	for rows.Next() {
		var v gcraVerdict
		var retry, reset int64
		if err := rows.Scan(&v.allowed, &retry, &reset); err != nil {
			return nil, s.fail(ctx, "rate limit", err)
		}
		v.retryAfter, v.resetAfter = time.Duration(retry), time.Duration(reset)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "rate limit", err)
	}
	if len(out) != len(events) {
		return nil, fmt.Errorf("pgstore: rate limit: %w: %d verdicts for %d events", errCorrupt, len(out), len(events))
	}
	return out, nil
}
