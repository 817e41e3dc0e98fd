package magiclink_test

import (
	"context"
	"errors"
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

	if err := svc.SendLink(ctx, magiclink.SendRequest{Email: "ada@example.com", CallbackOrigin: "https://app.example.com"}); err != nil {
		log.Fatal(err)
	}
	mail := inbox.Messages()[0]
	id, err := svc.VerifyCode(ctx, "ada@example.com", mail.Code)
	fmt.Println(id.Email, id.Method, err)
	// The link died with its code.
	u, _ := url.Parse(mail.Link)
	_, err = svc.Verify(ctx, u.Query().Get("token_hash"))
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

// After Verify, an app gets an access token and a refresh token. A
// refresh replaces both; presenting the replaced refresh token again is
// what a stolen one looks like, so the whole session ends.
func ExampleService_Refresh() {
	svc, err := magiclink.New(magiclink.Config{
		Origins: []string{"https://app.example.com"},
		Secret:  []byte("a 32-byte or longer server secret!"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
	ctx := context.Background()
	id := magiclink.Identity{UserID: "usr_1", Email: "ada@example.com", Method: "link"} // from Verify

	first, err := svc.StartAPISession(ctx, id, magiclink.Client{})
	if err != nil {
		log.Fatal(err)
	}
	second, _, err := svc.Refresh(ctx, first.RefreshToken)
	if err != nil {
		log.Fatal(err)
	}
	_, err = svc.CheckAccessToken(ctx, second.AccessToken)
	fmt.Println("new access token works:", err == nil)

	_, _, err = svc.Refresh(ctx, first.RefreshToken) // reuse
	fmt.Println("reuse refused:", errors.Is(err, magiclink.ErrInvalidSession))
	_, err = svc.CheckAccessToken(ctx, second.AccessToken)
	fmt.Println("session ended:", errors.Is(err, magiclink.ErrInvalidSession))
	// Output:
	// new access token works: true
	// reuse refused: true
	// session ended: true
}

// Sign-out ends sessions in the store, so a copied cookie stops working at
// once; SignOutOthers keeps the current one.
func ExampleService_SignOut() {
	svc, err := magiclink.New(magiclink.Config{
		Origins: []string{"https://app.example.com"},
		Secret:  []byte("a 32-byte or longer server secret!"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
	ctx := context.Background()
	ada := magiclink.Identity{UserID: "usr_1", Email: "ada@example.com", Method: "link"}
	laptop, _ := svc.StartBrowserSession(ctx, ada, magiclink.Client{UserAgent: "laptop"})
	phone, _ := svc.StartBrowserSession(ctx, ada, magiclink.Client{UserAgent: "phone"})

	current, err := svc.CheckSessionToken(ctx, laptop.Token)
	if err != nil {
		log.Fatal(err)
	}
	if err := svc.SignOut(ctx, current, magiclink.SignOutOthers); err != nil {
		log.Fatal(err)
	}
	_, err = svc.CheckSessionToken(ctx, phone.Token)
	fmt.Println("phone signed out:", errors.Is(err, magiclink.ErrInvalidSession))
	_, err = svc.CheckSessionToken(ctx, laptop.Token)
	fmt.Println("laptop still signed in:", err == nil)
	// Output:
	// phone signed out: true
	// laptop still signed in: true
}
