package magiclink_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/magiclink-go/magiclink"
)

// FuzzSessionCredentials feeds arbitrary strings to every session entry
// point: none may panic, none may sign anyone in, and a hostile refresh
// token must not end the real session.
func FuzzSessionCredentials(f *testing.F) {
	svc, err := magiclink.New(magiclink.Config{Origins: []string{"https://app.example.com"}, Secret: testSecret,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = svc.Close() })
	ctx := context.Background()
	api, err := svc.StartAPISession(ctx, alice, magiclink.Client{})
	if err != nil {
		f.Fatal(err)
	}
	browser, err := svc.StartBrowserSession(ctx, alice, magiclink.Client{})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"", "a.b.c", api.AccessToken, api.SessionID + ".x", browser.Token[:42] + "B",
		api.SessionID + "." + browser.Token, "\x00\xff", api.AccessToken + "=", browser.ID} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, cred string) {
		if cred == api.AccessToken || cred == browser.Token || cred == api.RefreshToken {
			return
		}
		if id, err := svc.CheckAccessToken(ctx, cred); !errors.Is(err, magiclink.ErrInvalidSession) {
			t.Fatalf("CheckAccessToken(%q) = %+v, %v; want ErrInvalidSession", cred, id, err)
		}
		if id, err := svc.CheckSessionToken(ctx, cred); !errors.Is(err, magiclink.ErrInvalidSession) {
			t.Fatalf("CheckSessionToken(%q) = %+v, %v; want ErrInvalidSession", cred, id, err)
		}
		if _, id, err := svc.Refresh(ctx, cred); !errors.Is(err, magiclink.ErrInvalidSession) {
			t.Fatalf("Refresh(%q) = %+v, %v; want ErrInvalidSession", cred, id, err)
		}
		if _, err := svc.CheckAccessToken(ctx, api.AccessToken); err != nil {
			t.Fatalf("after %q the real session is gone: %v", cred, err)
		}
	})
}
