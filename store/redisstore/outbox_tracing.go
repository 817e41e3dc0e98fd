package redisstore

import "go.opentelemetry.io/otel/trace"

// WithOutboxTracerProvider makes NewOutbox add the tracing hook of
// WithTracerProvider to its client, for the outbox's own round trips
// (such as the XADD of a send inside a SendLink span); nil means
// OpenTelemetry's global provider. Without this option
// NewOutbox adds no hook: on a client it shares with a Store of the same
// prefix, the usual setup, the Store's hook already traces the outbox's
// commands. Should both hooks be on one client anyway, each command still
// gets one span.
func WithOutboxTracerProvider(tp trace.TracerProvider) OutboxOption {
	return func(c *outboxConfig) { c.traced, c.tracerProvider = true, tp }
}
