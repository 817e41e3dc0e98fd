package storetest

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/magiclink-go/magiclink/internal/conc"
	"github.com/magiclink-go/magiclink/internal/storefixture"
	"github.com/magiclink-go/magiclink/store"
)

// Codes: single use, tries, replacement, and how they share a mail with the link.

// testCodeExpiry: a code dies with its token.
func testCodeExpiry(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := t.Context()
	tok := newToken(c, "codeexp@example.com", true)
	mustPut(t, s, tok)
	c.Advance(tok.ExpiresAt.Sub(c.Now()))
	if _, err := s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ConsumeCode at expiry: got %v, want ErrNotFound", err)
	}
}

// testCodeConsumesToken: using the code consumes the link too.
func testCodeConsumesToken(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := t.Context()
	tok := newToken(c, "code@example.com", true)
	mustPut(t, s, tok)
	got, err := s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries)
	if err != nil {
		t.Fatalf("ConsumeCode with the right code: %v", err)
	}
	if got.Hash != tok.Hash {
		t.Fatalf("ConsumeCode returned token %x, want %x", got.Hash[:4], tok.Hash[:4])
	}
	if _, err := s.ConsumeToken(ctx, tok.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("link after its code was used: got %v, want ErrNotFound", err)
	}
	if _, err := s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("code used twice: got %v, want ErrNotFound", err)
	}
}

// testCodeOutlivesLink: a used link leaves its code working (a scanner pressed the button).
func testCodeOutlivesLink(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := t.Context()
	tok := newToken(c, "link@example.com", true)
	tok.UserID, tok.Next = "u_scanned", "/after"
	mustPut(t, s, tok)
	if _, err := s.ConsumeToken(ctx, tok.Hash); err != nil {
		t.Fatalf("ConsumeToken: %v", err)
	}
	got, err := s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries)
	if err != nil {
		t.Fatalf("the code after its link was used (a scanner pressed the button): %v", err)
	}
	if got.Hash != tok.Hash || got.UserID != tok.UserID || got.Next != tok.Next || got.Email != tok.Email {
		t.Fatalf("ConsumeCode after the link returned %+v, want the token's data", got)
	}
	if _, err := s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("code used twice: got %v, want ErrNotFound", err)
	}
	if _, err := s.ConsumeToken(ctx, tok.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("link used twice: got %v, want ErrNotFound", err)
	}
}

// testCodeAfterLinkStillCountsTries: wrong tries still count once the link is used.
func testCodeAfterLinkStillCountsTries(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := t.Context()
	tok := newToken(c, "linkthenguess@example.com", true)
	mustPut(t, s, tok)
	if _, err := s.ConsumeToken(ctx, tok.Hash); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= MaxTries; i++ {
		if _, err := s.ConsumeCode(ctx, tok.Email, storefixture.Digest(), MaxTries); !errors.Is(err, store.ErrCodeMismatch) {
			t.Fatalf("wrong try %d: got %v, want ErrCodeMismatch", i, err)
		}
	}
	if _, err := s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("right code after %d wrong tries: got %v, want ErrNotFound", MaxTries, err)
	}
}

// testCodeTriesLimit: the try that reaches MaxTries kills the code, not the link.
func testCodeTriesLimit(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := t.Context()
	tok := newToken(c, "tries@example.com", true)
	mustPut(t, s, tok)
	for i := 1; i < MaxTries; i++ {
		if _, err := s.ConsumeCode(ctx, tok.Email, storefixture.Digest(), MaxTries); !errors.Is(err, store.ErrCodeMismatch) {
			t.Fatalf("wrong try %d: got %v, want ErrCodeMismatch", i, err)
		}
	}
	if _, err := s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries); err != nil {
		t.Fatalf("right code after %d wrong tries: %v", MaxTries-1, err)
	}

	tok2 := newToken(c, "tries2@example.com", true)
	mustPut(t, s, tok2)
	for i := 1; i <= MaxTries; i++ {
		if _, err := s.ConsumeCode(ctx, tok2.Email, storefixture.Digest(), MaxTries); !errors.Is(err, store.ErrCodeMismatch) {
			t.Fatalf("wrong try %d: got %v, want ErrCodeMismatch", i, err)
		}
	}
	if _, err := s.ConsumeCode(ctx, tok2.Email, tok2.CodeMAC, MaxTries); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("right code after %d wrong tries: got %v, want ErrNotFound (code dead)", MaxTries, err)
	}
	if _, err := s.ConsumeToken(ctx, tok2.Hash); err != nil {
		t.Fatalf("the link must outlive its exhausted code: %v", err)
	}
}

