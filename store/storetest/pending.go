package storetest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/conc"
	"github.com/magiclink-go/magiclink/internal/storefixture"
	"github.com/magiclink-go/magiclink/store"
)

// pendingKeep is how long past its link's expiry the suite keeps a request.
const pendingKeep = 2 * time.Minute

// The optional PendingRequests capability; stores without it skip these.

// pending returns the store as PendingRequests or skips the test.
func pending(t *testing.T, f *fixture) store.PendingRequests {
	t.Helper()
	ps, ok := f.st.(store.PendingRequests)
	if !ok {
		t.Skip("storetest: this store does not implement store.PendingRequests")
	}
	return ps
}

// testPendingRoundTrip: a request reads back field for field by its cookie; by its link without the number or the cookie; a poll of a waiting request changes nothing.
func testPendingRoundTrip(t *testing.T, f *fixture) {
	ps := pending(t, f)
	ctx := t.Context()
	c := f.clock
	tok, p := putPending(t, ps, c, 42)
	got, err := ps.PendingByCookie(ctx, p.Cookie)
	if err != nil {
		t.Fatalf("PendingByCookie: %v", err)
	}
	if got.Cookie != p.Cookie || got.LinkHash != tok.Hash || got.Match != 42 || got.UserAgent != p.UserAgent ||
		got.IP != p.IP || !got.CreatedAt.Equal(p.CreatedAt) || !got.ExpiresAt.Equal(p.ExpiresAt) ||
		!got.KeepUntil.Equal(p.KeepUntil) || got.Status != store.PendingWaiting || got.Token != nil {
		t.Fatalf("PendingByCookie returned %+v, want the stored %+v", got, p)
	}
	byLink, err := ps.PendingByLink(ctx, tok.Hash)
	if err != nil {
		t.Fatalf("PendingByLink: %v", err)
	}
	if byLink.Match != 0 || !byLink.Cookie.IsZero() {
		t.Fatalf("PendingByLink handed the approving side the number %d or the cookie digest", byLink.Match)
	}
	if byLink.LinkHash != tok.Hash || byLink.UserAgent != p.UserAgent || byLink.IP != p.IP ||
		!byLink.CreatedAt.Equal(p.CreatedAt) || byLink.Status != store.PendingWaiting {
		t.Fatalf("PendingByLink returned %+v, want what asked: %+v", byLink, p)
	}
	if got, err := ps.TakeApproved(ctx, p.Cookie); err != nil || got.Status != store.PendingWaiting {
		t.Fatalf("TakeApproved of a waiting request: got %+v, %v; want it waiting, unchanged", got, err)
	}
	if _, err := ps.PendingByCookie(ctx, p.Cookie); err != nil {
		t.Fatalf("a poll of a waiting request must not remove it: %v", err)
	}
}

// testPendingApprove: the right number consumes the link and approves; the approval is taken once, with the link's token; the code still works.
func testPendingApprove(t *testing.T, f *fixture) {
	ps := pending(t, f)
	ctx := t.Context()
	s := f.st
	c := f.clock
	tok, p := putPending(t, ps, c, 7)
	got, err := ps.DecidePending(ctx, tok.Hash, 7)
	if err != nil || got.Status != store.PendingApproved || got.Match != 0 {
		t.Fatalf("DecidePending with the right number: got %+v, %v; want approved, without the number", got, err)
	}
	if _, err := s.ConsumeToken(ctx, tok.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("link after its approval: got %v, want ErrNotFound (consumed)", err)
	}
	if _, err := ps.DecidePending(ctx, tok.Hash, 7); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second approval: got %v, want ErrNotFound", err)
	}
	if got, err := ps.PendingByCookie(ctx, p.Cookie); err != nil || got.Status != store.PendingApproved || got.Token != nil {
		t.Fatalf("PendingByCookie after approval: got %+v, %v; want approved, not taken", got, err)
	}
	taken, err := ps.TakeApproved(ctx, p.Cookie)
	if err != nil || taken.Status != store.PendingApproved || taken.Token == nil {
		t.Fatalf("TakeApproved: got %+v, %v; want the approval with its token", taken, err)
	}
	if taken.Token.Hash != tok.Hash || taken.Token.Email != tok.Email || taken.Token.UserID != tok.UserID ||
		taken.Token.Next != tok.Next || taken.Token.Origin != tok.Origin {
		t.Fatalf("TakeApproved's token is %+v, want the link's %+v", taken.Token, tok)
	}
	if _, err := ps.TakeApproved(ctx, p.Cookie); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second TakeApproved: got %v, want ErrNotFound", err)
	}
	if _, err := s.ConsumeCode(ctx, tok.Email, tok.CodeMAC, MaxTries); err != nil {
		t.Fatalf("the mail's code after an approval (approval uses the link, as a click does): %v", err)
	}
}

