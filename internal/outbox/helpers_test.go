package outbox

import (
	"crypto/aes"
	"crypto/cipher"
	"testing"
)

// rawSealer seals with secret itself as the AES key.
func rawSealer(t *testing.T, secret []byte) *Sealer {
	t.Helper()
	block, err := aes.NewCipher(secret)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return &Sealer{aead: aead}
}
