// Package telemetry holds the OpenTelemetry instruments the library records
// with: counters by result code, latency histograms, outbox gauges and spans.
//
// It uses the OpenTelemetry API only. With no SDK installed by the host every
// instrument is a no-op, so recording costs next to nothing. Attributes carry
// result codes, scopes, methods and route patterns, never an address, token,
// code or key: the value sets are closed, so metrics cardinality stays small.
package telemetry

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of every instrument and span.
const ScopeName = "github.com/magiclink-go/magiclink"

// Instruments records the library's metrics and spans. The zero value is
// not usable; a nil *Instruments records nothing, so components built
// without telemetry need no checks at call sites.
type Instruments struct {
	tracer trace.Tracer
	meter  metric.Meter

	sends            metric.Int64Counter
	verifies         metric.Int64Counter
	approvals        metric.Int64Counter
	limitDenials     metric.Int64Counter
	deliveries       metric.Int64Counter
	sessions         metric.Int64Counter
	requestDuration  metric.Float64Histogram
	deliveryDuration metric.Float64Histogram

	byResult, byMethodResult, byScope, byRouteStatus, byEventResult *labels
}

// New creates the instruments on mp and tp; nil means the global providers,
// which are no-ops until the host installs an SDK.
func New(mp metric.MeterProvider, tp trace.TracerProvider) (*Instruments, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	in := &Instruments{
		tracer:         tp.Tracer(ScopeName),
		meter:          mp.Meter(ScopeName),
		byResult:       newLabels("result"),
		byMethodResult: newLabels("method", "result"),
		byScope:        newLabels("scope"),
		byRouteStatus:  newLabels("http.route", "http.response.status_code"),
		byEventResult:  newLabels("event", "result"),
	}
	if err := in.createCounters(); err != nil {
		return nil, err
	}
	if err := in.createHistograms(); err != nil {
		return nil, err
	}
	return in, nil
}

func (in *Instruments) createCounters() error {
	var err error
	counters := []struct {
		dst  *metric.Int64Counter
		name string
		desc string
	}{
		{&in.sends, "magiclink.sends", "Sign-in mail requests by result code."},
		{&in.verifies, "magiclink.verifies", "Link and code verifications by method and result code."},
		{&in.approvals, "magiclink.approvals", "Cross-device approvals by result code."},
		{&in.limitDenials, "magiclink.rate_limit.denials", "Requests a rate limit refused, by scope."},
		{&in.deliveries, "magiclink.mail.deliveries", "Mail delivery attempts by result."},
		{&in.sessions, "magiclink.sessions", "Session starts, refreshes and ends by event and result code; result=reused is a replaced refresh token presented again."},
	}
	for _, c := range counters {
		if *c.dst, err = in.meter.Int64Counter(c.name, metric.WithDescription(c.desc), metric.WithUnit("{event}")); err != nil {
			return err
		}
	}
	return nil
}

// latencyBuckets suit calls that take from tens of microseconds (memory
// store) to seconds (a slow SMTP server), in seconds.
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

