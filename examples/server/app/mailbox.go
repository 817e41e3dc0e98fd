package app

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer"
)

// linkState tells the dev mailbox what became of a mail's link, from the
// Service's own record, read without using the link: a link the store
// still holds is live; one it no longer honours before its lifetime is over
// was used, by its button or by its code; after that it expired (used or
// not: the store cannot tell by then). A store that cannot read links
// without using them shows nothing.
func (s *Server) linkState(ctx context.Context, link string, sentAt time.Time) mailer.LinkState {
	u, err := url.Parse(link)
	if err != nil {
		return mailer.LinkUnknown
	}
	_, err = s.svc.LinkEmail(ctx, u.Query().Get("token_hash"))
	switch {
	case err == nil:
		return mailer.LinkLive
	case errors.Is(err, magiclink.ErrInvalidToken) && time.Since(sentAt) < linkTTL:
		return mailer.LinkUsed
	case errors.Is(err, magiclink.ErrInvalidToken):
		return mailer.LinkExpired
	}
	return mailer.LinkUnknown
}
