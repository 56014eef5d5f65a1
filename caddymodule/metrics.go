package caddymodule

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

// The collectors are made once per process and registered in Caddy's
// registry on every Provision: Caddy makes a new registry per config load,
// and collectors kept from the first one would stop being scraped after a
// reload. Registering the same collectors keeps their values.
var guardMetrics struct {
	once            sync.Once
	requests        *prometheus.CounterVec
	verifyFailures  *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	upstreamDur     *prometheus.HistogramVec
	storeErrors     *prometheus.CounterVec
}

// durationBuckets span a fast rejection to a provider's longest deadline.
var durationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

func initMetrics() {
	guardMetrics.once.Do(func() {
		guardMetrics.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callback_guard_requests_total",
			Help: "Callback deliveries by provider and result (forwarded, rejected, replayed, timeout, too_large, upstream_error, store_error, reported).",
		}, []string{"provider", "result"})
		guardMetrics.verifyFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callback_guard_verify_failures_total",
			Help: "Deliveries that failed verification, by provider and reason class.",
		}, []string{"provider", "reason"})
		guardMetrics.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "callback_guard_request_duration_seconds",
			Help:    "Time from a delivery's arrival to the provider's answer.",
			Buckets: durationBuckets,
		}, []string{"provider"})
		guardMetrics.upstreamDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "callback_guard_upstream_duration_seconds",
			Help:    "Time the forward to the backend took, including answers after the deadline.",
			Buckets: durationBuckets,
		}, []string{"provider"})
		guardMetrics.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callback_guard_store_errors_total",
			Help: "Deduplication store operations that failed, by store kind.",
		}, []string{"store"})
	})
}

// registerMetrics registers the collectors in this config's registry.
func registerMetrics(reg prometheus.Registerer) error {
	initMetrics()
	for _, c := range []prometheus.Collector{
		guardMetrics.requests, guardMetrics.verifyFailures, guardMetrics.requestDuration,
		guardMetrics.upstreamDur, guardMetrics.storeErrors,
	} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return err
			}
		}
	}
	return nil
}

// results lists the result label values, in the order of resultIndex.
var results = []string{resultForwarded, resultRejected, resultReplayed, resultTimeout, resultTooLarge, resultUpstreamError, resultStoreError, resultReported}

// guardCounters are one guard's series, resolved once at provisioning so
// that the request path does no label lookup.
type guardCounters struct {
	results         map[string]prometheus.Counter
	reasons         map[verify.Reason]prometheus.Counter
	provider        string
	requestDuration prometheus.Observer
	upstreamDur     prometheus.Observer
}

func newGuardCounters(provider string) *guardCounters {
	initMetrics()
	gc := &guardCounters{
		provider:        provider,
		results:         make(map[string]prometheus.Counter, len(results)),
		reasons:         make(map[verify.Reason]prometheus.Counter),
		requestDuration: guardMetrics.requestDuration.WithLabelValues(provider),
		upstreamDur:     guardMetrics.upstreamDur.WithLabelValues(provider),
	}
	for _, r := range results {
		gc.results[r] = guardMetrics.requests.WithLabelValues(provider, r)
	}
	for _, r := range verify.Reasons {
		gc.reasons[r] = guardMetrics.verifyFailures.WithLabelValues(provider, string(r))
	}
	return gc
}

// done counts a delivery's result and the time the provider waited.
func (gc *guardCounters) done(result string, waited time.Duration) {
	gc.results[result].Inc()
	gc.requestDuration.Observe(waited.Seconds())
}

// failed counts a verification failure by reason class.
func (gc *guardCounters) failed(reason verify.Reason) {
	c, ok := gc.reasons[reason]
	if !ok {
		// The reason classes are a small fixed set; a reason first seen
		// here is looked up, not cached (the map is read concurrently).
		guardMetrics.verifyFailures.WithLabelValues(gc.provider, string(reason)).Inc()
		return
	}
	c.Inc()
}

// reporting is a view of the counters for failures forwarded under
// report_only: whatever the forward's result, it counts as reported.
func (gc *guardCounters) reporting() *guardCounters {
	rc := *gc
	rc.results = make(map[string]prometheus.Counter, len(gc.results))
	for r := range gc.results {
		rc.results[r] = gc.results[resultReported]
	}
	return &rc
}

func storeErrorCounter(kind string) prometheus.Counter {
	initMetrics()
	return guardMetrics.storeErrors.WithLabelValues(kind)
}