// testConcurrentWrongCodes: 100 concurrent wrong guesses are judged exactly MaxTries times.
func testConcurrentWrongCodes(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := t.Context()
	tok := newToken(c, "guess@example.com", true)
	mustPut(t, s, tok)
	var mismatches atomic.Int32
	conc.Run(100, func(int) {
		_, err := s.ConsumeCode(ctx, tok.Email, storefixture.Digest(), MaxTries)
		switch {
		case errors.Is(err, store.ErrCodeMismatch):
			mismatches.Add(1)
		case errors.Is(err, store.ErrNotFound):
		default:
			t.Errorf("ConsumeCode: unexpected error %v", err)
		}
	})
	if mismatches.Load() != MaxTries {
		t.Fatalf("100 concurrent wrong guesses were judged %d times, want exactly %d", mismatches.Load(), MaxTries)
	}
	if _, err := s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("right code after a guessing storm: got %v, want ErrNotFound", err)
	}
}

// testNewerCodeReplacesOlder: an address's newest code is its only one; older links stay.
func testNewerCodeReplacesOlder(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := t.Context()
	first := newToken(c, "two@example.com", true)
	second := newToken(c, "two@example.com", true)
	mustPut(t, s, first)
	mustPut(t, s, second)
	if _, err := s.ConsumeCode(ctx, first.Email, first.CodeMAC, MaxTries); !errors.Is(err, store.ErrCodeMismatch) {
		t.Fatalf("superseded code: got %v, want ErrCodeMismatch", err)
	}
	got, err := s.ConsumeCode(ctx, second.Email, second.CodeMAC, MaxTries)
	if err != nil || got.Hash != second.Hash {
		t.Fatalf("newest code: got %v, %v; want the second token", got, err)
	}
	if _, err := s.ConsumeToken(ctx, first.Hash); err != nil {
		t.Fatalf("the older link stays valid: %v", err)
	}
}

// testLinkAndCodeRace: racing the link against the code signs in by the code exactly once.
func testLinkAndCodeRace(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := t.Context()
	tok := newToken(c, "both@example.com", true)
	mustPut(t, s, tok)
	var links, codes atomic.Int32
	conc.Run(100, func(i int) {
		var err error
		if i%2 == 0 {
			if _, err = s.ConsumeToken(ctx, tok.Hash); err == nil {
				links.Add(1)
			}
		} else if _, err = s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries); err == nil {
			codes.Add(1)
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unexpected error %v", err)
		}
	})
	// The code always works once; the link works at most once, and
	// only if it came before the code.
	if codes.Load() != 1 || links.Load() > 1 {
		t.Fatalf("link and code raced: %d link and %d code sign-ins, want at most 1 and exactly 1", links.Load(), codes.Load())
	}
}

// testCodeUnknownAddress: an address without a code is ErrNotFound.
func testCodeUnknownAddress(t *testing.T, f *fixture) {
	s := f.st
	ctx := t.Context()
	if _, err := s.ConsumeCode(ctx, "nobody@example.com", storefixture.Digest(), MaxTries); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ConsumeCode for an address without a code: got %v, want ErrNotFound", err)
	}
}
