package pgstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/storefixture"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

// The store's costs on a loopback PostgreSQL, each with the statements it
// sends per operation (stmts/op, from the pgx tracer). BenchmarkSend is a
// send's store work with a user lookup (the budget's worst case: both limit
// decisions in one batch, the lookup, the token with its code); the
// Service itself resolves no user at send time (BenchmarkServiceSend). A
// verify consumes a link; on a first sign-in it also creates the user.

func benchStore(b *testing.B) (*Store, *rig) {
	b.Helper()
	r := newRig(b)
	return r.store(b), r
}

// reportStatements reports the statements per operation since before.
func reportStatements(b *testing.B, r *rig, before int64) {
	b.ReportMetric(float64(r.stmts.n.Load()-before)/float64(b.N), "stmts/op")
}

func BenchmarkSend(b *testing.B) {
	s, r := benchStore(b)
	ctx := context.Background()
	if err := s.CreateUser(ctx, &store.User{ID: "u_bench", Email: "bench@example.com"}); err != nil {
		b.Fatal(err)
	}
	rate := ratelimit.Rate{Limit: 1_000_000_000, Period: time.Hour, Burst: 1_000_000}
	b.ReportAllocs()
	before := r.stmts.n.Load()
	i := 0
	for b.Loop() {
		i++
		email := fmt.Sprintf("bench%d@example.com", i%1024)
		reqs := []ratelimit.Request{
			{Key: fmt.Sprintf("send-ip:198.51.100.%d", i%256), Rate: rate},
			{Key: "send-email:" + email, Rate: rate},
		}
		if ds, err := s.AllowBatch(ctx, reqs); err != nil || !ds[0].Allowed || !ds[1].Allowed {
			b.Fatalf("limit: %+v, %v", ds, err)
		}
		if _, err := s.UserByEmail(ctx, "", email); err != nil && !isNotFound(err) {
			b.Fatal(err)
		}
		if err := s.PutToken(ctx, benchToken(email)); err != nil {
			b.Fatal(err)
		}
	}
	reportStatements(b, r, before)
}

func BenchmarkAllow(b *testing.B) {
	s, r := benchStore(b)
	ctx := context.Background()
	rate := ratelimit.Rate{Limit: 1_000_000_000, Period: time.Hour, Burst: 1_000_000}
	b.ReportAllocs()
	before := r.stmts.n.Load()
	i := 0
	for b.Loop() {
		if d, err := s.Allow(ctx, fmt.Sprintf("ip:198.51.100.%d", i%1024), rate); err != nil || !d.Allowed {
			b.Fatalf("Allow: %+v, %v", d, err)
		}
		i++
	}
	reportStatements(b, r, before)
}

func BenchmarkVerify(b *testing.B) {
	s, r := benchStore(b)
	ctx := context.Background()
	tokens := putTokens(b, s, "u_known")
	b.ReportAllocs()
	before := r.stmts.n.Load()
	for b.Loop() {
		if _, err := s.ConsumeToken(ctx, tokens.next()); err != nil {
			b.Fatal(err)
		}
	}
	reportStatements(b, r, before)
}

func BenchmarkVerifyFirstSignIn(b *testing.B) {
	s, r := benchStore(b)
	ctx := context.Background()
	tokens := putTokens(b, s, "")
	b.ReportAllocs()
	before := r.stmts.n.Load()
	i := 0
	for b.Loop() {
		t, err := s.ConsumeToken(ctx, tokens.next())
		if err != nil {
			b.Fatal(err)
		}
		u := &store.User{ID: fmt.Sprintf("u_%d", i), OrgID: t.OrgID, Email: t.Email, CreatedAt: time.Now()}
		if _, created, err := s.FindOrCreateUser(ctx, u); err != nil || !created {
			b.Fatalf("FindOrCreateUser: created %v, %v", created, err)
		}
		i++
	}
	reportStatements(b, r, before)
}

