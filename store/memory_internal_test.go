package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestMemoryInlineTails fills one shard's intern table and checks that
// tokens past it keep their organisation, origin and next intact.
func TestMemoryInlineTails(t *testing.T) {
	t.Parallel()
	m := NewMemory(WithSweepInterval(0))
	defer m.Close()
	ctx := context.Background()
	now := time.Now()
	var toks []*Token
	for i := range maxTails + 50 {
		tok := &Token{UserID: fmt.Sprintf("usr_%d", i), Email: fmt.Sprintf("u%d@example.com", i), OrgID: fmt.Sprintf("org%d", i%3),
			Origin: "https://app.example.com", Next: fmt.Sprintf("/p/%d", i), CodeMAC: Digest{1, byte(i)}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		// Same low byte of the key: every token lands in shard 0.
		tok.Hash[7] = 0
		tok.Hash[6], tok.Hash[5] = byte(i), byte(i>>8)
		if err := m.PutToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	if n := len(m.shards[0].tailTab); n != maxTails {
		t.Fatalf("intern table holds %d tails, want the cap %d", n, maxTails)
	}
	for i, want := range toks {
		var got *Token
		var err error
		if i%2 == 0 {
			got, err = m.ConsumeToken(ctx, want.Hash)
		} else {
			got, err = m.ConsumeCode(ctx, want.Email, want.CodeMAC, 5)
		}
		if err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
		if got.UserID != want.UserID || got.Email != want.Email || got.OrgID != want.OrgID || got.Origin != want.Origin || got.Next != want.Next || got.Hash != want.Hash {
			t.Fatalf("token %d read back as %+v, want %+v", i, got, want)
		}
	}
}

// TestMemoryReleasesCodeIndex checks that expiry drops codes whose link
// was used as well as unused ones, so neither records nor index can leak.
func TestMemoryReleasesCodeIndex(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	m := NewMemory(WithClock(clock), WithSweepInterval(0))
	defer m.Close()
	ctx := context.Background()
	for i := range 300 {
		tok := &Token{Email: fmt.Sprintf("u%d@example.com", i), CodeMAC: Digest{1}, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
		tok.Hash[0], tok.Hash[1], tok.Hash[9] = byte(i), byte(i>>8), 1
		if err := m.PutToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if i < 100 {
			if _, err := m.ConsumeToken(ctx, tok.Hash); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := m.codeCount(); n != 300 {
		t.Fatalf("%d code entries after 100 of 300 links were used, want 300 (codes outlive links)", n)
	}
	now = now.Add(time.Minute)
	if n := m.Sweep(); n != 300 {
		t.Fatalf("sweep removed %d records, want 300", n)
	}
	if n := m.codeCount(); n != 0 {
		t.Fatalf("%d code entries left after every token expired, want 0", n)
	}
	if n := m.Len(); n != 0 {
		t.Fatalf("%d tokens left, want 0", n)
	}
}

func (m *Memory) codeCount() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.codes)
		s.mu.Unlock()
	}
	return n
}
