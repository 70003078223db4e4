// Package metrics is the Prometheus registry that Keysmith's packages register their metrics
// in: the web platform its HTTP metrics, each service its own. It holds no metric of a service;
// it only registers those of the process (the Go runtime, the process, the database pool and
// the store's own counts), and gives the others a short way to register theirs. One registry
// per server, no global one, so that several servers in one process, as in tests, count apart.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"keysmith/models"
)

// Registry is where a server's metrics are registered, and what /metrics serves.
type Registry struct {
	registry *prometheus.Registry
}

// New returns a registry holding the metrics of the process: the Go runtime's, the process's,
// the database pool's, and what the store counts (passwords hashed, statements sent).
func New(store *models.Store) *Registry {
	r := &Registry{registry: prometheus.NewRegistry()}
	r.GaugeFunc("keysmith_password_hashes_running", "Passwords being hashed now (argon2id, at sign-in); bounded by the memory they may take.", func() float64 {
		return float64(store.PasswordHashStats().Running)
	})
	r.GaugeFunc("keysmith_password_hashes_waiting", "Sign-ins queued for the memory to hash their password; past the queue's bound they are refused (busy).", func() float64 {
		return float64(store.PasswordHashStats().Waiting)
	})
	r.registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "keysmith_password_hashes_total",
			Help: "Passwords checked at sign-in (with a re-hash, for a password hashed with old parameters).",
		}, func() float64 { return float64(store.PasswordHashStats().Done) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "keysmith_database_statements_total",
			Help: "SQL statements this instance has sent to the database (but for the revocation listener's pings), counted by the store.",
		}, func() float64 { return float64(store.Statements()) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(store.Pool(), string(store.Dialect())),
	)
	return r
}

// Counter registers a counter.
func (r *Registry) Counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	r.registry.MustRegister(c)
	return c
}

// CounterVec registers a counter with labels. Their values must come from a bounded set, so
// that no client can make new series.
func (r *Registry) CounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	r.registry.MustRegister(c)
	return c
}

// Gauge registers a gauge that its owner sets.
func (r *Registry) Gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	r.registry.MustRegister(g)
	return g
}

// GaugeFunc registers a gauge read from value at each scrape.
func (r *Registry) GaugeFunc(name, help string, value func() float64) {
	r.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, value))
}

// HistogramVec registers a histogram with labels, bounded as CounterVec's.
func (r *Registry) HistogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	r.registry.MustRegister(h)
	return h
}

// Handler serves the registry in Prometheus's exposition format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.registry, promhttp.HandlerOpts{Registry: r.registry})
}
