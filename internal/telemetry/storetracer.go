package telemetry

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// StoreTracer is the tracer of scope on tp for a store's own spans (its
// WithTracerProvider option): nil tp means OpenTelemetry's global provider
// as it is now, and the no-op provider means no tracing at all, for which
// StoreTracer returns nil so that the store adds no hook and does no work
// per call.
func StoreTracer(tp trace.TracerProvider, scope string) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if _, off := tp.(noop.TracerProvider); off {
		return nil
	}
	return tp.Tracer(scope)
}
