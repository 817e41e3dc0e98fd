package redisstore

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink/internal/conc"
	"github.com/magiclink-go/magiclink/internal/storefixture"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

func TestConsumeTokenThousandConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, testredis.Start(t).Client(t))
	tok := newToken("thousand@example.com", true, time.Minute)
	if err := s.PutToken(ctx, tok); err != nil {
		t.Fatalf("PutToken: %v", err)
	}
	var wins, notFound atomic.Int32
	conc.Run(1000, func(int) {
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
	if wins.Load() != 1 || notFound.Load() != 999 {
		t.Fatalf("1000 concurrent consumes: %d succeeded, %d not found; want 1 and 999", wins.Load(), notFound.Load())
	}
}

func TestRedisExpiresRecordsItself(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testredis.Start(t)
	raw := srv.Client(t)
	s := newStore(t, srv.Client(t))
	tok := newToken("ttl@example.com", true, 50*time.Millisecond)
	if err := s.PutToken(ctx, tok); err != nil {
		t.Fatalf("PutToken: %v", err)
	}
	keys := []string{s.tokenKey(tok.Hash), s.codeKey(tok.Email)}
	for _, k := range keys {
		// -1 would mean no TTL at all; -2 that the key is gone already,
		// which a slow machine may well see.
		pttl, err := raw.PTTL(ctx, k).Result()
		if err != nil || pttl == -1 || pttl > 50*time.Millisecond {
			t.Fatalf("PTTL %s = %v, %v; want a TTL of at most 50ms", k, pttl, err)
		}
	}
	// Poll the server until it has dropped both records on its own.
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := raw.Exists(ctx, keys...).Result()
		if err != nil {
			t.Fatalf("EXISTS: %v", err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the token and code keys still exist 5s after ExpiresAt", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testredis.Start(t).Client(t)
	var rt roundTrips
	rdb.AddHook(&rt)
	s := newStore(t, rdb)
	rate := ratelimit.Rate{Limit: 10, Period: time.Minute, Burst: 10}

	// Load every script once: the first EVALSHA of a script on a server
	// answers NOSCRIPT and go-redis falls back to EVAL.
	warm := newToken("warm@example.com", true, time.Minute)
	_ = s.PutToken(ctx, warm)
	_, _ = s.ConsumeCode(ctx, warm.Email, warm.CodeMAC, 5)
	_, _ = s.Allow(ctx, "warm", rate)
	_ = s.CreateUser(ctx, &store.User{ID: "u_warm", Email: "warm@example.com"})

	tok := newToken("rt@example.com", true, time.Minute)
	plain := newToken("rt2@example.com", false, time.Minute)
	coded := newToken("rt3@example.com", true, time.Minute)
	user := &store.User{ID: "u_rt", Email: "rt@example.com"} // CreateUser gives the ID its slot tag
	guessed := newToken("rt4@example.com", true, time.Minute)
	if err := s.PutToken(ctx, guessed); err != nil {
		t.Fatalf("PutToken: %v", err)
	}
	for _, c := range []struct {
		name string
		want int64
		call func() error
	}{
		{"PutToken with a code", 1, func() error { return s.PutToken(ctx, tok) }},
		{"PutToken without a code", 1, func() error { return s.PutToken(ctx, plain) }},
		{"PeekToken", 1, func() error { _, err := s.PeekToken(ctx, tok.Hash); return err }},
		{"ConsumeToken", 1, func() error { _, err := s.ConsumeToken(ctx, tok.Hash); return err }},
		{"PutToken", 1, func() error { return s.PutToken(ctx, coded) }},
		{"ConsumeCode", 2, func() error { _, err := s.ConsumeCode(ctx, coded.Email, coded.CodeMAC, 5); return err }},
		{"ConsumeCode with a wrong code", 1, func() error {
			_, err := s.ConsumeCode(ctx, guessed.Email, storefixture.Digest(), 5)
			if errors.Is(err, store.ErrCodeMismatch) {
				return nil
			}
			return err
		}},
		{"Allow", 1, func() error { _, err := s.Allow(ctx, "ip:192.0.2.1", rate); return err }},
		{"Allow with Limit 0", 0, func() error { _, err := s.Allow(ctx, "ip:192.0.2.1", ratelimit.Rate{}); return err }},
		{"CreateUser", 1, func() error { return s.CreateUser(ctx, user) }},
		{"UserByEmail", 1, func() error { _, err := s.UserByEmail(ctx, "", "rt@example.com"); return err }},
		{"UserByID", 1, func() error { _, err := s.UserByID(ctx, user.ID); return err }},
	} {
		var err error
		n := rt.count(func() { err = c.call() })
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if n != c.want {
			t.Errorf("%s took %d round trips, want %d", c.name, n, c.want)
		}
	}
}

func TestHostileInputs(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	raw := srv.Client(t)
	testHostileInputs(t, newStore(t, srv.Client(t)), func(ctx context.Context, pattern string) ([]string, error) {
		return raw.Keys(ctx, pattern).Result()
	})
}

func TestHostileInputsCluster(t *testing.T) {
	t.Parallel()
	cl := testredis.StartCluster(t)
	raw := cl.Client(t)
	testHostileInputs(t, newStore(t, cl.Client(t)), func(ctx context.Context, pattern string) ([]string, error) {
		var mu sync.Mutex
		var all []string
		err := raw.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			keys, err := c.Keys(ctx, pattern).Result()
			mu.Lock()
			all = append(all, keys...)
			mu.Unlock()
			return err
		})
		return all, err
	})
}

func testHostileInputs(t *testing.T, s *Store, keys func(ctx context.Context, pattern string) ([]string, error)) {
	ctx := context.Background()
	hostile := []string{
		"a{b}c@example.com",
		"}{@example.com",
		"{}@example.com",
		"line\nbreak@example.com",
		"crlf\r\n*1\r\n$4\r\nPING@example.com",
		strings.Repeat("x", 10_000) + "@example.com",
		"",
		"\x00{\x00}",
	}
	for i, email := range hostile {
		tok := newToken(email, true, time.Minute)
		if err := s.PutToken(ctx, tok); err != nil {
			t.Fatalf("PutToken for hostile address %d: %v", i, err)
		}
		got, err := s.ConsumeCode(ctx, email, tok.CodeMAC, 5)
		if err != nil || got.Email != email {
			t.Fatalf("ConsumeCode for hostile address %d: %v, %v", i, got, err)
		}
		u := &store.User{ID: email, OrgID: email, Email: email}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser with hostile ID and address %d: %v", i, err)
		}
		// CreateUser appended the slot tag of the address to the ID.
		if got, err := s.UserByEmail(ctx, email, email); err != nil || got.ID != u.ID || !strings.HasPrefix(u.ID, email) {
			t.Fatalf("UserByEmail for hostile address %d: %v, %v", i, got, err)
		}
		if got, err := s.UserByID(ctx, u.ID); err != nil || got.Email != email {
			t.Fatalf("UserByID for hostile ID %d: %v, %v", i, got, err)
		}
		if err := s.PutCustomer(ctx, &store.Customer{ID: email, Email: email}); err != nil {
			t.Fatalf("PutCustomer with hostile ID %d: %v", i, err)
		}
		r := ratelimit.Rate{Limit: 1, Period: time.Hour, Burst: 1}
		if d, err := s.Allow(ctx, email, r); err != nil || !d.Allowed {
			t.Fatalf("first Allow for hostile key %d: %+v, %v", i, d, err)
		}
		if d, err := s.Allow(ctx, email, r); err != nil || d.Allowed {
			t.Fatalf("second Allow for hostile key %d: %+v, %v; want denied", i, d, err)
		}
	}
	// Every key the store wrote has exactly one well-formed hash tag.
	wellFormed := regexp.MustCompile(`^` + s.prefix + `:\{(#[0-9a-f]{64}|[0-9a-f]{64}|[A-Za-z0-9_.:@/+=-]{1,64})\}:(t|c|ue|u|cus|rl|u:(#[0-9a-f]{64}|[A-Za-z0-9_.:@/+=-]{1,64}))$`)
	written, err := keys(ctx, s.prefix+":*")
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	if len(written) == 0 {
		t.Fatal("the store wrote no keys")
	}
	for _, k := range written {
		if !wellFormed.MatchString(k) {
			t.Errorf("key %q is not of the form prefix:{tag}:kind with a safe tag", k)
		}
	}
}

