package telemetry

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// collect reads every metric the reader holds, by name.
func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// sum returns the counter value for the attribute set attrs.
func sum(t *testing.T, m metricdata.Metrics, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	want := attribute.NewSet(attrs...)
	s, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is %T, not an int64 sum", m.Name, m.Data)
	}
	for _, dp := range s.DataPoints {
		if dp.Attributes.Equals(&want) {
			return dp.Value
		}
	}
	return 0
}

func newTest(t *testing.T) (*Instruments, *sdkmetric.ManualReader) {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	in, err := New(mp, tracenoop.NewTracerProvider())
	if err != nil {
		t.Fatal(err)
	}
	return in, r
}

func TestCountersByResult(t *testing.T) {
	t.Parallel()
	in, r := newTest(t)
	ctx := context.Background()
	in.Send(ctx, Result)
	in.Send(ctx, Result)
	in.Send(ctx, "RATE_LIMITED")
	in.Verify(ctx, "link", Result)
	in.Verify(ctx, "code", "CODE_INVALID")
	in.Approval(ctx, "MATCH_INVALID")
	in.LimitDenied(ctx, "send_ip")
	in.Delivery(ctx, "temporary", 30*time.Millisecond)

	m := collect(t, r)
	checks := []struct {
		metric string
		attrs  []attribute.KeyValue
		want   int64
	}{
		{"magiclink.sends", []attribute.KeyValue{attribute.String("result", "ok")}, 2},
		{"magiclink.sends", []attribute.KeyValue{attribute.String("result", "RATE_LIMITED")}, 1},
		{"magiclink.verifies", []attribute.KeyValue{attribute.String("method", "link"), attribute.String("result", "ok")}, 1},
		{"magiclink.verifies", []attribute.KeyValue{attribute.String("method", "code"), attribute.String("result", "CODE_INVALID")}, 1},
		{"magiclink.verifies", []attribute.KeyValue{attribute.String("method", "code"), attribute.String("result", "ok")}, 0},
		{"magiclink.approvals", []attribute.KeyValue{attribute.String("result", "MATCH_INVALID")}, 1},
		{"magiclink.rate_limit.denials", []attribute.KeyValue{attribute.String("scope", "send_ip")}, 1},
		{"magiclink.mail.deliveries", []attribute.KeyValue{attribute.String("result", "temporary")}, 1},
	}
	for _, c := range checks {
		if got := sum(t, m[c.metric], c.attrs...); got != c.want {
			t.Errorf("%s%v = %d, want %d", c.metric, c.attrs, got, c.want)
		}
	}
	h, ok := m["magiclink.mail.delivery.duration"].Data.(metricdata.Histogram[float64])
	if !ok || len(h.DataPoints) != 1 || h.DataPoints[0].Count != 1 || h.DataPoints[0].Sum != 0.03 {
		t.Errorf("delivery duration histogram = %+v, want one 0.03 s observation", m["magiclink.mail.delivery.duration"].Data)
	}
}

func TestRequestDurationByRouteAndStatus(t *testing.T) {
	t.Parallel()
	in, r := newTest(t)
	in.Request(context.Background(), "POST /auth/verify", 303, time.Millisecond)
	in.Request(context.Background(), "POST /auth/verify", 418, time.Millisecond)
	h := collect(t, r)["http.server.request.duration"].Data.(metricdata.Histogram[float64])
	got := map[string]uint64{}
	for _, dp := range h.DataPoints {
		v, _ := dp.Attributes.Value("http.response.status_code")
		got[v.AsString()] += dp.Count
	}
	if got["303"] != 1 || got["418"] != 1 || len(got) != 2 {
		t.Errorf("requests by status = %v, want 303:1 418:1", got)
	}
}

func TestOutboxGauges(t *testing.T) {
	t.Parallel()
	in, r := newTest(t)
	reg, err := in.ObserveOutbox("test", func(context.Context) (int64, time.Duration, error) { return 7, 90 * time.Second, nil })
	if err != nil {
		t.Fatal(err)
	}
	m := collect(t, r)
	d := m["magiclink.outbox.depth"].Data.(metricdata.Gauge[int64])
	a := m["magiclink.outbox.oldest_age"].Data.(metricdata.Gauge[float64])
	if d.DataPoints[0].Value != 7 || a.DataPoints[0].Value != 90 {
		t.Errorf("outbox gauges = %d, %v; want 7, 90", d.DataPoints[0].Value, a.DataPoints[0].Value)
	}
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	if _, still := collect(t, r)["magiclink.outbox.depth"]; still {
		t.Error("outbox gauge still reported after Unregister")
	}
}

func TestNilInstrumentsRecordNothing(t *testing.T) {
	t.Parallel()
	var in *Instruments
	ctx := context.Background()
	in.Send(ctx, Result)
	in.Verify(ctx, "link", Result)
	in.Approval(ctx, Result)
	in.LimitDenied(ctx, "x")
	in.Delivery(ctx, Result, time.Second)
	in.Request(ctx, "/", 200, time.Second)
	if got, span := in.Start(ctx, "x"); got != ctx || span != nil {
		t.Error("nil Instruments.Start started a span")
	}
}

func TestStatusText(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]string{200: "200", 303: "303", 418: "418", 502: "502", 0: "other", 1000: "other"} {
		if got := statusText(code); got != want {
			t.Errorf("statusText(%d) = %q, want %q", code, got, want)
		}
	}
}

// BenchmarkRecordNoSDK is the cost on every request of a host that installed
// no OpenTelemetry SDK: it must stay allocation-free.
func BenchmarkRecordNoSDK(b *testing.B) {
	in, err := New(nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		in.Send(ctx, Result)
		in.Verify(ctx, "link", Result)
		in.Request(ctx, "POST /auth/verify", 303, time.Millisecond)
	}
}
