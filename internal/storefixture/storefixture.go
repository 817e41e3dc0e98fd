// Package storefixture makes the fresh records the store tests put: a
// random digest and a sign-in token, the same for the conformance suite
// (store/storetest) and the Redis and PostgreSQL stores' own tests.
package storefixture

import (
	"crypto/rand"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// Digest returns a random digest, a hash or MAC no other record has.
func Digest() store.Digest {
	var d store.Digest
	_, _ = rand.Read(d[:])
	return d
}

// Token returns a token for email created at now and expiring ttl later,
// with a random hash and, if withCode, a random code MAC. The caller picks
// now, so that it holds no finer time than its store keeps.
func Token(now time.Time, email string, withCode bool, ttl time.Duration) *store.Token {
	t := &store.Token{Hash: Digest(), Email: email, Origin: "https://app.example", Next: "/",
		CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if withCode {
		t.CodeMAC = Digest()
	}
	return t
}
