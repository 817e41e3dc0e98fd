package redisstore

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink/internal/syncbuf"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/store"
)

// newLogged runs New on rdb and returns what it logged, one line a record.
func newLogged(t *testing.T, rdb redis.UniversalClient) (*Store, []string) {
	t.Helper()
	var buf syncbuf.Buffer
	s, err := New(rdb, WithPrefix(uniquePrefix()), WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	out := strings.TrimSpace(buf.String())
	if out == "" {
		return s, nil
	}
	return s, strings.Split(out, "\n")
}

// TestNewChecksDurability starts real servers with and without persistence
// and eviction and checks what New says about each: one warning naming
// every risk, or nothing.
func TestNewChecksDurability(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want []string // substrings of the one warning; nil: no log at all
	}{
		{"no persistence", nil, []string{"level=WARN", "no persistence", "a returning user would get a new ID", "appendonly yes"}},
		{"AOF", []string{"--appendonly", "yes"}, nil},
		{"RDB", []string{"--save", "3600 1"}, nil},
		{"AOF but evicting", []string{"--appendonly", "yes", "--maxmemory-policy", "allkeys-lru"},
			[]string{"level=WARN", "maxmemory-policy is allkeys-lru, not noeviction"}},
		{"neither", []string{"--maxmemory-policy", "volatile-lru"},
			[]string{"level=WARN", "no persistence", "maxmemory-policy is volatile-lru"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := testredis.StartWith(t, tc.args...)
			_, lines := newLogged(t, srv.Client(t))
			if tc.want == nil {
				if len(lines) != 0 {
					t.Fatalf("a durable, non-evicting server drew logs: %q", lines)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("want exactly one warning, got %q", lines)
			}
			for _, w := range tc.want {
				if !strings.Contains(lines[0], w) {
					t.Fatalf("warning %q lacks %q", lines[0], w)
				}
			}
		})
	}
}

// TestNewToleratesUncheckableServers: a server that refuses CONFIG (as
// managed Redis does) or cannot be reached gives a store and one info line
// that says the check was not made.
func TestNewToleratesUncheckableServers(t *testing.T) {
	t.Parallel()
	t.Run("CONFIG disabled", func(t *testing.T) {
		t.Parallel()
		srv := testredis.StartWith(t, "--rename-command", "CONFIG", "")
		s, lines := newLogged(t, srv.Client(t))
		if len(lines) != 1 || !strings.Contains(lines[0], "level=INFO") || !strings.Contains(lines[0], "refused CONFIG GET") ||
			!strings.Contains(lines[0], "noeviction") {
			t.Fatalf("logs %q; want one info line saying CONFIG GET was refused", lines)
		}
		if err := s.CreateUser(context.Background(), &store.User{ID: "u1", Email: "a@example.com"}); err != nil {
			t.Fatalf("the store does not work on that server: %v", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1})
		t.Cleanup(func() { _ = rdb.Close() })
		_, lines := newLogged(t, rdb)
		if len(lines) != 1 || !strings.Contains(lines[0], "level=INFO") || !strings.Contains(lines[0], "could not be reached") {
			t.Fatalf("logs %q; want one info line saying the server could not be reached", lines)
		}
	})
}

// TestNewChecksEveryClusterMaster: a Cluster without persistence draws one
// warning, not one per master.
func TestNewChecksEveryClusterMaster(t *testing.T) {
	t.Parallel()
	cl := testredis.StartCluster(t)
	_, lines := newLogged(t, cl.Client(t))
	if len(lines) != 1 || !strings.Contains(lines[0], "no persistence") {
		t.Fatalf("logs %q; want one warning", lines)
	}
}

// TestUsersSurviveARestartOnlyWithPersistence is what the warning is
// about: after a restart an AOF server still has the user, one without
// persistence has not.
func TestUsersSurviveARestartOnlyWithPersistence(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{
		"AOF":            {"--appendonly", "yes", "--appendfsync", "always"},
		"no persistence": nil,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			srv := testredis.StartWith(t, args...)
			rdb := srv.Client(t)
			s := newStore(t, rdb, WithLogger(slog.New(slog.DiscardHandler)))
			u, _, err := s.FindOrCreateUser(ctx, &store.User{ID: "usr_kept", Email: "kept@example.com"})
			if err != nil {
				t.Fatal(err)
			}
			srv.Restart(t)
			got, err := s.UserByEmail(ctx, "", "kept@example.com")
			if args != nil && (err != nil || got.ID != u.ID) {
				t.Fatalf("after a restart of an AOF server: %+v, %v; want user %s", got, err, u.ID)
			}
			if args == nil && err == nil {
				t.Fatalf("a server without persistence kept %+v over a restart; the test proves nothing", got)
			}
		})
	}
}
