// Package outagetest is what the Redis and PostgreSQL stores' outage tests
// share: one call of each kind both stores answer (Calls), and the two
// checks made of them, that every call serves (MustServe) or that every
// call fails with store.ErrUnavailable within a bound (MustFailFast).
package outagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/storefixture"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

// Store is a store under an outage test: a magiclink store that is also
// its rate limiter.
type Store interface {
	store.Store
	ratelimit.Limiter
}

// Call is one store call on data made fresh from i; an expected not-found
// or code mismatch counts as success.
type Call func(ctx context.Context, i int) error

// Calls returns one call of each kind every store makes, by name. A store's
// test may add calls of its own to the map.
func Calls(s Store) map[string]Call {
	rate := ratelimit.Rate{Limit: 1000, Period: time.Second, Burst: 1000}
	return map[string]Call{
		"PutToken+ConsumeToken": func(ctx context.Context, i int) error {
			tok := storefixture.Token(time.Now(), fmt.Sprintf("k%d@example.com", i), true, time.Minute)
			if err := s.PutToken(ctx, tok); err != nil {
				return err
			}
			_, err := s.ConsumeToken(ctx, tok.Hash)
			return err
		},
		"ConsumeCode": func(ctx context.Context, i int) error {
			_, err := s.ConsumeCode(ctx, fmt.Sprintf("nocode%d@example.com", i), storefixture.Digest(), 5)
			return ignore(err, store.ErrNotFound)
		},
		"Allow": func(ctx context.Context, i int) error {
			_, err := s.Allow(ctx, fmt.Sprintf("ip:%d", i), rate)
			return err
		},
		"CreateUser": func(ctx context.Context, i int) error {
			id := fmt.Sprintf("u_%d_%d", i, time.Now().UnixNano())
			return s.CreateUser(ctx, &store.User{ID: id, Email: id + "@example.com"})
		},
		"UserByID": func(ctx context.Context, _ int) error {
			_, err := s.UserByID(ctx, "u_none")
			return ignore(err, store.ErrNotFound)
		},
		"PutCustomer": func(ctx context.Context, i int) error {
			return s.PutCustomer(ctx, &store.Customer{ID: fmt.Sprintf("cus_%d", i), Email: "c@example.com"})
		},
	}
}

// ignore returns nil for an error matching expected, err otherwise.
func ignore(err, expected error) error {
	if errors.Is(err, expected) {
		return nil
	}
	return err
}

// MustServe fails the test at once unless every call succeeds, each on
// data fresh for this round; when says when, for the message.
func MustServe(t testing.TB, calls map[string]Call, when string) {
	t.Helper()
	i := int(time.Now().UnixNano() % 1e9)
	for name, call := range calls {
		if err := call(context.Background(), i); err != nil {
			t.Fatalf("%s %s: %v", name, when, err)
		}
	}
}

// MustFailFast checks that every call fails with an error matching
// store.ErrUnavailable, each within bound.
func MustFailFast(t testing.TB, calls map[string]Call, bound time.Duration) {
	t.Helper()
	for name, call := range calls {
		start := time.Now()
		err := call(context.Background(), 0)
		took := time.Since(start)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with the server down: %v, want an error matching store.ErrUnavailable", name, err)
		}
		if took > bound {
			t.Errorf("%s with the server down took %v, want under %v", name, took, bound)
		}
	}
}
