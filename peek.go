package magiclink

import (
	"context"
	"errors"
	"fmt"

	"github.com/magiclink-go/magiclink/store"
)

// LinkEmail returns the address a live link was issued to, without using
// the link: a confirm page shows it so that a person who was sent someone
// else's link sees whose account the button signs in to. An unknown,
// expired, used or malformed token is ErrInvalidToken. A store without the
// store.TokenPeeker capability gives an error matching errors.ErrUnsupported;
// the link is then still good for Verify.
func (s *Service) LinkEmail(ctx context.Context, token string) (string, error) {
	p, ok := s.store.(store.TokenPeeker)
	if !ok {
		return "", fmt.Errorf("magiclink: the store cannot read a link without using it: %w", errors.ErrUnsupported)
	}
	digest, ok := parseSecret(token)
	if !ok {
		return "", newError(kindInvalidToken, "", "", nil)
	}
	t, err := p.PeekToken(ctx, digest)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", newError(kindInvalidToken, "", "", nil)
		}
		return "", s.storeError(err)
	}
	if !digestEqual(t.Hash, digest) || !s.now().Before(t.ExpiresAt) {
		return "", newError(kindInvalidToken, "", "", nil)
	}
	return t.Email, nil
}