// testPendingWrongNumberKills: a wrong number consumes the link and denies the request; there is no second try.
func testPendingWrongNumberKills(t *testing.T, f *fixture) {
	ps := pending(t, f)
	ctx := t.Context()
	s := f.st
	c := f.clock
	tok, p := putPending(t, ps, c, 0)
	got, err := ps.DecidePending(ctx, tok.Hash, 1)
	if !errors.Is(err, store.ErrMatchMismatch) || got == nil || got.Status != store.PendingDenied {
		t.Fatalf("DecidePending with a wrong number: got %+v, %v; want denied and ErrMatchMismatch", got, err)
	}
	if _, err := ps.DecidePending(ctx, tok.Hash, 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the right number after a wrong one: got %v, want ErrNotFound (one try only)", err)
	}
	if _, err := s.ConsumeToken(ctx, tok.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("link after a wrong number: got %v, want ErrNotFound (consumed)", err)
	}
	for range 2 {
		if got, err := ps.TakeApproved(ctx, p.Cookie); err != nil || got.Status != store.PendingDenied {
			t.Fatalf("the asking browser's poll after a denial: got %+v, %v; want denied", got, err)
		}
	}
	if _, err := ps.DecidePending(ctx, tok.Hash, 200); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an out-of-range number on a used link: got %v, want ErrNotFound", err)
	}
	tok2, _ := putPending(t, ps, c, 99)
	if _, err := ps.DecidePending(ctx, tok2.Hash, 199); !errors.Is(err, store.ErrMatchMismatch) {
		t.Fatalf("number 199 against 99: got %v, want ErrMatchMismatch", err)
	}
}

// testPendingNotFound: unknown cookies and links are ErrNotFound; a link without a request is ErrNoPending and stays usable.
func testPendingNotFound(t *testing.T, f *fixture) {
	ps := pending(t, f)
	ctx := t.Context()
	s := f.st
	c := f.clock
	if _, err := ps.PendingByCookie(ctx, storefixture.Digest()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PendingByCookie unknown: got %v, want ErrNotFound", err)
	}
	if _, err := ps.TakeApproved(ctx, storefixture.Digest()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TakeApproved unknown: got %v, want ErrNotFound", err)
	}
	if _, err := ps.PendingByLink(ctx, storefixture.Digest()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PendingByLink unknown: got %v, want ErrNotFound", err)
	}
	if _, err := ps.DecidePending(ctx, storefixture.Digest(), 1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DecidePending unknown: got %v, want ErrNotFound", err)
	}
	plain := newToken(c, "plain@example.com", true)
	mustPut(t, s, plain)
	if _, err := ps.PendingByLink(ctx, plain.Hash); !errors.Is(err, store.ErrNoPending) {
		t.Fatalf("PendingByLink of a link without a request: got %v, want ErrNoPending", err)
	}
	if _, err := ps.DecidePending(ctx, plain.Hash, 1); !errors.Is(err, store.ErrNoPending) {
		t.Fatalf("DecidePending of a link without a request: got %v, want ErrNoPending", err)
	}
	if _, err := s.ConsumeToken(ctx, plain.Hash); err != nil {
		t.Fatalf("a refused approval must leave the link usable: %v", err)
	}
}

