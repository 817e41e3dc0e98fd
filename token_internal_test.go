package magiclink

import (
	"crypto/hmac"
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
		c := newCode()
		if !validCode(c) {
			t.Fatalf("newCode returned %q", c)
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
