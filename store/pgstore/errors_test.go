package pgstore

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/magiclink-go/magiclink/store"
)

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	s := &Store{}
	pgErr := func(code string) error { return &pgconn.PgError{Code: code, Message: "m"} }
	for _, c := range []struct {
		err  error
		want error
	}{
		{pgx.ErrNoRows, store.ErrNotFound},
		{pgErr("23505"), store.ErrExists},
		{context.DeadlineExceeded, store.ErrUnavailable},
		{io.ErrUnexpectedEOF, store.ErrUnavailable},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, store.ErrUnavailable},
		{errors.New("closed pool"), store.ErrUnavailable},
		{pgErr("08006"), store.ErrUnavailable}, // connection failure
		{pgErr("53300"), store.ErrUnavailable}, // too many connections
		{pgErr("57P01"), store.ErrUnavailable}, // admin shutdown
		{pgErr("57P03"), store.ErrUnavailable}, // starting up
		{pgErr("57014"), store.ErrUnavailable}, // statement timeout
		{pgErr("25006"), store.ErrUnavailable}, // read-only standby
		{pgErr("40001"), store.ErrUnavailable}, // serialization failure
		{pgErr("3D000"), store.ErrUnavailable}, // database gone
		{pgErr("28P01"), store.ErrUnavailable}, // password
	} {
		got := s.fail(context.Background(), "op", c.err)
		if !errors.Is(got, c.want) {
			t.Errorf("fail(%v) = %v, want it to match %v", c.err, got, c.want)
		}
		if c.want == store.ErrUnavailable && !errors.Is(got, c.err) {
			t.Errorf("fail(%v) = %v lost its cause", c.err, got)
		}
	}
	// A bug or a foreign schema is not an outage: retrying will not help.
	if got := s.fail(context.Background(), "op", pgx.ScanArgError{ColumnIndex: 1, Err: errors.New("bad")}); errors.Is(got, store.ErrUnavailable) {
		t.Errorf("a scan error maps to %v, must not match ErrUnavailable", got)
	}
	for _, code := range []string{"42P01", "42703", "22P02", "XX000"} {
		if got := s.fail(context.Background(), "op", pgErr(code)); errors.Is(got, store.ErrUnavailable) {
			t.Errorf("fail(SQLSTATE %s) = %v, must not match ErrUnavailable", code, got)
		}
	}
	// The caller's own cancellation is reported as such, not as an outage.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := s.fail(ctx, "op", pgErr("57014"))
	if !errors.Is(got, context.Canceled) || errors.Is(got, store.ErrUnavailable) {
		t.Errorf("fail after the caller canceled = %v, want context.Canceled and not ErrUnavailable", got)
	}
}
