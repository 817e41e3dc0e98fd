package outbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// sealInfo is the HKDF label of the sealing key. It is unique to this use,
// so the subkey is independent of every other key derived from the same
// server secret.
const sealInfo = "magiclink mailer outbox payload seal v1"

// sealV1 is the format byte of a sealed payload: v1 || nonce || ciphertext
// || tag, AES-256-GCM with a random 96-bit nonce and the format byte and the
// message ID as associated data.
const sealV1 = 0x01

// MinSecret is the shortest secret NewSealer accepts.
const MinSecret = 32

// errOpen reports a payload that does not authenticate.
var errOpen = errors.New("outbox: sealed payload does not open (wrong secret or tampered)")

// Sealer seals and opens queued payloads. It is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer derives the sealing key from secret with HKDF-SHA-256.
func NewSealer(secret []byte) (*Sealer, error) {
	if len(secret) < MinSecret {
		return nil, fmt.Errorf("outbox: secret must be at least %d bytes, got %d", MinSecret, len(secret))
	}
	key, err := hkdf.Key(sha256.New, secret, nil, sealInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("outbox: deriving the sealing key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plain for the mail id. Binding the ID means a sealed
// payload cannot be replayed under another mail's ID.
func (s *Sealer) Seal(id string, plain []byte) []byte {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plain)+s.aead.Overhead())
	out[0] = sealV1
	_, _ = rand.Read(out[1 : 1+ns]) // crypto/rand.Read never fails
	return s.aead.Seal(out, out[1:1+ns], plain, associated(id))
}

// Open decrypts a payload sealed for id.
func (s *Sealer) Open(id string, sealed []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() {
		return nil, fmt.Errorf("outbox: sealed payload too short (%d bytes)", len(sealed))
	}
	if sealed[0] != sealV1 {
		return nil, fmt.Errorf("outbox: unknown sealed payload version %d", sealed[0])
	}
	plain, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], associated(id))
	if err != nil {
		return nil, errOpen
	}
	return plain, nil
}

func associated(id string) []byte {
	ad := make([]byte, 0, 1+len(id))
	ad = append(ad, sealV1)
	return append(ad, id...)
}
