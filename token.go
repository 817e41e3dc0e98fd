package magiclink

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"

	"github.com/magiclink-go/magiclink/store"
)

// secretLen is the size of a link secret: 256 bits, so that guessing one is
// hopeless even without rate limits.
const secretLen = 32

// encodedSecretLen is the length of a secret in unpadded base64url.
var encodedSecretLen = base64.RawURLEncoding.EncodedLen(secretLen)

// CodeLength is the number of digits of a sign-in code.
const CodeLength = 6

// MaxCodeTries is how many wrong codes a code survives: the fifth wrong try
// kills it.
const MaxCodeTries = 5

// parseSecret decodes a link secret and returns its digest. Anything that is
// not exactly a well-formed secret is rejected before the store is asked.
func parseSecret(encoded string) (store.Digest, bool) {
	if len(encoded) != encodedSecretLen {
		return store.Digest{}, false
	}
	// Decoding from a stack copy spares the heap copy []byte(encoded)
	// would make: this runs on every authenticated request.
	var enc [64]byte
	copy(enc[:], encoded)
	var raw [secretLen]byte
	n, err := base64.RawURLEncoding.Strict().Decode(raw[:], enc[:len(encoded)])
	if err != nil || n != secretLen {
		return store.Digest{}, false
	}
	return sha256.Sum256(raw[:]), true
}

// wellFormedToken reports whether s has the shape of a link token (43
// characters of unpadded base64url encoding 32 bytes). It does not say
// whether the token exists; the confirm page uses it to avoid offering a
// button for a link that cannot work, without touching the store.
func wellFormedToken(s string) bool {
	_, ok := parseSecret(s)
	return ok
}

// digestEqual compares two digests in constant time.
func digestEqual(a, b store.Digest) bool {
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// codeFrom turns 32 random bits into a uniformly random 6-digit code,
// drawing fresh bits in the rare case the first ones are rejected.
func codeFrom(b [4]byte) string {
	for {
		// Rejection sampling: 4294000000 is the largest multiple of 10^6
		// below 2^32, so every code is equally likely.
		v := binary.BigEndian.Uint32(b[:])
		if v < 4_294_000_000 {
			v %= 1_000_000
			var d [CodeLength]byte
			for i := CodeLength - 1; i >= 0; i-- {
				d[i] = byte('0' + v%10)
				v /= 10
			}
			return string(d[:])
		}
		_, _ = rand.Read(b[:])
	}
}

// validCode reports whether code is exactly six ASCII digits.
func validCode(code string) bool {
	if len(code) != CodeLength {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// macKey is an HMAC-SHA-256 key with its inner and outer pads precomputed.
type macKey struct{ ipad, opad [sha256.BlockSize]byte }

func newMACKey(key []byte) macKey {
	var k macKey
	if len(key) > sha256.BlockSize {
		sum := sha256.Sum256(key)
		key = sum[:]
	}
	copy(k.ipad[:], key)
	copy(k.opad[:], key)
	for i := range k.ipad {
		k.ipad[i] ^= 0x36
		k.opad[i] ^= 0x5c
	}
	return k
}

// codeMAC is HMAC-SHA-256(key, email ‖ 0x00 ‖ code). Binding the address
// means a stolen store dump cannot be brute-forced once for all users, and
// the key means it cannot be brute-forced at all without the server secret.
// It is computed by hand over stack buffers, which keeps the issue and
// verify paths free of the allocations of crypto/hmac; the test against
// crypto/hmac pins the result.
func codeMAC(k *macKey, email, code string) store.Digest {
	var inner [sha256.BlockSize + MaxEmailLength + 1 + CodeLength]byte
	n := copy(inner[:], k.ipad[:])
	n += copy(inner[n:], email)
	inner[n] = 0
	n++
	n += copy(inner[n:], code)
	ih := sha256.Sum256(inner[:n])
	var outer [sha256.BlockSize + sha256.Size]byte
	copy(outer[:], k.opad[:])
	copy(outer[sha256.BlockSize:], ih[:])
	return sha256.Sum256(outer[:])
}
