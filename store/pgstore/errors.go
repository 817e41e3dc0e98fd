package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/magiclink-go/magiclink/store"
)

// fail classifies an error of operation op: no rows is store.ErrNotFound; a
// unique violation store.ErrExists; the caller's own cancellation (of ctx,
// the caller's context) is returned wrapped as is; anything that means the
// server cannot be reached or cannot serve now matches store.ErrUnavailable
// and keeps err as its cause; other server errors are returned wrapped.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("pgstore: %s: %w", op, store.ErrNotFound)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("pgstore: %s: %w", op, err)
	case errors.Is(ctx.Err(), context.Canceled):
		// pgx may report the cancellation as the server's 57014.
		return fmt.Errorf("pgstore: %s: %w: %w", op, context.Canceled, err)
	case errors.Is(err, errCorrupt):
		return fmt.Errorf("pgstore: %s: %w", op, err)
	case isUniqueViolation(err):
		return fmt.Errorf("pgstore: %s: %w", op, store.ErrExists)
	case unavailable(err):
		return fmt.Errorf("pgstore: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("pgstore: %s: %w", op, err)
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// unavailable reports whether err means that the server cannot serve now:
// every client-side error (dial and I/O errors, timeouts, a closed pool)
// except a failure to scan a row,
// and the server errors of classes that say so — connection exceptions
// (08), insufficient resources such as too many connections (53), operator
// intervention such as shutdown, start-up, recovery or a statement timeout
// (57), system errors (58), authorization and missing-database errors
// (28, 3D000), a read-only standby (25006), a lock timeout (55P03), and
// serialization failures and deadlocks (40), which a retry resolves. Other
// server errors are bugs or a foreign schema, which retrying will not fix.
func unavailable(err error) bool {
	if scan := (pgx.ScanArgError{}); errors.As(err, &scan) {
		return false // a row this package cannot read: a bug or a foreign schema
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return true
	}
	for _, p := range [...]string{"08", "53", "57", "58", "28", "40", "3D000", "25006", "55P03"} {
		if strings.HasPrefix(pgErr.Code, p) {
			return true
		}
	}
	return false
}
