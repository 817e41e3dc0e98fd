package outbox

import (
	"context"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/magiclink-go/magiclink/mailer"
)

type blockingMailer struct{ release chan struct{} }

func (b *blockingMailer) Send(ctx context.Context, _ *mailer.Message) error {
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return mailer.Temporary(ctx.Err())
	}
}

// TestOutboxMetrics: the depth gauge shows a queued mail while delivery is
// held, the oldest age grows with the clock, and the delivery is counted.
func TestOutboxMetrics(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var clock = now
	q := &memQueue{visibility: time.Minute, entries: map[string]*memEntry{}, added: make(chan struct{})}
	m := &blockingMailer{release: make(chan struct{})}
	ob, err := New(q, m, "metrics-test", mailer.OutboxOptions{
		Secret: []byte(strings.Repeat("s", 32)), Workers: 1, MeterProvider: mp,
		Now: func() time.Time { return clock },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := ob.Send(ctx, &mailer.Message{To: "a@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	clock = now.Add(90 * time.Second)
	collect := func() (depth int64, age float64, ok int64) {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(ctx, &rm); err != nil {
			t.Fatal(err)
		}
		for _, sm := range rm.ScopeMetrics {
			for _, met := range sm.Metrics {
				switch d := met.Data.(type) {
				case metricdata.Gauge[int64]:
					depth = d.DataPoints[0].Value
				case metricdata.Gauge[float64]:
					age = d.DataPoints[0].Value
				case metricdata.Sum[int64]:
					for _, dp := range d.DataPoints {
						if v, _ := dp.Attributes.Value("result"); v.AsString() == "ok" {
							ok += dp.Value
						}
					}
				}
			}
		}
		return
	}
	if depth, age, _ := collect(); depth != 1 || age != 90 {
		t.Errorf("held mail: depth %d, oldest age %v s; want 1 and 90", depth, age)
	}
	close(m.release)
	if err := ob.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := collect(); ok != 1 {
		t.Errorf("deliveries ok = %d, want 1", ok)
	}
}
