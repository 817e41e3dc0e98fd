package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/magiclink-go/magiclink/store"
)

// Canceled calls and an unreachable backend.

// testCanceledContext: a canceled call fails and consumes nothing.
func testCanceledContext(t *testing.T, f *fixture) {
	s, c := f.st, f.clock
	ctx := t.Context()
	tok := newToken(c, "ctx@example.com", true)
	mustPut(t, s, tok)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.ConsumeToken(cctx, tok.Hash); err == nil {
		t.Fatal("ConsumeToken with a canceled context succeeded")
	}
	if _, err := s.ConsumeToken(ctx, tok.Hash); err != nil {
		t.Fatalf("a canceled call must not consume the token: %v", err)
	}
}

// testUnavailable: with the backend down every call matches ErrUnavailable.
func testUnavailable(t *testing.T, f *fixture) {
	s, c, h := f.st, f.clock, f.harness
	ctx := t.Context()
	if h.Break == nil {
		t.Skip("storetest: this store cannot be made unavailable")
	}
	tok := newToken(c, "down@example.com", true)
	mustPut(t, s, tok)
	h.Break(t)
	calls := map[string]func() error{
		"PutToken":     func() error { return s.PutToken(ctx, newToken(c, "x@example.com", true)) },
		"ConsumeToken": func() error { _, err := s.ConsumeToken(ctx, tok.Hash); return err },
		"ConsumeCode":  func() error { _, err := s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries); return err },
		"CreateUser":   func() error { return s.CreateUser(ctx, &store.User{ID: "u_x", Email: "x@example.com"}) },
		"UserByEmail":  func() error { _, err := s.UserByEmail(ctx, "", "x@example.com"); return err },
		"UserByID":     func() error { _, err := s.UserByID(ctx, "u_x"); return err },
		"PutCustomer":  func() error { return s.PutCustomer(ctx, &store.Customer{ID: "c", Email: "x@example.com"}) },
		"CustomerByID": func() error { _, err := s.CustomerByID(ctx, "c"); return err },
	}
	if p, ok := s.(store.TokenPeeker); ok {
		calls["PeekToken"] = func() error { _, err := p.PeekToken(ctx, tok.Hash); return err }
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with the backend down: got %v, want an error matching ErrUnavailable", name, err)
		}
	}
}
