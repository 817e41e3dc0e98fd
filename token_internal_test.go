package magiclink

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

// TestCodeMACMatchesCryptoHMAC pins the hand-rolled HMAC to crypto/hmac.
func TestCodeMACMatchesCryptoHMAC(t *testing.T) {
	t.Parallel()
	for _, key := range [][]byte{[]byte("k"), make([]byte, 32), make([]byte, 100)} {
		k := newMACKey(key)
		for _, email := range []string{"a@example.com", "x@" + string(make([]byte, 240))} {
			m := hmac.New(sha256.New, key)
			m.Write([]byte(email + "\x00" + "123456"))
			if got := codeMAC(&k, email, "123456"); !hmac.Equal(got[:], m.Sum(nil)) {
				t.Fatalf("codeMAC differs from crypto/hmac for key len %d, email len %d", len(key), len(email))
			}
		}
	}
	k := newMACKey([]byte("k"))
	if codeMAC(&k, "a@example.com", "123456") == codeMAC(&k, "b@example.com", "123456") {
		t.Fatal("the MAC must bind the address")
	}
}

func TestNewCodeUniformDigits(t *testing.T) {
	t.Parallel()
	var counts [10]int
	for range 20000 {
		var b [4]byte
		_, _ = rand.Read(b[:])
		c := codeFrom(b)
		if !validCode(c) {
			t.Fatalf("codeFrom returned %q", c)
		}
		for i := 0; i < len(c); i++ {
			counts[c[i]-'0']++
		}
	}
	// 120000 digits, 12000 expected per digit; 5 sigma is about ±520.
	for d, n := range counts {
		if n < 11400 || n > 12600 {
			t.Fatalf("digit %d appeared %d times in 120000, far from uniform", d, n)
		}
	}
}

// TestCodeFromRejectsBiasedRange: values at or above the last multiple of
// 10^6 below 2^32 are redrawn, not folded onto low codes.
func TestCodeFromRejectsBiasedRange(t *testing.T) {
	t.Parallel()
	if c := codeFrom([4]byte{0x00, 0x0f, 0x42, 0x3f}); c != "999999" {
		t.Fatalf("codeFrom(999999) = %q", c)
	}
	// 0xFFFFFFFF is in the rejected tail: the result is a fresh valid code.
	if c := codeFrom([4]byte{0xff, 0xff, 0xff, 0xff}); !validCode(c) {
		t.Fatalf("codeFrom of a rejected value returned %q", c)
	}
}
