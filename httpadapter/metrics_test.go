package httpadapter_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
)

// TestRequestDurationByRoute: each request is recorded under its route
// pattern and status; a path holding a token never becomes a label.
func TestRequestDurationByRoute(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	e := newEnv(t, func(c *magiclink.Config, _ *httpadapter.Config) { c.MeterProvider = mp })

	wantStatus(t, e.do(jsonReq(httpadapter.PathSendMagicLink, `{"email":"ada@example.com","callback_origin":"`+appOrigin+`"}`)), http.StatusOK)
	wantStatus(t, e.do(jsonReq(httpadapter.PathSendMagicLink, `{`)), http.StatusBadRequest)
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, httpadapter.PathVerify+"?token_hash=secret-looking-value", nil))

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "http.server.request.duration" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				route, _ := dp.Attributes.Value("http.route")
				status, _ := dp.Attributes.Value("http.response.status_code")
				got[route.AsString()+" "+status.AsString()] += dp.Count
			}
		}
	}
	want := map[string]uint64{
		httpadapter.PathSendMagicLink + " 200": 1,
		httpadapter.PathSendMagicLink + " 400": 1,
		httpadapter.PathVerify + " 200":        1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("requests[%s] = %d, want %d (all %v)", k, got[k], v, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("unexpected series: %v", got)
	}
}