func (in *Instruments) createHistograms() error {
	var err error
	in.requestDuration, err = in.meter.Float64Histogram("http.server.request.duration",
		metric.WithDescription("Duration of HTTP requests the adapter served."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(latencyBuckets...))
	if err != nil {
		return err
	}
	in.deliveryDuration, err = in.meter.Float64Histogram("magiclink.mail.delivery.duration",
		metric.WithDescription("Duration of one mail delivery attempt."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(latencyBuckets...))
	return err
}

// labels caches one attribute option per value pair of one instrument's
// label names, so that recording allocates nothing after the first time a
// value is seen. Values come from closed sets (codes, scopes, routes), so
// the cache stays small. Recorders look it up only when their instrument
// is Enabled: with no SDK installed nothing would take the options.
type labels struct {
	names [2]string
	mu    sync.RWMutex
	opts  map[[2]string]options
}

// options are the cached option slices of one label value pair; passing a
// slice that already exists with ... allocates nothing, where a fresh
// variadic argument escapes through the instrument's interface.
type options struct {
	add    []metric.AddOption
	record []metric.RecordOption
}

func newLabels(names ...string) *labels {
	l := &labels{opts: map[[2]string]options{}}
	copy(l.names[:], names)
	return l
}

// option returns the measurement options for the label values v0, v1.
func (l *labels) option(v0, v1 string) options {
	key := [2]string{v0, v1}
	l.mu.RLock()
	o, ok := l.opts[key]
	l.mu.RUnlock()
	if ok {
		return o
	}
	attrs := []attribute.KeyValue{attribute.String(l.names[0], v0)}
	if l.names[1] != "" {
		attrs = append(attrs, attribute.String(l.names[1], v1))
	}
	set := metric.WithAttributeSet(attribute.NewSet(attrs...))
	o = options{add: []metric.AddOption{set}, record: []metric.RecordOption{set}}
	l.mu.Lock()
	l.opts[key] = o
	l.mu.Unlock()
	return o
}

// Result is the result label of a call that succeeded.
const Result = "ok"

// Send counts one SendLink outcome: "ok" or an error code.
func (in *Instruments) Send(ctx context.Context, result string) {
	if in == nil || !in.sends.Enabled(ctx) {
		return
	}
	in.sends.Add(ctx, 1, in.byResult.option(result, "").add...)
}

// Verify counts one verification outcome by method ("link", "code").
func (in *Instruments) Verify(ctx context.Context, method, result string) {
	if in == nil || !in.verifies.Enabled(ctx) {
		return
	}
	in.verifies.Add(ctx, 1, in.byMethodResult.option(method, result).add...)
}

// Approval counts one cross-device approval outcome.
func (in *Instruments) Approval(ctx context.Context, result string) {
	if in == nil || !in.approvals.Enabled(ctx) {
		return
	}
	in.approvals.Add(ctx, 1, in.byResult.option(result, "").add...)
}

// Session counts one session event ("start", "refresh", "revoke",
// "sign_out_local", "sign_out_others", "sign_out_global") and its result:
// "ok", an error code, or "reused" for a refresh with a replaced token.
func (in *Instruments) Session(ctx context.Context, event, result string) {
	if in == nil || !in.sessions.Enabled(ctx) {
		return
	}
	in.sessions.Add(ctx, 1, in.byEventResult.option(event, result).add...)
}

// LimitDenied counts one rate-limit refusal in scope (such as "send_ip").
func (in *Instruments) LimitDenied(ctx context.Context, scope string) {
	if in == nil || !in.limitDenials.Enabled(ctx) {
		return
	}
	in.limitDenials.Add(ctx, 1, in.byScope.option(scope, "").add...)
}

// Delivery records one mail delivery attempt: result is "ok", "temporary"
// or "permanent".
func (in *Instruments) Delivery(ctx context.Context, result string, d time.Duration) {
	if in == nil {
		return
	}
	o := in.byResult.option(result, "")
	in.deliveries.Add(ctx, 1, o.add...)
	in.deliveryDuration.Record(ctx, d.Seconds(), o.record...)
}

// Delivered records one delivery attempt that took d and ended in err;
// temporary says whether a failure may be retried. The result label is
// "ok", "temporary" or "permanent".
func (in *Instruments) Delivered(ctx context.Context, err error, temporary bool, d time.Duration) {
	result := Result
	switch {
	case err == nil:
	case temporary:
		result = "temporary"
	default:
		result = "permanent"
	}
	in.Delivery(ctx, result, d)
}

// RecordsRequests reports whether Request would record anything, so that
// a caller reads the clock for a request's duration only when it is taken:
// a clock read is not free on every host.
func (in *Instruments) RecordsRequests(ctx context.Context) bool {
	return in != nil && in.requestDuration.Enabled(ctx)
}

// Request records one HTTP request by route pattern and status class.
func (in *Instruments) Request(ctx context.Context, route string, status int, d time.Duration) {
	if in == nil || !in.requestDuration.Enabled(ctx) {
		return
	}
	in.requestDuration.Record(ctx, d.Seconds(), in.byRouteStatus.option(route, statusText(status)).record...)
}

// statusText formats an HTTP status without allocating for the common ones.
func statusText(code int) string {
	switch code {
	case 200:
		return "200"
	case 204:
		return "204"
	case 303:
		return "303"
	case 400:
		return "400"
	case 401:
		return "401"
	case 403:
		return "403"
	case 404:
		return "404"
	case 429:
		return "429"
	case 503:
		return "503"
	}
	if code < 100 || code > 999 {
		return "other"
	}
	return string([]byte{byte('0' + code/100), byte('0' + code/10%10), byte('0' + code%10)})
}

// Start starts a span named name ("magiclink.SendLink") as a child of the
// span in ctx. With no recording span in ctx it starts none and returns ctx
// unchanged: spans belong inside the host's own traces (such as the server
// span of its HTTP middleware), and a trace of one library call with no
// parent is noise that would cost allocations on every request. The span
// is nil when none was started. Callers add no attribute that holds an
// address or a secret.
func (in *Instruments) Start(ctx context.Context, name string) (context.Context, trace.Span) {
	if in == nil || !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nil
	}
	return in.tracer.Start(ctx, name)
}

// OutboxStats reports the depth of an outbox and the age of its oldest
// entry, for the outbox gauges.
type OutboxStats func(ctx context.Context) (depth int64, oldest time.Duration, err error)

// ObserveOutbox registers gauges for an outbox's depth and oldest-entry age,
// read from stats at each collection and labelled with the outbox's name
// (several may run in one process). Unregister the result on Close.
func (in *Instruments) ObserveOutbox(name string, stats OutboxStats) (metric.Registration, error) {
	depth, err := in.meter.Int64ObservableGauge("magiclink.outbox.depth",
		metric.WithDescription("Mails accepted and not yet delivered or dead-lettered."), metric.WithUnit("{mail}"))
	if err != nil {
		return nil, err
	}
	age, err := in.meter.Float64ObservableGauge("magiclink.outbox.oldest_age",
		metric.WithDescription("Age of the oldest mail still waiting for delivery."), metric.WithUnit("s"))
	if err != nil {
		return nil, err
	}
	labels := metric.WithAttributeSet(attribute.NewSet(attribute.String("outbox", name)))
	return in.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		n, oldest, err := stats(ctx)
		if err != nil {
			return err
		}
		o.ObserveInt64(depth, n, labels)
		o.ObserveFloat64(age, oldest.Seconds(), labels)
		return nil
	}, depth, age)
}
