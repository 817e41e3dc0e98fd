package redisstore

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/magiclink-go/magiclink/internal/telemetry"
)

// tracerScope is the instrumentation scope of the round-trip spans.
const tracerScope = "github.com/magiclink-go/magiclink/store/redisstore"

// WithTracerProvider sets where the spans of the store's Redis round trips
// go (default: OpenTelemetry's global provider, a no-op until the host
// installs an SDK; nil means the same). New adds one go-redis hook to the
// client for them; noop.NewTracerProvider() adds none.
//
// The hook makes one client span per command, pipeline or script run,
// named after the command ("GETDEL") or, for this package's Lua scripts,
// the command and the script ("EVALSHA consume_code"), with the
// OpenTelemetry database attributes db.system.name, db.operation.name,
// db.query.summary, db.operation.batch.size, db.namespace (the database
// index) and, for a standalone client, server.address and server.port.
// Keys and arguments are never recorded: they are digests of addresses
// and secrets. A failed round trip sets the span's status to an error and
// error.type to the Redis error prefix ("NOSCRIPT") or a client-side
// class ("timeout", "closed", "io"); a missing key (redis.Nil) is not an
// error.
//
// Spans are made only for commands on this store's keys (those under its
// prefix) and only inside a recording span of the caller, such as the
// Service span of a magiclink call or the host's request span: the
// application's own commands on a shared client are left to its own
// instrumentation, and with no SDK or no trace a command costs one context
// lookup and no allocation. An outbox with the same prefix on the same
// client is traced by this hook too; give an outbox on a client of its own
// WithOutboxTracerProvider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracerProvider = tp }
}

// traceClient adds the tracing hook for keys under prefix to rdb, unless
// tp (nil: the global provider) is the no-op provider.
func traceClient(rdb redis.UniversalClient, tp trace.TracerProvider, prefix string) {
	tracer := telemetry.StoreTracer(tp, tracerScope)
	if tracer == nil {
		return
	}
	rdb.AddHook(&tracingHook{
		tracer:  tracer,
		marker:  prefix + ":{",
		scripts: scriptNames(),
		attrs:   serverAttributes(rdb),
	})
}

// tracingHook is the redis.Hook of WithTracerProvider.
type tracingHook struct {
	tracer  trace.Tracer
	marker  string            // "{prefix}:{", how every key of ours begins
	scripts map[string]string // SHA-1 and source of each script → its name
	attrs   []attribute.KeyValue
}

// tracedKey marks a context whose command one tracing hook already spans,
// so that a second hook on the same client (two stores or a store and an
// outbox sharing it) adds no second span.
type tracedKey struct{}

func (h *tracingHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *tracingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !h.wants(ctx) || !h.ours(cmd) {
			return next(ctx, cmd)
		}
		op, summary := h.describe(cmd)
		ctx, span := h.start(ctx, op, summary, 0)
		err := next(ctx, cmd)
		h.end(span, err)
		return err
	}
}

func (h *tracingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !h.wants(ctx) || !h.anyOurs(cmds) {
			return next(ctx, cmds)
		}
		op, summary := h.describeBatch(cmds)
		ctx, span := h.start(ctx, op, summary, len(cmds))
		err := next(ctx, cmds)
		h.end(span, firstFailure(cmds, err))
		return err
	}
}

// wants reports whether a command sent with ctx gets a span: inside a
// recording span that no tracing hook made for this very command.
func (h *tracingHook) wants(ctx context.Context) bool {
	return trace.SpanFromContext(ctx).IsRecording() && ctx.Value(tracedKey{}) == nil
}

// ours reports whether cmd touches a key under the store's prefix. It
// only compares; no argument is kept.
func (h *tracingHook) ours(cmd redis.Cmder) bool {
	args := cmd.Args()
	for i := 1; i < len(args); i++ {
		if s, ok := args[i].(string); ok && strings.HasPrefix(s, h.marker) {
			return true
		}
	}
	return false
}

// anyOurs reports whether any command of a pipeline is ours (the first
// of a transaction is MULTI, which has no key).
func (h *tracingHook) anyOurs(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if h.ours(c) {
			return true
		}
	}
	return false
}

// describe names one command: its operation ("GETDEL", "EVALSHA") and,
// for one of this package's scripts, a summary with the script's name.
func (h *tracingHook) describe(cmd redis.Cmder) (op, summary string) {
	op = strings.ToUpper(cmd.Name())
	switch op {
	case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO":
		if args := cmd.Args(); len(args) > 1 {
			if s, ok := args[1].(string); ok {
				if name, ok := h.scripts[s]; ok {
					summary = op + " " + name
				}
			}
		}
	}
	return op, summary
}

