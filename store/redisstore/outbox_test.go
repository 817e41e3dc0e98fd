package redisstore

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink/internal/syncbuf"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/outboxtest"
	"github.com/magiclink-go/magiclink/store"
)

// outboxBackend is one outbox prefix on rdb, for the conformance suite.
func outboxBackend(t *testing.T, rdb redis.UniversalClient) outboxtest.Backend {
	prefix := uniquePrefix()
	return outboxtest.Backend{
		Open: func(t *testing.T, m mailer.Mailer, o mailer.OutboxOptions) mailer.Outbox {
			ob, err := NewOutbox(rdb, m, o, WithOutboxPrefix(prefix))
			if err != nil {
				t.Fatalf("NewOutbox: %v", err)
			}
			return ob
		},
		Raw: func(t *testing.T) []byte { return rawKeys(t, rdb, prefix) },
	}
}

// rawKeys returns everything Redis holds under prefix: each key's DUMP
// (uncompressed, see uncompressedDumps) and every value read back through
// the type's own commands, except the numeric fields t and n (a random
// 6-digit code would now and then occur in a timestamp). Names that are
// not mail content — the prefix and the consumer names, which carry random
// hex — are cut out after checking that the prefix is there.
func rawKeys(t *testing.T, rdb redis.UniversalClient, prefix string) []byte {
	t.Helper()
	ctx := t.Context()
	var keys []string
	scan := func(ctx context.Context, c *redis.Client) error {
		it := c.Scan(ctx, 0, prefix+":*", 100).Iterator()
		for it.Next(ctx) {
			keys = append(keys, it.Val())
		}
		return it.Err()
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan) // the keys share a slot: one master has them all
	case *redis.Client:
		err = scan(ctx, c)
	}
	if err != nil {
		t.Fatalf("SCAN: %v", err)
	}
	var b bytes.Buffer
	for _, k := range keys {
		b.WriteString(k)
		dump, err := rdb.Dump(ctx, k).Result()
		if err != nil {
			t.Fatalf("DUMP %s: %v", k, err)
		}
		b.WriteString(dump)
		switch typ := rdb.Type(ctx, k).Val(); typ {
		case "stream":
			for _, m := range rdb.XRange(ctx, k, "-", "+").Val() {
				for f, v := range m.Values {
					if f != "t" && f != "n" {
						b.WriteString(f)
						b.WriteString(v.(string))
					}
				}
			}
		case "zset":
			for _, m := range rdb.ZRange(ctx, k, 0, -1).Val() {
				b.WriteString(m)
			}
		default:
			t.Fatalf("unexpected key %s of type %s", k, typ)
		}
	}
	raw := b.Bytes()
	if len(keys) > 0 && !bytes.Contains(raw, []byte(prefix)) {
		t.Fatalf("the raw view lacks the key prefix %s", prefix)
	}
	cut := []string{prefix}
	for _, k := range keys {
		if rdb.Type(ctx, k).Val() != "stream" {
			continue
		}
		groups, _ := rdb.XInfoGroups(ctx, k).Result()
		for _, g := range groups {
			consumers, _ := rdb.XInfoConsumers(ctx, k, g.Name).Result()
			for _, c := range consumers {
				cut = append(cut, c.Name)
			}
		}
	}
	return cutOut(raw, cut...)
}

// cutOut removes every occurrence of each of names from b.
func cutOut(b []byte, names ...string) []byte {
	for _, n := range names {
		b = bytes.ReplaceAll(b, []byte(n), nil)
	}
	return b
}

// uncompressedDumps makes DUMP write strings as they are (no LZF), so that
// a byte search of a dump finds any plaintext.
func uncompressedDumps(t *testing.T, rdb redis.UniversalClient) {
	t.Helper()
	set := func(ctx context.Context, c *redis.Client) error {
		return c.ConfigSet(ctx, "rdbcompression", "no").Err()
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(t.Context(), set)
	case *redis.Client:
		err = set(t.Context(), c)
	}
	if err != nil {
		t.Fatalf("CONFIG SET rdbcompression no: %v", err)
	}
}

func TestOutboxConformance(t *testing.T) {
	t.Parallel()
	rdb := testredis.Start(t).Client(t)
	uncompressedDumps(t, rdb)
	outboxtest.Run(t, func(t *testing.T) outboxtest.Backend { return outboxBackend(t, rdb) })
}

func TestOutboxConformanceCluster(t *testing.T) {
	t.Parallel()
	rdb := testredis.StartCluster(t).Client(t)
	uncompressedDumps(t, rdb)
	outboxtest.Run(t, func(t *testing.T) outboxtest.Backend { return outboxBackend(t, rdb) })
}

