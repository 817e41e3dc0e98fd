package magiclink_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/store"
)

// Hooks refuse sends to some domains, learn of new users, and refuse or
// enrich sign-ins.
func ExampleHooks() {
	suspended := map[string]bool{"mallory@example.com": true}
	svc, err := magiclink.New(magiclink.Config{
		Origins: []string{"https://app.example.com"},
		Secret:  []byte("a 32-byte or longer server secret!"),
		Hooks: magiclink.Hooks{
			BeforeSend: func(_ context.Context, info magiclink.SendInfo) error {
				if strings.HasSuffix(info.Email, "@competitor.example") {
					return errors.New("not our customers") // SendLink still returns nil
				}
				return nil
			},
			OnUserCreated: func(_ context.Context, u store.User) error {
				fmt.Println("welcome,", u.Email)
				return nil
			},
			OnSignIn: func(_ context.Context, id magiclink.Identity) (map[string]any, error) {
				if suspended[id.Email] {
					return nil, fmt.Errorf("suspended: %w", magiclink.ErrSignInDenied)
				}
				return map[string]any{"plan": "pro"}, nil // lands in the session token
			},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
	ctx := context.Background()
	for _, addr := range []string{"ada@example.com", "mallory@example.com"} {
		link, err := svc.CreateLink(ctx, magiclink.LinkRequest{Email: addr, Origin: "https://app.example.com"})
		if err != nil {
			log.Fatal(err)
		}
		id, err := svc.Verify(ctx, link.Token)
		fmt.Println(addr, id.Claims["plan"], errors.Is(err, magiclink.ErrSignInDenied))
	}
	// Output:
	// welcome, ada@example.com
	// ada@example.com pro false
	// welcome, mallory@example.com
	// mallory@example.com <nil> true
}

// appTable stands for the application's own users table; it numbers its
// users itself.
type appTable struct{ rows []store.User }

func (a *appTable) CreateUser(_ context.Context, u *store.User) error {
	for _, r := range a.rows {
		if r.OrgID == u.OrgID && r.Email == u.Email {
			return store.ErrExists
		}
	}
	u.ID = fmt.Sprint(len(a.rows) + 1) // the application's own ID
	a.rows = append(a.rows, *u)
	return nil
}

func (a *appTable) UserByEmail(_ context.Context, org, email string) (*store.User, error) {
	for _, r := range a.rows {
		if r.OrgID == org && r.Email == email {
			return &r, nil
		}
	}
	return nil, store.ErrNotFound
}

func (a *appTable) UserByID(_ context.Context, id string) (*store.User, error) {
	for _, r := range a.rows {
		if r.ID == id {
			return &r, nil
		}
	}
	return nil, store.ErrNotFound
}

// Config.Users keeps users in the application's own table, beside any
// store (here the default memory store), with the application's IDs.
func ExampleConfig_users() {
	table := &appTable{}
	svc, err := magiclink.New(magiclink.Config{
		Origins: []string{"https://app.example.com"},
		Secret:  []byte("a 32-byte or longer server secret!"),
		Users:   table,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
	ctx := context.Background()
	link, err := svc.CreateLink(ctx, magiclink.LinkRequest{Email: "ada@example.com", Origin: "https://app.example.com"})
	if err != nil {
		log.Fatal(err)
	}
	id, err := svc.Verify(ctx, link.Token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(id.UserID, len(table.rows))
	// Output: 1 1
}