// testPendingBadInput: PutTokenPending refuses malformed requests and stores neither part.
func testPendingBadInput(t *testing.T, f *fixture) {
	ps := pending(t, f)
	ctx := t.Context()
	s := f.st
	c := f.clock
	cases := map[string]func(tok *store.Token, p *store.Pending){
		"other link":     func(_ *store.Token, p *store.Pending) { p.LinkHash = storefixture.Digest() },
		"not waiting":    func(_ *store.Token, p *store.Pending) { p.Status = store.PendingApproved },
		"number 100":     func(_ *store.Token, p *store.Pending) { p.Match = 100 },
		"no cookie":      func(_ *store.Token, p *store.Pending) { p.Cookie = store.Digest{} },
		"other expiry":   func(_ *store.Token, p *store.Pending) { p.ExpiresAt = p.ExpiresAt.Add(time.Second) },
		"kept too short": func(_ *store.Token, p *store.Pending) { p.KeepUntil = p.ExpiresAt.Add(-time.Second) },
		"huge agent":     func(_ *store.Token, p *store.Pending) { p.UserAgent = string(make([]byte, store.MaxPendingInfo+1)) },
	}
	for name, spoil := range cases {
		tok, p := newPending(c, 5)
		spoil(tok, p)
		if err := ps.PutTokenPending(ctx, tok, p); err == nil {
			t.Fatalf("%s: PutTokenPending accepted it", name)
		}
		if _, err := ps.PendingByCookie(ctx, p.Cookie); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: a refused request was stored (%v)", name, err)
		}
		if _, err := s.ConsumeToken(ctx, tok.Hash); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: the token of a refused request was stored (%v)", name, err)
		}
	}
}

// testPendingDuplicate: a second request with the same cookie is ErrExists and stores nothing.
func testPendingDuplicate(t *testing.T, f *fixture) {
	ps := pending(t, f)
	ctx := t.Context()
	s := f.st
	c := f.clock
	_, p := putPending(t, ps, c, 5)
	tok2, p2 := newPending(c, 6)
	p2.Cookie = p.Cookie
	if err := ps.PutTokenPending(ctx, tok2, p2); !errors.Is(err, store.ErrExists) {
		t.Fatalf("a second request with the same cookie: got %v, want ErrExists", err)
	}
	if _, err := s.ConsumeToken(ctx, tok2.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the token of a refused duplicate was stored (%v)", err)
	}
	if got, err := ps.PendingByCookie(ctx, p.Cookie); err != nil || got.Match != 5 {
		t.Fatalf("the first request after a refused duplicate: got %+v, %v; want it intact", got, err)
	}
}

// testPendingExpiry: waiting ends at ExpiresAt; an approval made just before it can be taken until KeepUntil.
func testPendingExpiry(t *testing.T, f *fixture) {
	ps := pending(t, f)
	ctx := t.Context()
	c := f.clock
	tok, p := putPending(t, ps, c, 11)
	late, lateP := putPending(t, ps, c, 12)
	c.Advance(tok.ExpiresAt.Sub(c.Now()) - time.Millisecond)
	if got, err := ps.PendingByCookie(ctx, p.Cookie); err != nil || got.Status != store.PendingWaiting {
		t.Fatalf("1ms before expiry: got %+v, %v; want waiting", got, err)
	}
	if _, err := ps.DecidePending(ctx, late.Hash, 12); err != nil {
		t.Fatalf("approval 1ms before expiry: %v", err)
	}
	c.Advance(time.Millisecond)
	if got, err := ps.PendingByCookie(ctx, p.Cookie); err != nil || got.Status != store.PendingExpired {
		t.Fatalf("at expiry: got %+v, %v; want expired", got, err)
	}
	if _, err := ps.DecidePending(ctx, tok.Hash, 11); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("approval at expiry: got %v, want ErrNotFound", err)
	}
	if _, err := ps.PendingByLink(ctx, tok.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PendingByLink at expiry: got %v, want ErrNotFound", err)
	}
	c.Advance(pendingKeep - time.Millisecond)
	if got, err := ps.TakeApproved(ctx, lateP.Cookie); err != nil || got.Status != store.PendingApproved || got.Token == nil {
		t.Fatalf("an approval made just before expiry, taken after it: got %+v, %v; want it", got, err)
	}
	c.Advance(time.Millisecond)
	if _, err := ps.PendingByCookie(ctx, p.Cookie); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("at KeepUntil: got %v, want ErrNotFound", err)
	}
}