// TestOutboxSendIsOneRoundTrip: an accepted send costs one command, an
// XADD, with a reservation or without (Reserve issues none), and delivered
// mail leaves no entry behind (XDEL).
func TestOutboxSendIsOneRoundTrip(t *testing.T) {
	t.Parallel()
	rdb := testredis.Start(t).Client(t)
	calls := &markedCalls{}
	rdb.AddHook(calls)
	inbox := mailer.NewMemory()
	prefix := uniquePrefix()
	ob, err := NewOutbox(rdb, inbox, mailer.OutboxOptions{Secret: []byte(outboxtest.Secret), PollInterval: 20 * time.Millisecond},
		WithOutboxPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(t.Context(), sendMark{}, true)
	for _, to := range []string{"ada@example.com", "bob@example.com"} {
		if err := ob.Send(ctx, &mailer.Message{To: to, Subject: "s", Text: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := calls.names(); len(got) != 2 || got[0] != "xadd" || got[1] != "xadd" {
		t.Fatalf("two sends issued %v, want one XADD each", got)
	}
	// A reservation adds none: Reserve issues nothing, its commit the XADD.
	res, err := ob.Reserve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := calls.names(); len(got) != 2 {
		t.Fatalf("Reserve issued %v", got[2:])
	}
	if err := res.CommitLink(ctx, mailer.DefaultTemplates(), mailer.LinkData{To: "cy@example.com", Link: "https://app.example/x",
		Code: "123456", ExpiresAt: time.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if got := calls.names(); len(got) != 3 || got[2] != "xadd" {
		t.Fatalf("the commit issued %v, want one XADD", got[2:])
	}
	if err := ob.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if inbox.Len() != 3 {
		t.Fatalf("%d mails delivered, want 3", inbox.Len())
	}
	if l := rdb.XLen(t.Context(), prefix+":{outbox:mail}:s").Val(); l != 0 {
		t.Fatalf("%d delivered entries left in the stream, want 0", l)
	}
}

// sendMark marks the context of the calls markedCalls records.
type sendMark struct{}

// markedCalls records the commands issued with a sendMark context, so the
// outbox's own workers on the same client do not count, nor does the setup
// of a connection dialed for the send.
type markedCalls struct {
	mu    sync.Mutex
	calls []string
}

func (h *markedCalls) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *markedCalls) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if ctx.Value(sendMark{}) != nil && !handshake(cmd) {
			h.mu.Lock()
			h.calls = append(h.calls, cmd.Name())
			h.mu.Unlock()
		}
		return next(ctx, cmd)
	}
}

func (h *markedCalls) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if ctx.Value(sendMark{}) != nil && !slices.ContainsFunc(cmds, handshake) {
			h.mu.Lock()
			h.calls = append(h.calls, "pipeline:"+cmds[0].Name())
			h.mu.Unlock()
		}
		return next(ctx, cmds)
	}
}

// handshake reports the commands of a new connection's setup, which are
// not round trips of the send itself.
func handshake(cmd redis.Cmder) bool { return cmd.Name() == "hello" || cmd.Name() == "client" }

func (h *markedCalls) names() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls...)
}

// TestOutboxRedisDown: with Redis gone a send is refused with an error
// matching store.ErrUnavailable, Ping and Stats fail the same way, and
// Close still returns.
func TestOutboxRedisDown(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	rdb := fastFailClient(t, srv.Addr())
	var logs syncbuf.Buffer
	ob, err := NewOutbox(rdb, mailer.NewMemory(), mailer.OutboxOptions{Secret: []byte(outboxtest.Secret), PollInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}, WithOutboxPrefix(uniquePrefix()))
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	err = ob.Send(t.Context(), &mailer.Message{To: "ada@example.com"})
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, mailer.ErrTemporary) {
		t.Fatalf("Send with Redis down: %v, want store.ErrUnavailable and temporary", err)
	}
	if err := ob.Ping(t.Context()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := ob.Stats(t.Context()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Stats: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := ob.Close(ctx); err != nil {
		t.Fatalf("Close with Redis down: %v", err)
	}
	if out := logs.String(); strings.Count(out, "store unavailable") > 1 {
		t.Fatalf("an outage is logged once, not per poll: %q", out)
	}
}

func TestNewOutboxRejectsBadConfig(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = rdb.Close() })
	good := mailer.OutboxOptions{Secret: []byte(outboxtest.Secret)}
	for name, c := range map[string]struct {
		rdb  redis.UniversalClient
		m    mailer.Mailer
		o    mailer.OutboxOptions
		more []OutboxOption
	}{
		"nil client":   {nil, mailer.NewMemory(), good, nil},
		"nil mailer":   {rdb, nil, good, nil},
		"no secret":    {rdb, mailer.NewMemory(), mailer.OutboxOptions{}, nil},
		"short secret": {rdb, mailer.NewMemory(), mailer.OutboxOptions{Secret: []byte("short")}, nil},
		"bad name":     {rdb, mailer.NewMemory(), good, []OutboxOption{WithOutboxName("a}b")}},
		"empty name":   {rdb, mailer.NewMemory(), good, []OutboxOption{WithOutboxName("")}},
		"bad prefix":   {rdb, mailer.NewMemory(), good, []OutboxOption{WithOutboxPrefix("a b")}},
	} {
		if ob, err := NewOutbox(c.rdb, c.m, c.o, c.more...); err == nil {
			_ = ob.Close(t.Context())
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestOutboxOutages runs the suite's outage cases, each on a redis-server
// of its own that it kills and restarts, through a client that fails at
// once while the server is gone.
func TestOutboxOutages(t *testing.T) {
	t.Parallel()
	outboxtest.RunOutages(t, func(t *testing.T) outboxtest.Backend {
		srv := testredis.Start(t)
		b := outboxBackend(t, fastFailClient(t, srv.Addr()))
		b.Kill, b.Restart = srv.Stop, srv.Restart
		return b
	})
}
