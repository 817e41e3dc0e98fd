package storefixture_test

import (
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/storefixture"
	"github.com/magiclink-go/magiclink/store"
)

func TestDigestIsRandom(t *testing.T) {
	a, b := storefixture.Digest(), storefixture.Digest()
	if a == b || a == (store.Digest{}) {
		t.Fatalf("two digests %x and %x: want two different non-zero ones", a, b)
	}
}

func TestToken(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	plain := storefixture.Token(now, "a@example.com", false, time.Minute)
	coded := storefixture.Token(now, "a@example.com", true, time.Minute)
	if plain.Email != "a@example.com" || !plain.CreatedAt.Equal(now) || !plain.ExpiresAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("Token: %+v, want a@example.com created at %v, expiring a minute later", plain, now)
	}
	if plain.CodeMAC != (store.Digest{}) || coded.CodeMAC == (store.Digest{}) {
		t.Fatalf("Token code MACs: %x without a code, %x with one; want zero and random", plain.CodeMAC, coded.CodeMAC)
	}
	if plain.Hash == coded.Hash {
		t.Fatal("two tokens share a hash")
	}
}
