package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// metrics is the OpenTelemetry SDK this server installs for the library,
// exported in the Prometheus format on a listener of its own (METRICS_ADDR),
// so that metrics are never reachable through the public port.
type metrics struct {
	provider *sdkmetric.MeterProvider
	server   *http.Server
	listener net.Listener
}

// newMetrics starts serving GET /metrics on addr. The registry is private to
// this server (not Prometheus' global one), so two servers in one process
// do not mix their figures.
func newMetrics(addr string) (*metrics, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("METRICS_ADDR: prometheus exporter: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("METRICS_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	m := &metrics{
		provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)),
		server:   &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		listener: ln,
	}
	go func() { _ = m.server.Serve(ln) }()
	return m, nil
}

// Addr is the address /metrics is served on.
func (m *metrics) Addr() string { return m.listener.Addr().String() }

// Close stops the listener and the SDK.
func (m *metrics) Close(ctx context.Context) error {
	return errors.Join(m.server.Shutdown(ctx), m.provider.Shutdown(ctx))
}