// describeBatch names a pipeline as the semantic conventions do: "BATCH"
// and the operation when every command has the same one ("BATCH EVALSHA"),
// with the script when they all run the same script.
func (h *tracingHook) describeBatch(cmds []redis.Cmder) (op, summary string) {
	op, summary = h.describe(cmds[0])
	for _, c := range cmds[1:] {
		o, s := h.describe(c)
		if o != op {
			return "BATCH", ""
		}
		if s != summary {
			summary = ""
		}
	}
	if summary != "" {
		summary = "BATCH " + summary
	}
	return "BATCH " + op, summary
}

func (h *tracingHook) start(ctx context.Context, op, summary string, batch int) (context.Context, trace.Span) {
	name := op
	attrs := make([]attribute.KeyValue, 0, len(h.attrs)+3)
	attrs = append(attrs, h.attrs...)
	attrs = append(attrs, semconv.DBOperationName(op))
	if summary != "" {
		name = summary
		attrs = append(attrs, semconv.DBQuerySummary(summary))
	}
	if batch > 0 {
		attrs = append(attrs, semconv.DBOperationBatchSize(batch))
	}
	ctx, span := h.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return context.WithValue(ctx, tracedKey{}, true), span
}

// end ends span, marking a failure by its class only: error messages can
// quote what was sent.
func (h *tracingHook) end(span trace.Span, err error) {
	if err != nil && !errors.Is(err, redis.Nil) {
		class := errorType(err)
		span.SetAttributes(semconv.ErrorTypeKey.String(class))
		span.SetStatus(codes.Error, class)
	}
	span.End()
}

// firstFailure is the first error of a pipeline's commands other than
// redis.Nil, or err when none has one.
func firstFailure(cmds []redis.Cmder, err error) error {
	for _, c := range cmds {
		if e := c.Err(); e != nil && !errors.Is(e, redis.Nil) {
			return e
		}
	}
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}

// errorType classifies err for error.type: the prefix of a Redis error
// reply ("NOSCRIPT", "LOADING", "ERR"), or "timeout", "canceled", "closed"
// or "io" for a failure on the client's side.
func errorType(err error) string {
	var rerr redis.Error
	var nerr net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout():
		return "timeout"
	case errors.Is(err, redis.ErrClosed):
		return "closed"
	case errors.As(err, &rerr):
		return replyPrefix(rerr.Error())
	}
	return "io"
}

// replyPrefix is the error code a Redis error reply begins with, or "ERR"
// when it begins with anything else (a script's own message).
func replyPrefix(msg string) string {
	word, _, _ := strings.Cut(msg, " ")
	if word == "" || len(word) > 24 {
		return "ERR"
	}
	for i := 0; i < len(word); i++ {
		if c := word[i]; (c < 'A' || c > 'Z') && c != '_' {
			return "ERR"
		}
	}
	return word
}

// serverAttributes are the attributes every span of rdb carries:
// db.system.name and, for a standalone client on TCP, the database index
// and the server's host and port. A Cluster, Ring or failover client
// talks to several servers, so its spans name none.
func serverAttributes(rdb redis.UniversalClient) []attribute.KeyValue {
	attrs := []attribute.KeyValue{semconv.DBSystemNameRedis}
	c, ok := rdb.(*redis.Client)
	if !ok {
		return attrs
	}
	opt := c.Options()
	if opt.Network != "" && opt.Network != "tcp" {
		return attrs
	}
	host, port, err := net.SplitHostPort(opt.Addr)
	if err != nil || host == "FailoverClient" {
		return attrs
	}
	attrs = append(attrs, semconv.DBNamespace(strconv.Itoa(opt.DB)), semconv.ServerAddress(host))
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, semconv.ServerPort(p))
	}
	return attrs
}

// scriptNames maps the SHA-1 and the source of every Lua script of this
// package (store and outbox) to a short name for span summaries.
func scriptNames() map[string]string {
	named := map[string]string{
		consumeCodeScript:        "consume_code",
		takeTokenScript:          "take_token",
		dropCodeScript:           "drop_code",
		dropIfEqualScript:        "drop_if_equal",
		gcraScript:               "gcra",
		refundScript:             "gcra_refund",
		findOrCreateUserScript:   "find_or_create_user",
		putPendingScript:         "put_pending",
		pollPendingScript:        "poll_pending",
		linkPendingScript:        "link_pending",
		consumeFromScript:        "consume_token_from",
		sessionCreateScript:      "session_create",
		sessionIndexScript:       "session_index",
		sessionLookupScript:      "session_lookup",
		sessionRotateScript:      "session_rotate",
		sessionRevokeScript:      "session_revoke",
		outboxAckScript:          "outbox_ack",
		outboxRetryScript:        "outbox_retry",
		outboxDeadScript:         "outbox_dead",
		outboxPromoteScript:      "outbox_promote",
		outboxDropConsumerScript: "outbox_drop_consumer",
		outboxPruneScript:        "outbox_prune",
	}
	m := make(map[string]string, 2*len(named))
	for src, name := range named {
		m[src] = name
		m[redis.NewScript(src).Hash()] = name
	}
	return m
}
