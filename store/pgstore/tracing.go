package pgstore

import (
	"context"
	"errors"
	"net"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/magiclink-go/magiclink/internal/telemetry"
)

// tracerScope is the instrumentation scope of the statement spans.
const tracerScope = "github.com/magiclink-go/magiclink/store/pgstore"

// WithTracerProvider sets where the spans of the store's statements go
// (default: OpenTelemetry's global provider, a no-op until the host
// installs an SDK; nil means the same, noop.NewTracerProvider() turns them
// off). Migrate ignores it.
//
// Each statement a store call sends gets one client span named after the
// statement ("consume_token", "find_or_create_user"), with the
// OpenTelemetry database attributes db.system.name (postgresql),
// db.operation.name (that name), db.namespace (database|schema) and
// server.address and server.port. The SQL text's arguments are never
// recorded: they hold addresses and digests of secrets. A failed
// statement sets the span's status to an error and error.type (and
// db.response.status_code) to its SQLSTATE, or to "timeout", "canceled"
// or "io" for a failure on the client's side; no row is not an error.
//
// Spans are made only inside a recording span of the caller, such as the
// Service span of a magiclink call or the host's request span, so the
// background sweeper makes none and, with no SDK or no trace, a statement
// costs one context lookup and no allocation. These spans are the store's
// own: a pgx.QueryTracer the application sets on its pool config sees the
// same statements, with whatever that tracer records.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracerProvider = tp }
}

// tracedPool sends the store's statements, each inside a span when the
// caller's context is being traced.
type tracedPool struct {
	pool   *pgxpool.Pool
	tracer trace.Tracer // nil: tracing off
	attrs  []attribute.KeyValue
}

// newTracedPool traces the statements on pool with tp (nil: the global
// provider) under schema.
func newTracedPool(pool *pgxpool.Pool, tp trace.TracerProvider, schema string) tracedPool {
	db := tracedPool{pool: pool, tracer: telemetry.StoreTracer(tp, tracerScope)}
	if db.tracer != nil {
		db.attrs = serverAttributes(pool, schema)
	}
	return db
}

// serverAttributes are the attributes every span of pool carries.
func serverAttributes(pool *pgxpool.Pool, schema string) []attribute.KeyValue {
	cc := pool.Config().ConnConfig
	attrs := []attribute.KeyValue{semconv.DBSystemNamePostgreSQL, semconv.DBNamespace(cc.Database + "|" + schema)}
	if cc.Host != "" {
		attrs = append(attrs, semconv.ServerAddress(cc.Host), semconv.ServerPort(int(cc.Port)))
	}
	return attrs
}

// start begins the span of statement name when ctx is being traced; the
// span is nil otherwise.
func (d *tracedPool) start(ctx context.Context, name string) (context.Context, trace.Span) {
	if d.tracer == nil || !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nil
	}
	attrs := make([]attribute.KeyValue, 0, len(d.attrs)+1)
	attrs = append(append(attrs, d.attrs...), semconv.DBOperationName(name))
	return d.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// exec runs statement name (sql) with pool.Exec.
func (d *tracedPool) exec(ctx context.Context, name, sql string, args ...any) (pgconn.CommandTag, error) {
	ctx, span := d.start(ctx, name)
	tag, err := d.pool.Exec(ctx, sql, args...)
	endSpan(span, err)
	return tag, err
}

// queryRow runs statement name (sql) with pool.QueryRow; its span ends
// with the row's Scan, where pgx reports the statement's error.
func (d *tracedPool) queryRow(ctx context.Context, name, sql string, args ...any) pgx.Row {
	ctx, span := d.start(ctx, name)
	row := d.pool.QueryRow(ctx, sql, args...)
	if span == nil {
		return row
	}
	return tracedRow{row: row, span: span}
}

// query runs statement name (sql) with pool.Query; its span ends when the
// rows are closed.
func (d *tracedPool) query(ctx context.Context, name, sql string, args ...any) (pgx.Rows, error) {
	ctx, span := d.start(ctx, name)
	rows, err := d.pool.Query(ctx, sql, args...)
	if span == nil {
		return rows, err
	}
	if err != nil {
		endSpan(span, err)
		return rows, err
	}
	return &tracedRows{Rows: rows, span: span}, nil
}

// tracedRow ends its span when scanned.
type tracedRow struct {
	row  pgx.Row
	span trace.Span
}

func (r tracedRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	endSpan(r.span, err)
	return err
}

// tracedRows ends its span when closed, once.
type tracedRows struct {
	pgx.Rows
	span trace.Span
}

func (r *tracedRows) Close() {
	r.Rows.Close()
	if r.span != nil {
		endSpan(r.span, r.Rows.Err())
		r.span = nil
	}
}

// endSpan ends span (nil: none was started), marking a failure by its
// class only: error messages can quote what was sent.
func endSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		class := errorType(err)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			span.SetAttributes(semconv.DBResponseStatusCode(pgErr.Code))
		}
		span.SetAttributes(semconv.ErrorTypeKey.String(class))
		span.SetStatus(codes.Error, class)
	}
	span.End()
}

// errorType classifies err for error.type: a server error's SQLSTATE
// ("40001"), or "canceled", "timeout" or "io" for a failure on the
// client's side.
func errorType(err error) string {
	var pgErr *pgconn.PgError
	var nerr net.Error
	switch {
	case errors.As(err, &pgErr):
		if len(pgErr.Code) == 5 {
			return pgErr.Code
		}
		return "ERROR"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err), errors.As(err, &nerr) && nerr.Timeout():
		return "timeout"
	}
	return "io"
}
