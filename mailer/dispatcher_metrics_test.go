package mailer

import (
	"context"
	"errors"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// deliveriesByResult reads magiclink.mail.deliveries from r by result.
func deliveriesByResult(t *testing.T, r *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "magiclink.mail.deliveries" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				v, _ := dp.Attributes.Value("result")
				got[v.AsString()] += dp.Value
			}
		}
	}
	return got
}

// TestDispatcherDeliveryMetrics: one mail retried once then delivered, one
// refused for good: the counter shows each attempt by result.
func TestDispatcherDeliveryMetrics(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	f := &fakeMailer{script: []error{Temporary(errors.New("451 busy")), nil, Permanent(errors.New("550 no such user"))}}
	d := NewDispatcher(f, DispatcherOptions{Workers: 1, MeterProvider: mp, Logger: discardLogger(),
		After: func(time.Duration) <-chan time.Time { return closedTimer() }})
	ctx := context.Background()
	if err := d.Send(ctx, msgTo("a@example.com")); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Send(ctx, msgTo("b@example.com")); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := deliveriesByResult(t, reader)
	want := map[string]int64{"temporary": 1, "ok": 1, "permanent": 1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("deliveries[%s] = %d, want %d (all %v)", k, got[k], v, got)
		}
	}
}
