package web

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"keysmith/models"
)

// VerifyResult is how the verification of a presented key ended, as the metrics count it.
type VerifyResult int

// The results of a verification. Malformed, unknown, expired and disabled keys get the same
// 401; the metrics tell them apart for the operator.
const (
	ResultOK VerifyResult = iota
	// ResultStale: the database could not be asked, and the key was vouched for recently.
	ResultStale
	ResultMalformed
	ResultUnknown
	ResultExpired
	// ResultDisabled: the key exists but is disabled.
	ResultDisabled
	ResultWrongScope
	// ResultUnavailable: the database could not be asked, and the key could not be vouched for.
	ResultUnavailable
	// ResultError: the store failed in another way (answered 500).
	ResultError
	verifyResults
)

var verifyResultNames = [verifyResults]string{"ok", "stale", "malformed", "unknown", "expired", "disabled", "wrong_scope", "unavailable", "error"}

// Sign-in results, as keysmith_sign_ins_total counts them.
const (
	SignInSuccess     = "success"
	SignInFailure     = "failure"
	SignInThrottled   = "throttled"
	SignInUnavailable = "unavailable"
	// SignInBusy: refused at once, unchecked and uncounted, because as many passwords as the
	// memory allows were being checked and the queue behind them was full.
	SignInBusy = "busy"
)

// Metrics holds Keysmith's Prometheus metrics in a registry of their own (no global state), so
// that several servers in one process, as in tests, count apart. The counters on the key path
// are resolved once, so counting costs an atomic add.
type Metrics struct {
	registry *prometheus.Registry

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	verifications   [verifyResults]prometheus.Counter
	cacheHits       prometheus.Counter
	cacheMisses     prometheus.Counter
	// cacheRefreshes counts the cached keys read again in the background before their trust
	// ran out.
	cacheRefreshes prometheus.Counter
	// negativeCacheHits counts the unknown keys answered from memory, without a lookup.
	negativeCacheHits prometheus.Counter
	// indexRefusals counts the well-formed keys refused because the index of secret hashes
	// lacks theirs, without a lookup.
	indexRefusals prometheus.Counter
	revocations   prometheus.Counter
	usesWritten   prometheus.Counter
	usesDropped   prometheus.Counter
	// requestsUncounted counts requests left out of their key's daily count.
	requestsUncounted prometheus.Counter
	signIns           *prometheus.CounterVec
	// webhookDeliveries counts attempts to deliver webhook events by result.
	webhookDeliveries *prometheus.CounterVec
	webhookPending    prometheus.Gauge
	// auditChainBreaks counts the places where the scheduled check found the audit chain
	// broken, each once; auditChainVerified is the last position it verified.
	auditChainBreaks   prometheus.Counter
	auditChainVerified prometheus.Gauge
	// auditFeedHeldBack is how long the API's audit feed has held its oldest committed event
	// back.
	auditFeedHeldBack prometheus.Gauge
}

