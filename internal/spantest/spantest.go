// Package spantest records OpenTelemetry spans for the stores' tracing
// tests and checks what every store's spans must satisfy: the shape under
// a Service span, and that no secret or address reaches a span.
package spantest

import (
	"context"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// Rig records the spans of a tracer provider.
type Rig struct {
	// Recorder holds every ended span of Provider.
	Recorder *tracetest.SpanRecorder
	// Provider is the provider to hand to the code under test.
	Provider *sdktrace.TracerProvider
}

// NewRig returns a Rig recording in memory.
func NewRig() *Rig {
	rec := tracetest.NewSpanRecorder()
	return &Rig{Recorder: rec, Provider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))}
}

// Trace runs f inside a root span, as a host's request middleware would,
// and returns the spans f made under it.
func (r *Rig) Trace(f func(ctx context.Context)) []sdktrace.ReadOnlySpan {
	ctx, root := r.Provider.Tracer("test").Start(context.Background(), "request")
	f(ctx)
	root.End()
	var out []sdktrace.ReadOnlySpan
	for _, s := range r.Recorder.Ended() {
		if s.SpanContext().TraceID() == root.SpanContext().TraceID() && s.SpanContext().SpanID() != root.SpanContext().SpanID() {
			out = append(out, s)
		}
	}
	return out
}

// ServiceChildren checks that spans are one Service span named service
// and its client children, and returns the children's names in order.
func ServiceChildren(t testing.TB, spans []sdktrace.ReadOnlySpan, service string) []string {
	t.Helper()
	var parent sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == service {
			parent = s
		}
	}
	if parent == nil {
		t.Fatalf("no %s span among %d", service, len(spans))
	}
	var names []string
	for _, s := range spans {
		if s == parent {
			continue
		}
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Fatalf("span %q is not a child of %s", s.Name(), service)
		}
		if s.SpanKind() != trace.SpanKindClient {
			t.Errorf("span %q has kind %v, want client", s.Name(), s.SpanKind())
		}
		names = append(names, s.Name())
	}
	return names
}

// AssertNoSecrets fails when a span's name, status or any attribute value
// (of the span or its events) contains one of secrets, in any case.
func AssertNoSecrets(t testing.TB, spans []sdktrace.ReadOnlySpan, secrets []string) {
	t.Helper()
	for _, s := range spans {
		texts := []string{s.Name(), s.Status().Description}
		for _, a := range s.Attributes() {
			texts = append(texts, a.Value.String())
		}
		for _, e := range s.Events() {
			for _, a := range e.Attributes {
				texts = append(texts, a.Value.String())
			}
		}
		for _, text := range texts {
			for _, secret := range secrets {
				if secret != "" && strings.Contains(strings.ToLower(text), strings.ToLower(secret)) {
					t.Errorf("span %q carries %q in %q", s.Name(), secret, text)
				}
			}
		}
	}
}

// Attr returns the value of s's attribute key as a string, "" when unset.
func Attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value.String()
		}
	}
	return ""
}
