package httpadapter_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/mailer"
)

// Register the endpoints on a standard ServeMux and protect an app route
// with the session middleware.
func ExampleNew() {
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

	h, err := httpadapter.New(svc, httpadapter.Config{})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	mux.Handle("GET /me", h.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := magiclink.IdentityFrom(r.Context())
		fmt.Fprintln(w, "hello", id.Email)
	})))

	// A browser on the app asks for a link.
	req := httptest.NewRequest(http.MethodPost, "/auth/send-magic-link",
		strings.NewReader(`{"email":"ada@example.com","callback_next":"/me"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://app.example.com")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))

	mail, _ := inbox.Last("ada@example.com")
	fmt.Println(strings.HasPrefix(mail.Link, "https://app.example.com/auth/verify?token_hash="))
	// Output:
	// 200 {"ok":true}
	// true
}
