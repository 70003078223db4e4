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

	"keysmith/metrics"
)

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

// Metrics are the web platform's metrics: requests, their durations and sign-ins, in the
// server's registry, which /metrics serves whole (ServeMetrics, Handler).
type Metrics struct {
	registry *metrics.Registry

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	signIns         *prometheus.CounterVec
}

// NewMetrics registers the web platform's metrics in registry: requests and their durations,
// and sign-ins.
func NewMetrics(registry *metrics.Registry) *Metrics {
	m := &Metrics{registry: registry}
	m.requests = registry.CounterVec("keysmith_http_requests_total", "HTTP requests answered, by route pattern, method and status.", "route", "method", "status")
	m.requestDuration = registry.HistogramVec("keysmith_http_request_duration_seconds", "Time to answer HTTP requests, by route pattern and method.",
		[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, "route", "method")
	m.signIns = registry.CounterVec("keysmith_sign_ins_total", "Console sign-in attempts, by result: success, failure (a wrong password, an unknown or disabled account, malformed input), throttled (429), busy (503: too many passwords being checked) or unavailable (503: the database could not be asked).", "result")
	for _, result := range []string{SignInSuccess, SignInFailure, SignInThrottled, SignInBusy, SignInUnavailable} {
		m.signIns.WithLabelValues(result)
	}
	return m
}

// SignIn counts a sign-in attempt by its result.
func (m *Metrics) SignIn(result string) { m.signIns.WithLabelValues(result).Inc() }

// Handler serves the registry in Prometheus's exposition format.
func (m *Metrics) Handler() http.Handler { return m.registry.Handler() }

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

// ServeMetrics serves /metrics on addr until ctx ends. Scrapes are small and local; the
// listener's own timeouts keep a stuck scraper from holding a connection.
func (m *Metrics) ServeMetrics(ctx context.Context, addr string, log *slog.Logger) error {
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
