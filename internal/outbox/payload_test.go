package outbox

import (
	"reflect"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
)

func TestPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	m := &mailer.Message{To: "ada@example.com", Subject: "Sign in", Text: "text", HTML: "<p>html</p>",
		Locale: "de", Link: "https://x.example/?token_hash=abc", Code: "123456"}
	p, err := decodePayload(encodeMessage(m))
	if err != nil || !reflect.DeepEqual(p.msg, m) || p.link != nil {
		t.Fatalf("message: %+v, %v", p, err)
	}
	d := &mailer.LinkData{To: "ada@example.com", AppName: "Acme", Origin: "https://x.example",
		Link: "https://x.example/?token_hash=abc", Code: "123456", TTL: 15 * time.Minute,
		ExpiresAt: time.Unix(1_800_000_000, 123), Locale: "tr-TR"}
	p, err = decodePayload(encodeLink(d))
	if err != nil || p.msg != nil || !p.link.ExpiresAt.Equal(d.ExpiresAt) {
		t.Fatalf("link data: %+v, %v", p, err)
	}
	p.link.ExpiresAt = d.ExpiresAt
	if !reflect.DeepEqual(p.link, d) {
		t.Fatalf("link data: got %+v, want %+v", p.link, d)
	}
	if p, _ := decodePayload(encodeLink(&mailer.LinkData{})); !p.link.ExpiresAt.IsZero() {
		t.Fatal("a zero ExpiresAt must stay zero")
	}
}

func TestPayloadRejectsMalformed(t *testing.T) {
	t.Parallel()
	good := encodeMessage(&mailer.Message{To: "a@example.com", Subject: "s"})
	for name, b := range map[string][]byte{
		"empty":          nil,
		"version":        append([]byte{0x09}, good[1:]...),
		"kind":           {payloadV1, 'x'},
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(append([]byte{}, good...), 0),
		"huge length":    {payloadV1, kindMessage, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		if _, err := decodePayload(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func TestFullJitterStaysInBounds(t *testing.T) {
	t.Parallel()
	b := FullJitter(time.Second, 10*time.Second)
	for attempt, limit := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 9: 10 * time.Second, 60: 10 * time.Second} {
		var top time.Duration
		for range 500 {
			d := b(attempt)
			if d < 0 || d > limit {
				t.Fatalf("attempt %d: %v outside [0, %v]", attempt, d, limit)
			}
			top = max(top, d)
		}
		if top < limit/2 {
			t.Fatalf("attempt %d: 500 draws never above %v: not spread over [0, %v]", attempt, top, limit)
		}
	}
}
