package pgstore_test

import (
	"context"
	"log"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store/pgstore"
)

// Apply the schema at start (safe when several instances start at once),
// then use one Store as both the store and the rate limiter of a Service:
// every instance shares links, codes, users and limits through PostgreSQL.
func ExampleNew() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	if err := pgstore.Migrate(ctx, pool); err != nil {
		log.Fatal(err) // matches store.ErrUnavailable when the database cannot be reached
	}
	st, err := pgstore.New(ctx, pool)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close() // stops the background deletion of expired rows

	svc, err := magiclink.New(magiclink.Config{
		Origins: []string{"https://app.example.com"},
		Secret:  []byte(os.Getenv("MAGICLINK_SECRET")),
		Store:   st,
		Limiter: st,
		Mailer:  mailer.NewLog(os.Stderr), // a dev mailer; an outbox in production,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
}

// Several applications can share a database, each in its own schema.
func ExampleWithSchema() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	if err := pgstore.Migrate(ctx, pool, pgstore.WithSchema("billing_auth")); err != nil {
		log.Fatal(err)
	}
	st, err := pgstore.New(ctx, pool, pgstore.WithSchema("billing_auth"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
}
