package mailer_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
)

// A Dispatcher sends in the background and retries temporary failures; Close
// drains it at shutdown.
func ExampleNewDispatcher() {
	inbox := mailer.NewMemory()
	d := mailer.NewDispatcher(inbox, mailer.DispatcherOptions{
		Workers:     2,
		MaxAttempts: 5,
		OnFailure: func(m *mailer.Message, err error) {
			log.Printf("mail to %s failed: %v", mailer.MaskAddress(m.To), err)
		},
	})

	msg, err := mailer.DefaultTemplates().Render(mailer.LinkData{
		To:      "jane@example.com",
		AppName: "Acme",
		Origin:  "https://app.example.com",
		Link:    "https://app.example.com/auth/verify?token_hash=abc&type=magiclink&next=%2F",
		Code:    "123456",
		TTL:     15 * time.Minute,
		Locale:  "de-DE",
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := d.Send(ctx, msg); err != nil { // returns at once
		log.Fatal(err)
	}

	shutdown, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.Close(shutdown); err != nil {
		log.Fatal(err)
	}
	fmt.Println(inbox.Len(), inbox.Messages()[0].Subject)
	// Output: 1 Ihr Anmeldelink für Acme
}

// Memory captures mail for tests; Wait blocks until the mail arrives, and
// Handler serves a development inbox.
func ExampleMemory() {
	inbox := mailer.NewMemory()
	ctx := context.Background()

	go func() {
		_ = inbox.Send(ctx, &mailer.Message{
			To: "jane@example.com", Subject: "Your sign-in link for Acme",
			Link: "https://app.example.com/auth/verify?token_hash=abc", Code: "123456",
		})
	}()

	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, err := inbox.Wait(waitCtx, "jane@example.com")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Code)

	mux := http.NewServeMux()
	mux.Handle("/dev/mailbox", http.StripPrefix("/dev/mailbox", inbox.Handler()))
	mux.Handle("/dev/mailbox.json", inbox.JSONHandler())
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dev/mailbox.json", nil))
	fmt.Println(rec.Code, rec.Header().Get("Cache-Control"))
	// Output:
	// 123456
	// 200 no-store
}

// SMTP settings usually come from one URL.
func ExampleNewSMTPFromURL() {
	_, err := mailer.NewSMTPFromURL("smtp://user:secret@mail.example.com:25?tls=none", "Acme <no-reply@acme.example>")
	fmt.Println(err)
	// Output: mailer: SMTP URL: refusing SMTP AUTH without TLS; use tls=starttls or tls=implicit, or add insecure_auth=true for a trusted development relay
}