// testPendingUsedElsewhere: a link used by ConsumeToken or its code leaves its request reported as used.
func testPendingUsedElsewhere(t *testing.T, f *fixture) {
	ps := pending(t, f)
	ctx := t.Context()
	s := f.st
	c := f.clock
	tok, p := putPending(t, ps, c, 3)
	if _, err := s.ConsumeToken(ctx, tok.Hash); err != nil {
		t.Fatalf("ConsumeToken: %v", err)
	}
	if got, err := ps.TakeApproved(ctx, p.Cookie); err != nil || got.Status != store.PendingUsed {
		t.Fatalf("poll after the link was verified: got %+v, %v; want used", got, err)
	}
	if _, err := ps.DecidePending(ctx, tok.Hash, 3); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("approval of a used link: got %v, want ErrNotFound", err)
	}
	tok2, p2 := putPending(t, ps, c, 4)
	if _, err := s.ConsumeCode(ctx, tok2.Email, tok2.CodeMAC, MaxTries); err != nil {
		t.Fatalf("ConsumeCode: %v", err)
	}
	if got, err := ps.PendingByCookie(ctx, p2.Cookie); err != nil || got.Status != store.PendingUsed {
		t.Fatalf("poll after the code was used: got %+v, %v; want used", got, err)
	}
}

// testConsumeTokenFrom: a link a browser waits for is consumed only with that browser's cookie.
func testConsumeTokenFrom(t *testing.T, f *fixture) {
	ps := pending(t, f)
	ctx := t.Context()
	s := f.st
	c := f.clock
	tok, p := putPending(t, ps, c, 8)
	for name, cookie := range map[string]store.Digest{"another cookie": storefixture.Digest(), "no cookie": {}} {
		if _, err := ps.ConsumeTokenFrom(ctx, tok.Hash, cookie); !errors.Is(err, store.ErrDeviceMismatch) {
			t.Fatalf("ConsumeTokenFrom with %s: got %v, want ErrDeviceMismatch", name, err)
		}
	}
	got, err := ps.ConsumeTokenFrom(ctx, tok.Hash, p.Cookie)
	if err != nil || got.Hash != tok.Hash {
		t.Fatalf("ConsumeTokenFrom with the asking browser's cookie: got %+v, %v; want the token", got, err)
	}
	if _, err := ps.ConsumeTokenFrom(ctx, tok.Hash, p.Cookie); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ConsumeTokenFrom twice: got %v, want ErrNotFound", err)
	}
	plain := newToken(c, "plain@example.com", false)
	mustPut(t, s, plain)
	if _, err := ps.ConsumeTokenFrom(ctx, plain.Hash, store.Digest{}); err != nil {
		t.Fatalf("ConsumeTokenFrom of a link without a request: %v", err)
	}
	if _, err := ps.ConsumeTokenFrom(ctx, storefixture.Digest(), p.Cookie); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ConsumeTokenFrom unknown: got %v, want ErrNotFound", err)
	}
	exp, expP := putPending(t, ps, c, 9)
	c.Advance(exp.ExpiresAt.Sub(c.Now()))
	if _, err := ps.ConsumeTokenFrom(ctx, exp.Hash, expP.Cookie); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ConsumeTokenFrom at expiry: got %v, want ErrNotFound", err)
	}
}

// testConcurrentApproveAndVerify: approval and same-device verifies racing on one link: exactly one wins.
func testConcurrentApproveAndVerify(t *testing.T, f *fixture) {
	ps := pending(t, f)
	ctx := t.Context()
	s := f.st
	c := f.clock
	for round := range 10 {
		tok, p := putPending(t, ps, c, 50)
		var approvals, verifies atomic.Int32
		conc.Run(60, func(i int) {
			var err error
			switch i % 3 {
			case 0:
				if _, err = ps.DecidePending(ctx, tok.Hash, 50); err == nil {
					approvals.Add(1)
				}
			case 1:
				if _, err = ps.ConsumeTokenFrom(ctx, tok.Hash, p.Cookie); err == nil {
					verifies.Add(1)
				}
			default:
				if _, err = s.ConsumeToken(ctx, tok.Hash); err == nil {
					verifies.Add(1)
				}
			}
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Errorf("round %d: unexpected error %v", round, err)
			}
		})
		if approvals.Load()+verifies.Load() != 1 {
			t.Fatalf("round %d: %d approvals and %d verifies of one link, want exactly one in all", round, approvals.Load(), verifies.Load())
		}
		want := store.PendingUsed
		if approvals.Load() == 1 {
			want = store.PendingApproved
		}
		if got, err := ps.PendingByCookie(ctx, p.Cookie); err != nil || got.Status != want {
			t.Fatalf("round %d: after the race the request is %+v, %v; want status %d", round, got, err, want)
		}
	}
}