func TestIDTag(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in     string
		hashed bool
	}{
		{"u_123", false},
		{"ip:2001:db8::/64", false},
		{"email:a+b@example.com", false},
		{strings.Repeat("a", 64), false},
		{strings.Repeat("a", 65), true},
		{"", true},
		{"a{b}", true},
		{"a b", true},
		{"a\nb", true},
		{"#abc", true},
		{"ü", true},
	} {
		got := idTag(c.in)
		if hashed := strings.HasPrefix(got, "#"); hashed != c.hashed {
			t.Errorf("idTag(%q) = %q; hashed %v, want %v", c.in, got, hashed, c.hashed)
		}
	}
}

// TestDuplicatePutLeavesNoLiveCode pins what PutToken does when the token
// already exists: store.ErrExists, the code it wrote in the same round trip
// does not stay, and even in the moment before it is removed it cannot
// consume the existing link.
func TestDuplicatePutLeavesNoLiveCode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testredis.Start(t)
	raw := srv.Client(t)
	s := newStore(t, srv.Client(t))

	first := newToken("dup@example.com", true, time.Minute)
	if err := s.PutToken(ctx, first); err != nil {
		t.Fatalf("PutToken: %v", err)
	}
	again := *first
	again.CodeMAC = storefixture.Digest()
	if err := s.PutToken(ctx, &again); !errors.Is(err, store.ErrExists) {
		t.Fatalf("PutToken of an existing hash: %v, want ErrExists", err)
	}
	if n, _ := raw.Exists(ctx, s.codeKey(first.Email)).Result(); n != 0 {
		t.Fatal("the code of a PutToken that failed with ErrExists is still stored")
	}

	// Recreate the record as the failed PutToken's pipeline wrote it, as
	// it stands until its removal: using it must leave the link alone.
	if err := raw.HSet(ctx, s.codeKey(first.Email), "m", again.CodeMAC[:], "t", again.Hash[:],
		"d", encodeToken(&again), "n", 0, "e", nanos20(again.ExpiresAt)).Err(); err != nil {
		t.Fatalf("HSET: %v", err)
	}
	if _, err := s.ConsumeCode(ctx, first.Email, again.CodeMAC, 5); err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ConsumeCode with the stray code: %v", err)
	}
	if _, err := s.ConsumeToken(ctx, first.Hash); err != nil {
		t.Fatalf("a stray code consumed a link it was not issued with: %v", err)
	}
}