// BenchmarkVerifyParallel is verify throughput with the pool's connections
// all busy.
func BenchmarkVerifyParallel(b *testing.B) {
	s, r := benchStore(b)
	ctx := context.Background()
	// RunParallel cannot stop the timer: store enough up front.
	hashes := copyTokens(b, s.pool, 200_000, func(int) (store.Digest, string) { return storefixture.Digest(), "u_known" })
	var next atomic.Int64
	b.ReportAllocs()
	before := r.stmts.n.Load()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			if i >= int64(len(hashes)) {
				b.Error("out of stored tokens")
				return
			}
			if _, err := s.ConsumeToken(ctx, hashes[i]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportStatements(b, r, before)
}

// tokenSupply hands out hashes of live stored tokens, storing a batch
// with COPY, timer stopped, whenever it runs out.
type tokenSupply struct {
	b      *testing.B
	s      *Store
	userID string
	hashes []store.Digest
}

func putTokens(b *testing.B, s *Store, userID string) *tokenSupply {
	return &tokenSupply{b: b, s: s, userID: userID}
}

func (ts *tokenSupply) next() store.Digest {
	if len(ts.hashes) == 0 {
		ts.b.StopTimer()
		ts.hashes = copyTokens(ts.b, ts.s.pool, 20_000, func(i int) (store.Digest, string) {
			return storefixture.Digest(), ts.userID
		})
		ts.b.StartTimer()
	}
	h := ts.hashes[0]
	ts.hashes = ts.hashes[1:]
	return h
}

// copyTokens stores n live tokens with COPY; mk returns each one's hash
// and user ID.
func copyTokens(b *testing.B, pool *pgxpool.Pool, n int, mk func(i int) (store.Digest, string)) []store.Digest {
	b.Helper()
	hashes := make([]store.Digest, n)
	rows := make([][]any, n)
	now := time.Now()
	for i := range hashes {
		var userID string
		hashes[i], userID = mk(i)
		rows[i] = []any{hashes[i][:], userID, fmt.Sprintf("v%d-%x@example.com", i, hashes[i][:4]), "", "https://app.example", "/",
			nil, now, now.Add(time.Hour)}
	}
	if _, err := pool.CopyFrom(context.Background(), []string{"magiclink", "tokens"},
		[]string{"hash", "user_id", "email", "org_id", "origin", "next", "code_mac", "created_at", "expires_at"},
		pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	return hashes
}

func benchToken(email string) *store.Token {
	now := time.Now()
	return &store.Token{Hash: storefixture.Digest(), Email: email, Origin: "https://app.example", Next: "/",
		CodeMAC: storefixture.Digest(), CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute)}
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// highLimits never deny, so that the Service benchmarks measure the work.
func highLimits() magiclink.Limits {
	high := ratelimit.Rate{Limit: 1_000_000_000, Period: time.Hour, Burst: 1_000_000_000}
	return magiclink.Limits{SendPerIP: high, SendPerEmail: high, VerifyPerIP: high}
}

func benchService(b *testing.B, r *rig) *magiclink.Service {
	b.Helper()
	s := r.store(b)
	svc, err := magiclink.New(magiclink.Config{Origins: []string{appOrigin}, Secret: []byte(secret), Store: s, Limiter: s,
		Mailer: mailer.NewMemory(), Limits: highLimits(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = svc.Close() })
	return svc
}

// BenchmarkServiceSend is SendLink on pgstore with the limits on: what the
// handler asks of the database for one send-magic-link.
func BenchmarkServiceSend(b *testing.B) {
	r := newRig(b)
	svc := benchService(b, r)
	ctx := context.Background()
	b.ReportAllocs()
	before := r.stmts.n.Load()
	i := 0
	for b.Loop() {
		i++
		err := svc.SendLink(ctx, magiclink.SendRequest{Email: fmt.Sprintf("s%d@example.com", i%4096), CallbackOrigin: appOrigin,
			ClientIP: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})})
		if err != nil {
			b.Fatal(err)
		}
	}
	reportStatements(b, r, before)
}

// BenchmarkServiceVerify is Verify of a link on pgstore, first sign-in
// included (each link is for a new address), with the verify limit on.
func BenchmarkServiceVerify(b *testing.B) {
	r := newRig(b)
	svc := benchService(b, r)
	ctx := context.Background()
	links := &linkSupply{b: b, pool: r.pool}
	ip := netip.MustParseAddr("192.0.2.1")
	b.ReportAllocs()
	before := r.stmts.n.Load()
	for b.Loop() {
		if _, err := svc.Verify(ctx, links.next(), magiclink.WithClientIP(ip)); err != nil {
			b.Fatal(err)
		}
	}
	reportStatements(b, r, before)
}

// linkSupply hands out live links for new addresses, as a mail would
// carry them, storing a batch (timer stopped) whenever it runs out.
type linkSupply struct {
	b      *testing.B
	pool   *pgxpool.Pool
	tokens []string
}

func (ls *linkSupply) next() string {
	if len(ls.tokens) == 0 {
		ls.b.StopTimer()
		copyTokens(ls.b, ls.pool, 20_000, func(int) (store.Digest, string) {
			var raw [32]byte
			_, _ = rand.Read(raw[:])
			ls.tokens = append(ls.tokens, base64.RawURLEncoding.EncodeToString(raw[:]))
			return sha256.Sum256(raw[:]), ""
		})
		ls.b.StartTimer()
	}
	t := ls.tokens[0]
	ls.tokens = ls.tokens[1:]
	return t
}
