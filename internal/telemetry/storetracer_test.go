package telemetry

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"
)

func TestStoreTracer(t *testing.T) {
	t.Parallel()
	if tr := StoreTracer(noop.NewTracerProvider(), "s"); tr != nil {
		t.Errorf("StoreTracer(noop) = %T, want nil: tracing off", tr)
	}
	if tr := StoreTracer(nil, "s"); tr == nil {
		t.Error("StoreTracer(nil) = nil, want the global provider's tracer")
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	_, span := StoreTracer(tp, "example/store").Start(context.Background(), "op")
	span.End()
	spans := rec.Ended()
	if len(spans) != 1 || spans[0].Name() != "op" || spans[0].InstrumentationScope().Name != "example/store" {
		t.Fatalf("spans = %v, want one \"op\" of scope example/store", spans)
	}
}
