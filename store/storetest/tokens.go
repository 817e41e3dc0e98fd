package storetest

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/conc"
	"github.com/magiclink-go/magiclink/internal/storefixture"
	"github.com/magiclink-go/magiclink/store"
)

// Link records: round trip, single use, expiry, concurrency.

// testTokenRoundTrip: a stored token reads back field for field.
func testTokenRoundTrip(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := t.Context()
	tok := newToken(c, "round@example.com", true)
	tok.UserID, tok.OrgID, tok.Origin, tok.Next = "u_1", "org_1", "https://app.example", "/a?b=1"
	mustPut(t, s, tok)
	got, err := s.ConsumeToken(ctx, tok.Hash)
	if err != nil {
		t.Fatalf("ConsumeToken of a live token: %v", err)
	}
	if got.Hash != tok.Hash || got.UserID != tok.UserID || got.Email != tok.Email || got.OrgID != tok.OrgID ||
		got.Origin != tok.Origin || got.Next != tok.Next || got.CodeMAC != tok.CodeMAC ||
		!got.ExpiresAt.Equal(tok.ExpiresAt) || !got.CreatedAt.Equal(tok.CreatedAt) {
		t.Fatalf("ConsumeToken returned %+v, want the stored %+v", got, tok)
	}
}

// testTokenSingleUse: a link is consumed once.
func testTokenSingleUse(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := t.Context()
	tok := newToken(c, "once@example.com", false)
	mustPut(t, s, tok)
	if _, err := s.ConsumeToken(ctx, tok.Hash); err != nil {
		t.Fatalf("first ConsumeToken: %v", err)
	}
	if _, err := s.ConsumeToken(ctx, tok.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second ConsumeToken: got %v, want ErrNotFound", err)
	}
}

// testTokenUnknown: an unknown hash is ErrNotFound.
func testTokenUnknown(t *testing.T, f *fixture) {
	s := f.st
	ctx := t.Context()
	if _, err := s.ConsumeToken(ctx, storefixture.Digest()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ConsumeToken of an unknown hash: got %v, want ErrNotFound", err)
	}
}

// testTokenDuplicate: a second PutToken of one hash is ErrExists.
func testTokenDuplicate(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := t.Context()
	tok := newToken(c, "dup@example.com", false)
	mustPut(t, s, tok)
	if err := s.PutToken(ctx, tok); !errors.Is(err, store.ErrExists) {
		t.Fatalf("PutToken of an existing hash: got %v, want ErrExists", err)
	}
}

// testTokenExpiry: a link works until the clock reaches ExpiresAt, not after.
func testTokenExpiry(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := t.Context()
	tok := newToken(c, "exp@example.com", true)
	mustPut(t, s, tok)
	c.Advance(tok.ExpiresAt.Sub(c.Now()) - time.Millisecond)
	live := newToken(c, "live@example.com", false)
	live.ExpiresAt = tok.ExpiresAt
	mustPut(t, s, live)
	if _, err := s.ConsumeToken(ctx, live.Hash); err != nil {
		t.Fatalf("ConsumeToken 1ms before expiry: %v", err)
	}
	c.Advance(time.Millisecond)
	if _, err := s.ConsumeToken(ctx, tok.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ConsumeToken at expiry: got %v, want ErrNotFound", err)
	}
}

// testConcurrentConsume: of 200 concurrent consumes exactly one wins.
func testConcurrentConsume(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := t.Context()
	tok := newToken(c, "race@example.com", false)
	mustPut(t, s, tok)
	var wins, notFound atomic.Int32
	conc.Run(200, func(int) {
		_, err := s.ConsumeToken(ctx, tok.Hash)
		switch {
		case err == nil:
			wins.Add(1)
		case errors.Is(err, store.ErrNotFound):
			notFound.Add(1)
		default:
			t.Errorf("ConsumeToken: unexpected error %v", err)
		}
	})
	if wins.Load() != 1 || notFound.Load() != 199 {
		t.Fatalf("200 concurrent consumes: %d succeeded and %d not found, want 1 and 199", wins.Load(), notFound.Load())
	}
}

// testTokensAt: a store with the TokensAt capability, passed the suite's
// clock reading, stores, consumes and expires links as PutToken and
// ConsumeToken do.
func testTokensAt(t *testing.T, f *fixture) {
	ta, ok := f.st.(store.TokensAt)
	if !ok {
		t.Skip("the store does not implement store.TokensAt")
	}
	c := f.clock
	ctx := t.Context()
	tok := newToken(c, "at@example.com", true)
	tok.UserID, tok.OrgID, tok.Next = "u_at", "org_at", "/at"
	if err := ta.PutTokenAt(ctx, tok, c.Now()); err != nil {
		t.Fatalf("PutTokenAt: %v", err)
	}
	if err := ta.PutTokenAt(ctx, tok, c.Now()); !errors.Is(err, store.ErrExists) {
		t.Fatalf("PutTokenAt of an existing hash: got %v, want ErrExists", err)
	}
	got, err := ta.ConsumeTokenAt(ctx, tok.Hash, c.Now())
	if err != nil {
		t.Fatalf("ConsumeTokenAt of a live token: %v", err)
	}
	if got.Hash != tok.Hash || got.UserID != tok.UserID || got.Email != tok.Email || got.OrgID != tok.OrgID ||
		got.Next != tok.Next || got.CodeMAC != tok.CodeMAC || !got.ExpiresAt.Equal(tok.ExpiresAt) {
		t.Fatalf("ConsumeTokenAt returned %+v, want the stored %+v", got, tok)
	}
	if _, err := ta.ConsumeTokenAt(ctx, tok.Hash, c.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second ConsumeTokenAt: got %v, want ErrNotFound", err)
	}
	if _, err := f.st.ConsumeToken(ctx, tok.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ConsumeToken after ConsumeTokenAt: got %v, want ErrNotFound", err)
	}
	late := newToken(c, "late@example.com", false)
	if err := ta.PutTokenAt(ctx, late, c.Now()); err != nil {
		t.Fatalf("PutTokenAt: %v", err)
	}
	c.Advance(late.ExpiresAt.Sub(c.Now()))
	if _, err := ta.ConsumeTokenAt(ctx, late.Hash, c.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ConsumeTokenAt at expiry: got %v, want ErrNotFound", err)
	}
}
