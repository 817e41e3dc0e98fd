// Package randid is the one generator of the random identifiers this
// module assigns (user IDs and the like).
package randid

import (
	"crypto/rand"
	"encoding/base64"
)

// New returns prefix followed by 128 random bits in unpadded base64url
// (22 characters), as in "usr_3q2-7wEjRl9Vv0bq0uPzRg".
func New(prefix string) string {
	var raw [16]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails (Go ≥ 1.24).
	return prefix + base64.RawURLEncoding.EncodeToString(raw[:])
}
