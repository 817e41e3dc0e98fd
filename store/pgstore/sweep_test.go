package pgstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store/storetest"
)

// rows counts the rows of a table of the default schema.
func (r *rig) rows(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := r.pool.QueryRow(context.Background(), "SELECT count(*) FROM magiclink."+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSweepBatches: a pass deletes every expired token, code and decayed
// limiter key, in statements of at most the batch size, and nothing live.
func TestSweepBatches(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	clock := storetest.NewClock(time.Now().Truncate(time.Microsecond))
	const batch = 10
	s := r.store(t, WithClock(clock.Now), WithSweepBatch(batch))
	ctx := context.Background()
	const expired = 35
	for i := range expired {
		tok := newToken(fmt.Sprintf("old%d@example.com", i), true, time.Minute)
		tok.CreatedAt, tok.ExpiresAt = clock.Now(), clock.Now().Add(time.Minute)
		if err := s.PutToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	// Decayed limiter keys: a TAT in the past.
	if _, err := r.pool.Exec(ctx, "INSERT INTO magiclink.rate_limits SELECT 'k' || i, 0 FROM generate_series(1, 12) i"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	live := newToken("live@example.com", true, time.Minute)
	live.CreatedAt, live.ExpiresAt = clock.Now(), clock.Now().Add(time.Minute)
	if err := s.PutToken(ctx, live); err != nil {
		t.Fatal(err)
	}

	var deleted int64
	stmts := r.stmts.count(func() {
		var err error
		if deleted, err = s.sweepOnce(); err != nil {
			t.Fatal(err)
		}
	})
	if want := int64(2*expired + 12); deleted != want {
		t.Fatalf("sweep deleted %d rows, want %d", deleted, want)
	}
	// Each table takes ⌈n/batch⌉ statements, plus one that finds fewer
	// than a batch when n is a multiple of it: tokens, codes, sessions
	// (none), limiter keys, dead letters (none).
	if want := int64(4 + 4 + 1 + 2 + 1); stmts != want {
		t.Fatalf("sweep took %d statements, want %d (batches of %d)", stmts, want, batch)
	}
	if n := r.rows(t, "tokens"); n != 1 {
		t.Fatalf("%d tokens after the sweep, want the live one", n)
	}
	if n := r.rows(t, "codes"); n != 1 {
		t.Fatalf("%d codes after the sweep, want the live one", n)
	}
	if _, err := s.ConsumeCode(ctx, live.Email, live.CodeMAC, 5); err != nil {
		t.Fatalf("the live code after the sweep: %v", err)
	}
}

// TestSweepInBackground: the sweeper runs on its own, and Close stops it
// (the race detector and the hook's channel catch a pass after Close).
func TestSweepInBackground(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	clock := storetest.NewClock(time.Now())
	passes := make(chan int64, 100)
	s, err := New(context.Background(), r.pool, WithClock(clock.Now), WithSweepInterval(time.Millisecond),
		func(o *options) { o.sweep.done = func(n int64, _ error) { passes <- n } })
	if err != nil {
		t.Fatal(err)
	}
	tok := newToken("bg@example.com", false, time.Minute)
	tok.ExpiresAt = clock.Now().Add(time.Second)
	if err := s.PutToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	for deleted := int64(0); deleted == 0; {
		select {
		case deleted = <-passes:
		case <-time.After(30 * time.Second):
			t.Fatal("no background pass deleted the expired token within 30s")
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := r.rows(t, "tokens"); n != 0 {
		t.Fatalf("%d tokens after a background pass, want 0", n)
	}
	drained := len(passes)
	for range drained {
		<-passes
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if len(passes) != 0 {
		t.Fatal("the sweeper ran after Close")
	}
}
