package magiclink_test

import (
	"context"
	"fmt"
	"log"
	"net/url"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer"
)

func ExampleNew() {
	svc, err := magiclink.New(magiclink.Config{
		Origins: []string{"https://app.example.com", "https://*.example.com"},
		Secret:  []byte("a 32-byte or longer server secret!"),
		Mailer:  mailer.NewLog(log.Writer()), // dev only: prints links
	})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
	// Links point at Config.LinkPath (default /auth/verify) on an allowed origin.
	link, err := svc.CreateLink(context.Background(), magiclink.LinkRequest{Email: "jane@example.com", Origin: "https://app.example.com"})
	if err != nil {
		log.Fatal(err)
	}
	u, _ := url.Parse(link.URL)
	fmt.Println(u.Scheme + "://" + u.Host + u.Path)
	// Output: https://app.example.com/auth/verify
}

// A full sign-in: SendLink mails a link and a code; Verify consumes the link.
func ExampleService_SendLink() {
	inbox := mailer.NewMemory()
	svc, err := magiclink.New(magiclink.Config{
		Origins: []string{"https://app.example.com"},
		Secret:  []byte("a 32-byte or longer server secret!"),
		Mailer:  inbox,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
	ctx := context.Background()

	err = svc.SendLink(ctx, magiclink.SendRequest{
		Email:          "ada@example.com",
		CallbackOrigin: "https://app.example.com",
		Next:           "/overview",
	})
	if err != nil {
		log.Fatal(err)
	}

	mail, _ := inbox.Last("ada@example.com")
	link, _ := url.Parse(mail.Link)
	id, err := svc.Verify(ctx, link.Query().Get("token_hash"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(id.Email, id.Next, id.Method)
	// Output: ada@example.com /overview link
}

// The 6-digit code from the same mail signs in on any device.
func ExampleService_VerifyCode() {
	svc, err := magiclink.New(magiclink.Config{
		Origins: []string{"https://app.example.com"},
		Secret:  []byte("a 32-byte or longer server secret!"),
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
	id, err := svc.VerifyCode(ctx, "ada@example.com", link.Code)
	fmt.Println(id.Email, id.Method, err)
	// The link died with its code.
	_, err = svc.Verify(ctx, link.Token)
	fmt.Println(err)
	// Output:
	// ada@example.com code <nil>
	// magiclink: link is invalid, expired or already used
}

func ExampleSafeNext() {
	for _, next := range []string{"/overview?tab=1", "//evil.com", "/a/../b"} {
		p, err := magiclink.SafeNext(next)
		fmt.Printf("%q %v\n", p, err != nil)
	}
	// Output:
	// "/overview?tab=1" false
	// "" true
	// "/b" false
}

func ExampleOrigins_Allow() {
	o, err := magiclink.NewOrigins("https://app.example.com", "https://*.tenant.example")
	if err != nil {
		log.Fatal(err)
	}
	for _, origin := range []string{"https://APP.example.com:443", "https://acme.tenant.example", "https://tenant.example", "https://app.example.com.evil.com"} {
		canon, ok := o.Allow(origin)
		fmt.Println(canon, ok)
	}
	// Output:
	// https://app.example.com true
	// https://acme.tenant.example true
	//  false
	//  false
}