// testConcurrentNumbers: 100 concurrent numbers on one link are judged once.
func testConcurrentNumbers(t *testing.T, f *fixture) {
	ps := pending(t, f)
	ctx := t.Context()
	c := f.clock
	tok, p := putPending(t, ps, c, 37)
	var judged, approved atomic.Int32
	conc.Run(100, func(i int) {
		_, err := ps.DecidePending(ctx, tok.Hash, uint8(i))
		switch {
		case err == nil:
			judged.Add(1)
			approved.Add(1)
		case errors.Is(err, store.ErrMatchMismatch):
			judged.Add(1)
		case !errors.Is(err, store.ErrNotFound):
			t.Errorf("DecidePending: unexpected error %v", err)
		}
	})
	if judged.Load() != 1 {
		t.Fatalf("100 concurrent numbers were judged %d times, want once (the first try decides)", judged.Load())
	}
	got, err := ps.PendingByCookie(ctx, p.Cookie)
	if err != nil || (approved.Load() == 1) != (got.Status == store.PendingApproved) {
		t.Fatalf("request after the race: %+v, %v; %d approvals", got, err, approved.Load())
	}
}

// testConcurrentPolls: 50 concurrent polls of an approved request: exactly one takes it.
func testConcurrentPolls(t *testing.T, f *fixture) {
	ps := pending(t, f)
	ctx := t.Context()
	c := f.clock
	tok, p := putPending(t, ps, c, 64)
	if _, err := ps.DecidePending(ctx, tok.Hash, 64); err != nil {
		t.Fatalf("DecidePending: %v", err)
	}
	var taken, gone atomic.Int32
	conc.Run(50, func(int) {
		got, err := ps.TakeApproved(ctx, p.Cookie)
		switch {
		case err == nil && got.Status == store.PendingApproved && got.Token != nil:
			taken.Add(1)
		case errors.Is(err, store.ErrNotFound):
			gone.Add(1)
		default:
			t.Errorf("TakeApproved: got %+v, %v", got, err)
		}
	})
	if taken.Load() != 1 || gone.Load() != 49 {
		t.Fatalf("50 concurrent polls: %d took the approval and %d found nothing, want 1 and 49", taken.Load(), gone.Load())
	}
}

// testPendingUnavailable: every pending call fails with ErrUnavailable while the backend is down.
func testPendingUnavailable(t *testing.T, f *fixture) {
	ps := pending(t, f)
	ctx := t.Context()
	c := f.clock
	h := f.harness
	if h.Break == nil {
		t.Skip("storetest: this store cannot be made unavailable")
	}
	tok, p := putPending(t, ps, c, 1)
	h.Break(t)
	calls := map[string]func() error{
		"PutTokenPending": func() error { tok, p := newPending(c, 1); return ps.PutTokenPending(ctx, tok, p) },
		"PendingByCookie": func() error { _, err := ps.PendingByCookie(ctx, p.Cookie); return err },
		"TakeApproved":    func() error { _, err := ps.TakeApproved(ctx, p.Cookie); return err },
		"PendingByLink":   func() error { _, err := ps.PendingByLink(ctx, tok.Hash); return err },
		"DecidePending":   func() error { _, err := ps.DecidePending(ctx, tok.Hash, 1); return err },
		"ConsumeTokenFrom": func() error {
			_, err := ps.ConsumeTokenFrom(ctx, tok.Hash, p.Cookie)
			return err
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with the backend down: got %v, want an error matching ErrUnavailable", name, err)
		}
	}
}

// newPending returns a token with a code and a waiting request for it.
func newPending(c *Clock, match uint8) (*store.Token, *store.Pending) {
	tok := newToken(c, "asker-"+hexID()+"@example.com", true)
	tok.UserID, tok.Next = "u_"+hexID(), "/after"
	p := &store.Pending{Cookie: storefixture.Digest(), LinkHash: tok.Hash, Match: match,
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0", IP: "203.0.113.7",
		CreatedAt: tok.CreatedAt, ExpiresAt: tok.ExpiresAt, KeepUntil: tok.ExpiresAt.Add(pendingKeep),
		Status: store.PendingWaiting}
	return tok, p
}

func putPending(t *testing.T, ps store.PendingRequests, c *Clock, match uint8) (*store.Token, *store.Pending) {
	t.Helper()
	tok, p := newPending(c, match)
	if err := ps.PutTokenPending(context.Background(), tok, p); err != nil {
		t.Fatalf("PutTokenPending: %v", err)
	}
	return tok, p
}
