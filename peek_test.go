package magiclink_test

import (
	"context"
	"errors"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/store"
)

// LinkEmail names a live link's address and leaves the link usable; a used,
// expired or malformed link is ErrInvalidToken.
func TestLinkEmail(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	l := f.link(t, "Ada@Example.com")
	for range 3 {
		if got, err := f.svc.LinkEmail(ctx, l.Token); err != nil || got != "ada@example.com" {
			t.Fatalf("LinkEmail = %q, %v; want ada@example.com", got, err)
		}
	}
	if _, err := f.svc.Verify(ctx, l.Token); err != nil {
		t.Fatalf("the link after LinkEmail: %v", err)
	}
	if _, err := f.svc.LinkEmail(ctx, l.Token); !errors.Is(err, magiclink.ErrInvalidToken) {
		t.Fatalf("LinkEmail of a used link: %v, want ErrInvalidToken", err)
	}
	if _, err := f.svc.LinkEmail(ctx, "not a token"); !errors.Is(err, magiclink.ErrInvalidToken) {
		t.Fatalf("LinkEmail of a malformed token: %v, want ErrInvalidToken", err)
	}
	old := f.link(t, "old@example.com")
	f.clock.Advance(old.ExpiresAt.Sub(f.clock.Now()))
	if _, err := f.svc.LinkEmail(ctx, old.Token); !errors.Is(err, magiclink.ErrInvalidToken) {
		t.Fatalf("LinkEmail at expiry: %v, want ErrInvalidToken", err)
	}
}

// basicStore hides the memory store's optional capabilities.
type basicStore struct{ store.Store }

// A store without TokenPeeker says so, and the link stays good.
func TestLinkEmailUnsupported(t *testing.T) {
	t.Parallel()
	var mem *store.Memory
	f := newFixture(t, func(c *magiclink.Config) {
		mem = store.NewMemory(store.WithClock(c.Clock), store.WithSweepInterval(0))
		c.Store = basicStore{mem}
	})
	t.Cleanup(func() { _ = mem.Close() })
	l := f.link(t, "ada@example.com")
	if _, err := f.svc.LinkEmail(context.Background(), l.Token); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("LinkEmail on a basic store: %v, want errors.ErrUnsupported", err)
	}
	if _, err := f.svc.Verify(context.Background(), l.Token); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}
