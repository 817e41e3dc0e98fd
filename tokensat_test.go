package magiclink_test

import (
	"context"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/fakeclock"
	"github.com/magiclink-go/magiclink/store"
)

// atStore is a memory store that records the times the Service passes
// through store.TokensAt.
type atStore struct {
	*store.Memory
	puts, consumes []time.Time
	created        []time.Time
}

func (s *atStore) PutTokenAt(ctx context.Context, t *store.Token, now time.Time) error {
	s.puts, s.created = append(s.puts, now), append(s.created, t.CreatedAt)
	return s.Memory.PutTokenAt(ctx, t, now)
}

func (s *atStore) ConsumeTokenAt(ctx context.Context, hash store.Digest, now time.Time) (*store.Token, error) {
	s.consumes = append(s.consumes, now)
	return s.Memory.ConsumeTokenAt(ctx, hash, now)
}

// With the real clock, CreateLink hands the store the very reading the
// token was made with, and Verify the one it judges expiry by: one clock
// read for each, not one in the Service and another in the store.
func TestServicePassesItsClockReadingToTheStore(t *testing.T) {
	t.Parallel()
	st := &atStore{Memory: store.NewMemory(store.WithSweepInterval(0))}
	defer st.Close()
	svc, err := magiclink.New(magiclink.Config{Origins: []string{"https://app.example.com"}, Secret: testSecret, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	ctx := context.Background()
	l, err := svc.CreateLink(ctx, magiclink.LinkRequest{Email: "at@example.com", Origin: "https://app.example.com", UserID: "usr_at"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.puts) != 1 || !st.puts[0].Equal(st.created[0]) {
		t.Fatalf("PutTokenAt got times %v for tokens created at %v, want the creation time once", st.puts, st.created)
	}
	if _, err := svc.Verify(ctx, l.Token); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(st.consumes) != 1 || st.consumes[0].Before(st.puts[0]) {
		t.Fatalf("ConsumeTokenAt got times %v, want one reading after the issue at %v", st.consumes, st.puts[0])
	}
}

// With Config.Clock set, the store keeps judging by its own clock: the
// Service's clock is not the real one, so it is never passed as one.
func TestServiceWithOwnClockPassesNoTimeToTheStore(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(time.Now())
	st := &atStore{Memory: store.NewMemory(store.WithSweepInterval(0))}
	defer st.Close()
	svc, err := magiclink.New(magiclink.Config{Origins: []string{"https://app.example.com"}, Secret: testSecret, Store: st, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	ctx := context.Background()
	l, err := svc.CreateLink(ctx, magiclink.LinkRequest{Email: "own@example.com", Origin: "https://app.example.com", UserID: "usr_own"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Verify(ctx, l.Token); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(st.puts)+len(st.consumes) != 0 {
		t.Fatalf("the Service passed its fake clock's time to the store: puts %v, consumes %v", st.puts, st.consumes)
	}
}
