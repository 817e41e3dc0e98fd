package pgstore

import (
	"sync"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/fakeclock"
	"github.com/magiclink-go/magiclink/internal/outbox"
)

// A Claim that waits for new mail hands out a row accepted during its
// wait in that same call: after the notification it judges what is due by
// the clock as it reads then, not as it read before the wait, when the
// row, due from its acceptance, was not yet due. (Judged by the earlier
// reading, the Claim came back empty and the fetcher needed another.)
func TestClaimAfterNotificationReadsTheClockAgain(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	s := r.store(t)
	q := &rowQueue{s: s, name: "listen", channel: notifyChannel(s.schema, "listen"), visibility: time.Minute,
		q: newOutboxQueries(s.schema)}
	t.Cleanup(q.stopListening)

	start := time.Now().Truncate(time.Microsecond)
	clock := fakeclock.New(start)
	var once sync.Once
	waiting := make(chan struct{})
	now := func() time.Time {
		once.Do(func() { close(waiting) }) // Claim has read the clock once
		return clock.Now()
	}
	type claimed struct {
		entries []outbox.Entry
		err     error
	}
	done := make(chan claimed, 1)
	go func() {
		entries, err := q.Claim(t.Context(), 1, now, 10*time.Second)
		done <- claimed{entries, err}
	}()
	<-waiting
	accepted := start.Add(time.Second)
	clock.Set(accepted) // before the row exists, so any later reading sees it due
	if err := q.Add(t.Context(), outbox.Entry{ID: "listen-1", Accepted: accepted, Sealed: []byte("sealed")}); err != nil {
		t.Fatal(err)
	}
	got := <-done
	if got.err != nil {
		t.Fatal(got.err)
	}
	if len(got.entries) != 1 || got.entries[0].ID != "listen-1" {
		t.Fatalf("Claim handed out %+v; want the mail accepted during its wait", got.entries)
	}
}
