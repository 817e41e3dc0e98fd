package redisstore

import (
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = rdb.Close() })
	for name, c := range map[string]struct {
		rdb  redis.UniversalClient
		opts []Option
	}{
		"nil client":        {nil, nil},
		"empty prefix":      {rdb, []Option{WithPrefix("")}},
		"prefix with brace": {rdb, []Option{WithPrefix("a{b")}},
		"prefix with space": {rdb, []Option{WithPrefix("a b")}},
		"nil clock":         {rdb, []Option{WithClock(nil)}},
		"negative timeout":  {rdb, []Option{WithTimeout(-time.Second)}},
		"nil logger":        {rdb, []Option{WithLogger(nil)}},
	} {
		if _, err := New(c.rdb, c.opts...); err == nil {
			t.Errorf("New with %s succeeded, want an error", name)
		}
	}
	// New succeeds with the server unreachable (its settings check only
	// logs that it could not be made).
	s, err := New(rdb, WithPrefix("app1"), WithTimeout(0), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatalf("New with an unreachable server: %v", err)
	}
	if got := s.tokenKey([32]byte{}); got != "app1:{0000000000000000000000000000000000000000000000000000000000000000}:t" {
		t.Fatalf("token key %q", got)
	}
}
