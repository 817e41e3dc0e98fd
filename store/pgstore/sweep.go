package pgstore

import (
	"context"
	"time"
)

// sweepConfig is how the background sweeper runs.
type sweepConfig struct {
	interval time.Duration
	batch    int
	// done, when set (by tests), is called after every pass.
	done func(deleted int64, err error)
}

// The sweeping statements delete at most $2 expired rows each. The outer
// condition is checked again on the row it locks, so a code that PutToken
// renewed meanwhile survives; rows locked by a live operation are skipped
// and left for the next pass.
const (
	sweepTokensSQL = `
DELETE FROM {schema}.tokens WHERE hash IN (
    SELECT hash FROM {schema}.tokens WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED
) AND expires_at <= $1`
	sweepCodesSQL = `
DELETE FROM {schema}.codes WHERE email IN (
    SELECT email FROM {schema}.codes WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED
) AND expires_at <= $1`
	// A key whose TAT has passed is back to its full burst, exactly like
	// a key without a row; the database clock judges it.
	sweepLimitsSQL = `
WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000000000)::bigint AS ns)
DELETE FROM {schema}.rate_limits WHERE key IN (
    SELECT key FROM {schema}.rate_limits, now WHERE tat <= now.ns LIMIT $1 FOR UPDATE SKIP LOCKED
) AND tat <= (SELECT ns FROM now)`
)

// sweepLoop runs sweepOnce every interval until Close.
func (s *Store) sweepLoop() {
	defer close(s.stopped)
	tick := time.NewTicker(s.sweep.interval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		n, err := s.sweepOnce()
		select {
		case <-s.stop:
			return // Close interrupted the pass; its error says only that
		default:
		}
		if err != nil {
			s.log.Warn("pgstore: deleting expired rows failed; will retry", "error", err)
		}
		if s.sweep.done != nil {
			s.sweep.done(n, err)
		}
	}
}

// sweepOnce deletes expired tokens, codes and sessions (revoked ones
// included), decayed rate-limit keys and dead letters beyond the cap,
// in batches of at most sweep.batch rows, until none are left or Close is
// called, and returns how many rows it deleted.
func (s *Store) sweepOnce() (int64, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Close interrupts a pass: the goroutine ends with the pass.
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var total int64
	now := s.clock()
	for _, step := range []struct {
		sql  string
		args []any
	}{
		{s.q.sweepTokens, []any{now, s.sweep.batch}},
		{s.q.sweepCodes, []any{now, s.sweep.batch}},
		{s.q.sweepSessions, []any{now, s.sweep.batch}},
		{s.q.sweepLimits, []any{s.sweep.batch}},
		{s.q.sweepDeadLetters, []any{deadLetterCap, s.sweep.batch}},
	} {
		for {
			n, err := s.sweepBatch(ctx, step.sql, step.args)
			total += n
			if err != nil {
				return total, err
			}
			if n < int64(s.sweep.batch) {
				break
			}
		}
	}
	return total, nil
}

// sweepBatch runs one deleting statement under the store's timeout.
func (s *Store) sweepBatch(ctx context.Context, sql string, args []any) (int64, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, sql, args...)
	if err != nil {
		return 0, s.fail(ctx, "sweep", err)
	}
	return tag.RowsAffected(), nil
}
