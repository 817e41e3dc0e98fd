package store

import (
	"context"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// within reports whether s's bytes lie inside big's.
func within(s, big string) bool {
	if len(s) == 0 {
		return false
	}
	p, b := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(big)))
	return p >= b && p < b+uintptr(len(big))
}

// A token keeps no string of its caller: an address, origin or next cut
// from a request body must not keep the whole body alive for the token's
// life.
func TestMemoryCopiesWhatItKeeps(t *testing.T) {
	t.Parallel()
	body := `{"email":"keep@example.com","callback_origin":"https://app.example.com","callback_next":"/n"}` + strings.Repeat(" ", 64<<10)
	cut := func(s string) string { i := strings.Index(body, s); return body[i : i+len(s)] }
	m := NewMemory(WithSweepInterval(0))
	defer m.Close()
	now := time.Now()
	tok := &Token{Hash: Digest{7, 1}, Email: cut("keep@example.com"), Origin: cut("https://app.example.com"), Next: cut("/n"),
		CodeMAC: Digest{1}, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	if err := m.PutToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	key, _ := splitDigest(tok.Hash)
	s := m.tokenShard(key)
	s.mu.Lock()
	rec := *s.get(key)
	tail := s.tailTab[rec.tail]
	s.mu.Unlock()
	for name, kept := range map[string]string{"record": rec.data, "origin": tail.origin, "next": tail.next} {
		if within(kept, body) {
			t.Errorf("the %s string %q points into the caller's body", name, kept)
		}
	}
	// The code index keeps no string at all, only the address's key.
	cs, ck := m.codeShard(tok.Email)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if got, ok := cs.codes[ck]; !ok || got != key {
		t.Errorf("the code index holds %x (%v) for the address, want the token's key %x", got, ok, key)
	}
}
