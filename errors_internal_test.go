package magiclink

import "testing"

// TestSentinelsMatchKinds: the exported sentinels show the codes and
// messages that fresh errors of their kind are made with.
func TestSentinelsMatchKinds(t *testing.T) {
	for _, s := range []*Error{ErrValidation, ErrInvalidEmail, ErrOriginNotAllowed, ErrUnsafeNext, ErrInvalidToken,
		ErrInvalidCode, ErrMatchInvalid, ErrInvalidPending, ErrDeviceMismatch, ErrInvalidSession, ErrRateLimited,
		ErrStoreUnavailable, ErrMailUnavailable, ErrInvalidConfig, ErrNoMailer, ErrUserExists, ErrSecretKeyInvalid} {
		fresh := newError(s.kind, "", "", nil)
		if s.kind == kindNone || fresh.Code != s.Code || fresh.Message != s.Message || fresh.RetryAfter != s.RetryAfter {
			t.Errorf("sentinel %+v differs from a fresh error of its kind %+v", s, fresh)
		}
	}
}
