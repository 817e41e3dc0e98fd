package redisstore

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/storefixture"
	"github.com/magiclink-go/magiclink/store"
)

func TestEncodingRoundTrip(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tokens := []*store.Token{
		{Hash: storefixture.Digest(), CodeMAC: storefixture.Digest(), UserID: "u_1", Email: "a@example.com", OrgID: "org",
			Origin: "https://app.example", Next: "/x?y=1", CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute)},
		{Hash: storefixture.Digest()}, // zero times, empty strings, no code
		{Hash: storefixture.Digest(), CreatedAt: time.Unix(-1, 5), ExpiresAt: time.Date(2262, 1, 1, 0, 0, 0, 999999999, time.UTC)},
	}
	for _, want := range tokens {
		b := encodeToken(want)
		if !bytes.Equal(b[tokenMACOffset-1:tokenMACOffset-1+32], want.CodeMAC[:]) {
			t.Fatalf("CodeMAC is not at byte %d of the encoding, where takeTokenScript reads it", tokenMACOffset)
		}
		got, err := decodeToken(b)
		if err != nil {
			t.Fatalf("decodeToken: %v", err)
		}
		if got.Hash != want.Hash || got.CodeMAC != want.CodeMAC || got.UserID != want.UserID || got.Email != want.Email ||
			got.OrgID != want.OrgID || got.Origin != want.Origin || got.Next != want.Next ||
			!got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
			got.CreatedAt.IsZero() != want.CreatedAt.IsZero() {
			t.Fatalf("token round trip: got %+v, want %+v", got, want)
		}
	}

	u := &store.User{ID: "u", OrgID: "o", Email: "e@example.com", FirstName: "Ada", LastName: "L", Phone: "+1",
		LanguageCode: "en", MailPermission: true, SecretKeyDigest: storefixture.Digest(), CreatedAt: now}
	gu, err := decodeUser(encodeUser(u))
	if err != nil || *gu != (store.User{ID: u.ID, OrgID: u.OrgID, Email: u.Email, FirstName: u.FirstName,
		LastName: u.LastName, Phone: u.Phone, LanguageCode: u.LanguageCode, MailPermission: true,
		SecretKeyDigest: u.SecretKeyDigest, CreatedAt: gu.CreatedAt}) || !gu.CreatedAt.Equal(u.CreatedAt) {
		t.Fatalf("user round trip: got %+v, %v; want %+v", gu, err, u)
	}
	c := &store.Customer{ID: "cus_1", Email: "c@example.com", OrgID: "o"}
	if gc, err := decodeCustomer(encodeCustomer(c)); err != nil || *gc != *c {
		t.Fatalf("customer round trip: got %+v, %v; want %+v", gc, err, c)
	}
}

func TestDecodeRejectsCorruptRecords(t *testing.T) {
	t.Parallel()
	good := encodeToken(&store.Token{Hash: storefixture.Digest(), Email: "a@example.com"})
	for _, b := range [][]byte{nil, {}, {9}, good[:len(good)-1], append(append([]byte{}, good...), 0)} {
		if _, err := decodeToken(b); !errors.Is(err, errCorrupt) {
			t.Errorf("decodeToken(%x): got %v, want errCorrupt", b, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encodeToken(&store.Token{Hash: storefixture.Digest(), Email: "a@example.com", CreatedAt: time.Now()}))
	f.Add(encodeUser(&store.User{ID: "u", Email: "a@example.com"}))
	f.Add(encodeCustomer(&store.Customer{ID: "c"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Never panic; whatever decodes must survive another round trip.
		if tok, err := decodeToken(b); err == nil {
			again, err := decodeToken(encodeToken(tok))
			if err != nil || !bytes.Equal(encodeToken(again), encodeToken(tok)) {
				t.Fatalf("token %x does not survive a round trip: %v", b, err)
			}
		}
		_, _ = decodeUser(b)
		_, _ = decodeCustomer(b)
	})
}
