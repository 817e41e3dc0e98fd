package outbox

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func testSealer(t *testing.T, secret string) *Sealer {
	t.Helper()
	s, err := NewSealer([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const secretA = "0123456789abcdef0123456789abcdef-a"

func TestSealRoundTrip(t *testing.T) {
	t.Parallel()
	s := testSealer(t, secretA)
	plain := []byte("https://app.example/auth?token_hash=SECRET and code 123456")
	sealed := s.Seal("mail-1", plain)
	if bytes.Contains(sealed, []byte("SECRET")) || bytes.Contains(sealed, []byte("123456")) {
		t.Fatal("sealed payload holds the plaintext")
	}
	if sealed[0] != sealV1 {
		t.Fatalf("format byte %#x, want %#x", sealed[0], sealV1)
	}
	got, err := s.Open("mail-1", sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v; want the plaintext", got, err)
	}
	if again := s.Seal("mail-1", plain); bytes.Equal(again, sealed) {
		t.Fatal("two seals of one plaintext are equal: the nonce is not random")
	}
	// A second Sealer from the same secret (another instance) opens it.
	if _, err := testSealer(t, secretA).Open("mail-1", sealed); err != nil {
		t.Fatalf("another instance with the same secret: %v", err)
	}
}

func TestSealRejects(t *testing.T) {
	t.Parallel()
	s := testSealer(t, secretA)
	sealed := s.Seal("mail-1", []byte("payload"))
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	cases := map[string]struct {
		s      *Sealer
		id     string
		sealed []byte
	}{
		"wrong key":          {testSealer(t, secretA+"-other"), "mail-1", sealed},
		"other message ID":   {s, "mail-2", sealed},
		"tampered nonce":     {s, "mail-1", flip(1)},
		"tampered body":      {s, "mail-1", flip(1 + 12)},
		"tampered tag":       {s, "mail-1", flip(len(sealed) - 1)},
		"unknown version":    {s, "mail-1", append([]byte{0x02}, sealed[1:]...)},
		"truncated":          {s, "mail-1", sealed[:len(sealed)-1][:20]},
		"empty":              {s, "mail-1", nil},
		"appended byte":      {s, "mail-1", append(bytes.Clone(sealed), 0)},
		"version byte alone": {s, "mail-1", []byte{sealV1}},
	}
	for name, c := range cases {
		got, err := c.s.Open(c.id, c.sealed)
		if err == nil || got != nil {
			t.Errorf("%s: Open = %q, %v; want an error and nothing", name, got, err)
		}
	}
	if _, err := testSealer(t, secretA+"x").Open("mail-1", sealed); !errors.Is(err, errOpen) {
		t.Errorf("wrong key: %v, want errOpen", err)
	}
}

func TestSealerNeedsALongSecret(t *testing.T) {
	t.Parallel()
	if _, err := NewSealer([]byte(strings.Repeat("k", MinSecret-1))); err == nil {
		t.Fatal("a 31-byte secret was accepted")
	}
}

// TestSealKeyIsDerived: the sealing key is an HKDF subkey, not the secret
// itself, so a payload sealed with the raw secret as AES key does not open.
func TestSealKeyIsDerived(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	raw := rawSealer(t, secret)
	if _, err := testSealer(t, string(secret)).Open("id", raw.Seal("id", []byte("x"))); err == nil {
		t.Fatal("the raw secret is the sealing key")
	}
}
