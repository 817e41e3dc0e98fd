package storetest

import (
	"errors"
	"testing"

	"github.com/magiclink-go/magiclink/internal/conc"
	"github.com/magiclink-go/magiclink/internal/storefixture"
	"github.com/magiclink-go/magiclink/store"
)

// The optional TokenPeeker capability; stores without it skip these.

// peeker returns the store as a TokenPeeker or skips the test.
func peeker(t *testing.T, f *fixture) store.TokenPeeker {
	t.Helper()
	p, ok := f.st.(store.TokenPeeker)
	if !ok {
		t.Skip("storetest: this store does not implement store.TokenPeeker")
	}
	return p
}

// testPeekToken: a live link reads back field for field; an unknown,
// consumed or expired one is ErrNotFound.
func testPeekToken(t *testing.T, f *fixture) {
	p := peeker(t, f)
	ctx := t.Context()
	tok := newToken(f.clock, "peek@example.com", true)
	tok.UserID, tok.OrgID, tok.Next = "u_peek", "org_peek", "/p"
	mustPut(t, f.st, tok)
	got, err := p.PeekToken(ctx, tok.Hash)
	if err != nil {
		t.Fatalf("PeekToken of a live token: %v", err)
	}
	if got.Hash != tok.Hash || got.Email != tok.Email || got.UserID != tok.UserID || got.OrgID != tok.OrgID ||
		got.Origin != tok.Origin || got.Next != tok.Next || !got.ExpiresAt.Equal(tok.ExpiresAt) {
		t.Fatalf("PeekToken returned %+v, want the stored %+v", got, tok)
	}
	if _, err := p.PeekToken(ctx, storefixture.Digest()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PeekToken of an unknown hash: got %v, want ErrNotFound", err)
	}
	if _, err := f.st.ConsumeToken(ctx, tok.Hash); err != nil {
		t.Fatal(err)
	}
	// The record may live on for its code; its link is used all the same.
	if _, err := p.PeekToken(ctx, tok.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PeekToken of a used link: got %v, want ErrNotFound", err)
	}
	old := newToken(f.clock, "peekexp@example.com", false)
	mustPut(t, f.st, old)
	f.clock.Advance(old.ExpiresAt.Sub(f.clock.Now()))
	if _, err := p.PeekToken(ctx, old.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PeekToken at expiry: got %v, want ErrNotFound", err)
	}
}

// testPeekTokenChangesNothing: peeking many times, also concurrently, leaves
// the link and its code each usable exactly once.
func testPeekTokenChangesNothing(t *testing.T, f *fixture) {
	p := peeker(t, f)
	ctx := t.Context()
	tok := newToken(f.clock, "look@example.com", true)
	mustPut(t, f.st, tok)
	conc.Run(50, func(int) {
		if _, err := p.PeekToken(ctx, tok.Hash); err != nil {
			t.Errorf("PeekToken: %v", err)
		}
	})
	if _, err := f.st.ConsumeToken(ctx, tok.Hash); err != nil {
		t.Fatalf("the link after 50 peeks: %v", err)
	}
	if _, err := f.st.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries); err != nil {
		t.Fatalf("the code after 50 peeks: %v", err)
	}
}