// NewMetrics registers Keysmith's metrics, with the Go runtime's, the process's and the
// database pool's.
func NewMetrics(store *models.Store) *Metrics {
	m := &Metrics{registry: prometheus.NewRegistry()}
	factory := func(c prometheus.Collector) { m.registry.MustRegister(c) }
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keysmith_http_requests_total",
		Help: "HTTP requests answered, by route pattern, method and status.",
	}, []string{"route", "method", "status"})
	m.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "keysmith_http_request_duration_seconds",
		Help:    "Time to answer HTTP requests, by route pattern and method.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method"})
	verifications := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keysmith_key_verifications_total",
		Help: "API key verifications, by result: ok, stale (accepted from memory while the database was unreachable), malformed, unknown, expired, disabled, wrong_scope, unavailable (refused with 503: the database could not be asked) or error.",
	}, []string{"result"})
	for result, name := range verifyResultNames {
		m.verifications[result] = verifications.WithLabelValues(name)
	}
	m.cacheHits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keysmith_key_cache_hits_total",
		Help: "Key verifications answered from this instance's cache of verified keys.",
	})
	m.cacheMisses = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keysmith_key_cache_misses_total",
		Help: "Key verifications that asked the database.",
	})
	m.cacheRefreshes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keysmith_key_cache_refreshes_total",
		Help: "Cached keys read again from the database shortly before their trust ran out, in the background, while requests were answered from the cache.",
	})
	m.negativeCacheHits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keysmith_key_negative_cache_hits_total",
		Help: "Unknown keys answered from this instance's memory of keys the database did not know seconds before: database lookups avoided.",
	})
	m.indexRefusals = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keysmith_key_index_refusals_total",
		Help: "Well-formed keys refused because no secret the database holds has their hash, as this instance's index of secret hashes tells without a database lookup.",
	})
	m.revocations = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keysmith_revocations_received_total",
		Help: "Revocation announcements heard by this instance's listener: keys deleted or disabled on any instance, evicted here if cached.",
	})
	m.usesWritten = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keysmith_key_uses_written_total",
		Help: "Gathered key uses (key, client and address) written to the database.",
	})
	m.usesDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keysmith_key_uses_dropped_total",
		Help: "Gathered key uses given up: past the memory bound while the database was unreachable, or unwritten at shutdown.",
	})
	m.requestsUncounted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keysmith_key_requests_uncounted_total",
		Help: "Requests left out of their key's daily count: past the memory bound while the database was unreachable, or unwritten at shutdown.",
	})
	m.signIns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keysmith_sign_ins_total",
		Help: "Console sign-in attempts, by result: success, failure (a wrong password, an unknown or disabled account, malformed input), throttled (429), busy (503: too many passwords being checked) or unavailable (503: the database could not be asked).",
	}, []string{"result"})
	for _, result := range []string{SignInSuccess, SignInFailure, SignInThrottled, SignInBusy, SignInUnavailable} {
		m.signIns.WithLabelValues(result)
	}
	m.webhookDeliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keysmith_webhook_deliveries_total",
		Help: "Attempts to deliver webhook events by this instance, by result: delivered (a 2xx answer), failed (to be retried later) or given_up (failed for the last time: too many attempts, or too old).",
	}, []string{"result"})
	for _, result := range []string{webhookDelivered, webhookFailed, webhookGivenUp} {
		m.webhookDeliveries.WithLabelValues(result)
	}
	m.webhookPending = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "keysmith_webhook_events_pending",
		Help: "Webhook events in the outbox neither delivered nor given up, as this instance's sender last counted them (0 without a webhook URL).",
	})
	m.auditChainBreaks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keysmith_audit_chain_breaks_total",
		Help: "Places where this instance's scheduled check found the audit log's chain broken (an event deleted, changed or inserted), each counted once. Any is an incident.",
	})
	m.auditChainVerified = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "keysmith_audit_chain_verified_position",
		Help: "The position of the newest audit event that this instance's scheduled check verified in the chain (0 before its first check).",
	})
	m.auditFeedHeldBack = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "keysmith_audit_feed_held_back_seconds",
		Help: "How long the oldest committed audit event that /api/v1/audit-events does not serve yet has waited since it was recorded: on PostgreSQL, a transaction that writes and stays open anywhere on the server holds back the events after it began (0 when none is held back, and on SQLite).",
	})
	for _, c := range []prometheus.Collector{m.requests, m.requestDuration, verifications, m.cacheHits, m.cacheMisses,
		m.cacheRefreshes, m.negativeCacheHits, m.indexRefusals, m.revocations, m.usesWritten, m.usesDropped, m.requestsUncounted, m.signIns, m.webhookDeliveries, m.webhookPending,
		m.auditChainBreaks, m.auditChainVerified, m.auditFeedHeldBack} {
		factory(c)
	}
	m.gauge("keysmith_password_hashes_running", "Passwords being hashed now (argon2id, at sign-in); bounded by the memory they may take.", func() float64 {
		return float64(store.PasswordHashStats().Running)
	})
	m.gauge("keysmith_password_hashes_waiting", "Sign-ins queued for the memory to hash their password; past the queue's bound they are refused (busy).", func() float64 {
		return float64(store.PasswordHashStats().Waiting)
	})
	factory(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "keysmith_password_hashes_total",
		Help: "Passwords checked at sign-in (with a re-hash, for a password hashed with old parameters).",
	}, func() float64 { return float64(store.PasswordHashStats().Done) }))
	factory(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "keysmith_database_statements_total",
		Help: "SQL statements this instance has sent to the database (but for the revocation listener's pings), counted by the store.",
	}, func() float64 { return float64(store.Statements()) }))
	factory(collectors.NewGoCollector())
	factory(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	factory(collectors.NewDBStatsCollector(store.Pool(), string(store.Dialect())))
	return m
}

// gauge registers a gauge read from value at each scrape.
func (m *Metrics) gauge(name, help string, value func() float64) {
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, value))
}

// SignIn counts a sign-in attempt by its result.
func (m *Metrics) SignIn(result string) { m.signIns.WithLabelValues(result).Inc() }

// Handler serves the registry in Prometheus's exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// observe counts one answered request. Labels come from a bounded set: the route patterns
// registered, "unmatched", the standard methods and "other", so no client can make new series.
func (m *Metrics) observe(route, method string, status int, took time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
	default:
		method = "other"
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.requestDuration.WithLabelValues(route, method).Observe(took.Seconds())
}

// serveMetrics serves /metrics on addr until ctx ends. Scrapes are small and local; the
// listener's own timeouts keep a stuck scraper from holding a connection.
func (m *Metrics) serveMetrics(ctx context.Context, addr string, log *slog.Logger) error {
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	go func() {
		if err := srv.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "error", err)
		}
	}()
	return nil
}
