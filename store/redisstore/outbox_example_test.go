package redisstore_test

import (
	"context"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store/redisstore"
)

// A Service whose sign-in mails survive a crash: the outbox accepts each
// mail into Redis before SendLink answers, and any instance delivers it.
// Sharing the templates lets the outbox's workers render the mails, off
// the request path.
func ExampleNewOutbox() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	defer rdb.Close()
	secret := []byte("a server secret of at least 32 bytes, from a vault")

	smtp, err := mailer.NewSMTP(mailer.SMTPConfig{Host: "smtp.example.com", From: "Acme <no-reply@acme.example>"})
	if err != nil {
		log.Fatal(err)
	}
	defer smtp.Close()
	templates := mailer.DefaultTemplates()
	outbox, err := redisstore.NewOutbox(rdb, smtp, mailer.OutboxOptions{
		Secret:   secret, // sealing uses its own HKDF subkey
		Renderer: templates,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		// Deliver what is ready; on timeout, hand the rest back to Redis.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = outbox.Close(ctx)
	}()

	svc, err := magiclink.New(magiclink.Config{
		Secret:    secret,
		Mailer:    outbox,
		Templates: templates,
		// Store, Limiter, Origins, …
	})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
}
