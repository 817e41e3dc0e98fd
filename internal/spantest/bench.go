package spantest

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/magiclink-go/magiclink/store"
)

// BenchmarkLookup measures what tracing costs one store call, a lookup of
// a missing user, on the store open returns for a tracer provider:
// "none" with the no-op provider, "global" with nil (the default global
// provider, no SDK installed), "recording" inside a recording span of the
// rig's SDK provider.
func (r *Rig) BenchmarkLookup(b *testing.B, open func(b *testing.B, tp trace.TracerProvider) store.Users) {
	for _, c := range []struct {
		name string
		tp   trace.TracerProvider
		ctx  func() context.Context
	}{
		{"none", noop.NewTracerProvider(), context.Background},
		{"global", nil, context.Background},
		{"recording", r.Provider, func() context.Context {
			ctx, _ := r.Provider.Tracer("bench").Start(context.Background(), "request")
			return ctx
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			st := open(b, c.tp)
			ctx := c.ctx()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := st.UserByID(ctx, "nobody"); err == nil {
					b.Fatal("found nobody")
				}
			}
		})
	}
}
