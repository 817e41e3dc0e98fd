package httpadapter_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/ratelimit"
)

// TestLimitDenialsCountedByScope: the adapter's per-API-key and
// per-subject refusals are counted under their scopes, read through a real
// OpenTelemetry SDK.
func TestLimitDenialsCountedByScope(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	one := ratelimit.Rate{Limit: 1, Period: time.Hour, Burst: 1}
	e := newEnv(t, withLimits(magiclink.Limits{CreatePerAPIKey: one, AdminPerSubject: one}),
		func(c *magiclink.Config, _ *httpadapter.Config) {
			c.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		})
	e.putCustomer("cus_1", "customer@example.com", "org_energy")
	wantStatus(t, e.do(partnerReq(seed002Body)), http.StatusOK)
	wantStatus(t, e.do(partnerReq(seed002Body)), http.StatusTooManyRequests)
	wantStatus(t, e.do(adminReq(hs(t, claims()), `{"customerId":"cus_1"}`)), http.StatusOK)
	wantStatus(t, e.do(adminReq(hs(t, claims()), `{"customerId":"cus_1"}`)), http.StatusTooManyRequests)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "magiclink.rate_limit.denials" {
				for _, dp := range s.DataPoints {
					v, _ := dp.Attributes.Value("scope")
					got[v.AsString()] += dp.Value
				}
			}
		}
	}
	if want := map[string]int64{"api_key": 1, "admin_subject": 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("denials %v, want %v", got, want)
	}
}
