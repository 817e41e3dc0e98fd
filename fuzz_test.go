package magiclink_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink"
)

// FuzzVerifyToken feeds arbitrary tokens to Verify: nothing panics, and no
// input but the issued token signs anyone in.
func FuzzVerifyToken(f *testing.F) {
	svc, err := magiclink.New(magiclink.Config{Origins: []string{"https://app.example.com"}, Secret: testSecret, Limits: magiclink.NoLimits()})
	if err != nil {
		f.Fatal(err)
	}
	defer svc.Close()
	link, err := svc.CreateLink(context.Background(), magiclink.LinkRequest{Email: "a@example.com", Origin: "https://app.example.com"})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"", "x", link.Token[:42], link.Token + "=", strings.ToUpper(link.Token), "%00", strings.Repeat("A", 43), strings.Repeat("/", 43)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		if tok == link.Token {
			return
		}
		id, err := svc.Verify(context.Background(), tok)
		if !errors.Is(err, magiclink.ErrInvalidToken) {
			t.Fatalf("Verify(%q) = %+v, %v; want ErrInvalidToken", tok, id, err)
		}
	})
}

// FuzzNormalizeEmail: an accepted address is canonical (normalizing it again
// changes nothing) and cannot smuggle header syntax.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"a@example.com", " A@Example.COM ", "a@bücher.example", "a@example.com\r\nBcc: x@y.z", "\"a\"@b.c", "a@b", "<a@b.c>", "a..b@c.d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := magiclink.NormalizeEmail(in)
		if err != nil {
			if !errors.Is(err, magiclink.ErrInvalidEmail) {
				t.Fatalf("NormalizeEmail(%q): error %v does not match ErrInvalidEmail", in, err)
			}
			return
		}
		again, err := magiclink.NormalizeEmail(out)
		if err != nil || again != out {
			t.Fatalf("NormalizeEmail is not idempotent: %q → %q → %q, %v", in, out, again, err)
		}
		if len(out) > magiclink.MaxEmailLength || strings.Count(out, "@") != 1 || strings.ContainsAny(out, " \t\r\n\x00<>\",;:()[]\\") || out != strings.ToLower(out) {
			t.Fatalf("NormalizeEmail(%q) accepted %q", in, out)
		}
	})
}
