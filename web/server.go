// Package web is Keysmith's platform layer: the Echo server and its middleware (recover,
// request id, access log, security headers, body limit, sessions, CSRF), the error handler,
// rendering, the current user and API-key authentication.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"keysmith/config"
	"keysmith/metrics"
	"keysmith/models"
	"keysmith/services/cluster"
	"keysmith/services/keyauth"
	"keysmith/services/webhook"
	"keysmith/static"
	"keysmith/views"
)

// Body size limits: forms are small, API payloads may carry an inventory.
const (
	formBodyLimit = "64K"
	apiBodyLimit  = "1M"
)

// Server is the Echo instance with the state its middleware needs.
type Server struct {
	Echo     *echo.Echo
	Sessions *Sessions
	Keys     *keyauth.Verifier
	Metrics  *Metrics
	// Webhooks sends key events to the configured webhook URL; nil when none is set.
	Webhooks *webhook.Sender
	// stopping is set when a stop begins, so /readyz fails while requests are still served.
	stopping atomic.Bool
	// Cluster is this process among the instances sharing the database.
	Cluster *cluster.Instance
	cfg     config.Config
	store   *models.Store
	log     *slog.Logger
	assets  views.Assets
	csrfKey []byte
	// chainCheck is the scheduled check of the audit chain's memory; feedWarnedAt when the
	// feed check last warned that the feed holds events back (zero when it does not).
	chainCheck   chainCheck
	feedWarnedAt time.Time
}

// New builds the server and its middleware chain; handlers.Register adds the routes.
// sessionKeys sign cookies and CSRF tokens (the first one signs, all verify).
func New(cfg config.Config, store *models.Store, log *slog.Logger, sessionKeys [][]byte) *Server {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	registry := metrics.New(store)
	metrics := NewMetrics(registry)
	s := &Server{
		Echo:     e,
		Sessions: NewSessions(store, sessionKeys, cfg.Secure(), cfg.SessionIdleTimeout, cfg.SessionMaxAge),
		Keys:     keyauth.New(store, log, registry, cfg.KeyCacheSize, cfg.VerifyDBTimeout, cfg.StaleKeysFor),
		Metrics:  metrics,
		cfg:      cfg,
		store:    store,
		log:      log,
		assets: views.Assets{
			PicoCSS: static.Path("pico-2.1.1.min.css"),
			AppCSS:  static.Path("app.css"),
			HTMX:    static.Path("htmx-2.0.11.min.js"),
			AppJS:   static.Path("app.js"),
		},
		csrfKey: derive(sessionKeys[0], "keysmith csrf"),
	}
	s.Webhooks = webhook.New(cfg, store, log, registry)
	s.Cluster = cluster.New(store, s.Keys, log, registry, cfg.HeartbeatInterval)
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = echo.ExtractIPDirect()
	if len(cfg.TrustedProxies) > 0 {
		// Only the configured proxies are believed, not every private or loopback address.
		trust := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
		for _, network := range cfg.TrustedProxies {
			trust = append(trust, echo.TrustIPRange(network))
		}
		e.IPExtractor = echo.ExtractIPFromXFFHeader(trust...)
	}
	e.Use(s.cleanRequestID)
	e.Use(middleware.RequestID())
	e.Use(s.accessLog)
	// Inside the access log, so that a request whose handler panics is logged and counted.
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			log.Error("panic", "request_id", requestID(c), "error", err, "stack", string(stack))
			return err
		},
	}))
	e.Use(s.securityHeaders)
	// API requests get their own, larger limit in RequireKey, once the key is verified, so a
	// request without a valid key is told 401 whatever its size.
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: formBodyLimit, Skipper: isAPI}))
	e.Use(s.loadUser)
	e.Use(s.csrf)
	// After the CSRF check, so that its error page carries a token for the next form.
	e.Use(s.checkInput)
	e.GET("/static/*", echo.StaticDirectoryHandler(static.Files, true), cacheStatic)
	return s
}

// Start serves on the configured address until ctx ends, then stops; see Serve.
func (s *Server) Start(ctx context.Context) error {
	listener, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, listener)
}

// Serve serves on listener, and on the metrics address when one is set, until ctx ends. It
// registers this instance first, and writes its heartbeat and its acknowledgements of
// revocations while it serves. Then it stops within the shutdown timeout, in the order a load
// balancer needs: /readyz fails at once while requests are still served for the drain delay;
// then the listener closes and requests in flight finish, those still running near the end
// being answered 503; last, the gathered key uses are written, with tries until the deadline,
// and the instance deregisters.
func (s *Server) Serve(ctx context.Context, listener net.Listener) error {
	background, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()
	if s.cfg.MetricsAddr != "" {
		if err := s.Metrics.serveMetrics(background, s.cfg.MetricsAddr, s.log); err != nil {
			listener.Close()
			return fmt.Errorf("web: metrics listener: %w", err)
		}
	}
	requests, cancelRequests := context.WithCancelCause(context.Background())
	defer cancelRequests(nil)
	listener = &onceCloseListener{Listener: listener}
	var fresh freshConns
	srv := &http.Server{
		Handler:           s.Echo,
		ConnState:         fresh.track,
		BaseContext:       func(net.Listener) context.Context { return requests },
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	flusherDone := make(chan struct{})
	go func() {
		s.Keys.RunUsageFlusher(background)
		close(flusherDone)
	}()
	webhooksDone := make(chan struct{})
	go func() {
		if s.Webhooks != nil {
			s.Webhooks.Run(background)
		}
		close(webhooksDone)
	}()
	// After the revocation listener started (main, and the test harness, start it before
	// Serve), so that the index hears every notice from the start of its build on.
	go s.Keys.RunIndex(background)
	refusalsDone := make(chan struct{})
	go func() {
		s.Keys.RunRefusalWriter(background)
		close(refusalsDone)
	}()
	go s.every(background, sessionSweepInterval, "sweep sessions", func(ctx context.Context) error {
		_, err := s.store.DeleteExpiredSessions(ctx, s.cfg.SessionIdleTimeout)
		return err
	})
	go s.every(background, bucketPruneInterval, "prune sign-in buckets", func(ctx context.Context) error {
		_, err := s.store.PruneSignInBuckets(ctx)
		return err
	})
	go s.every(background, signInSummaryInterval, "record summaries of refused sign-ins", func(ctx context.Context) error {
		_, err := s.store.RecordSignInSummaries(ctx)
		return err
	})
	go s.every(background, denialSummaryInterval, "record summaries of refused console requests", func(ctx context.Context) error {
		_, err := s.store.RecordDenialSummaries(ctx)
		return err
	})
	go func() {
		s.storeAuditRetention(background)
		s.nowAndEvery(background, auditPruneInterval, "prune the audit log", s.pruneAuditLog)
	}()
	go s.nowAndEvery(background, auditChainCheckInterval, "check the audit chain", s.checkAuditChain)
	if s.store.Dialect() == models.DialectPostgres {
		go s.nowAndEvery(background, auditFeedCheckInterval, "check the audit feed", s.checkAuditFeed)
	}
	go s.Cluster.RunAcks(background)
	// Registered before the first request, so the instance counts from then on; a failure
	// is tried again by the heartbeat.
	address := listener.Addr().String()
	if err := s.Cluster.Heartbeat(background, address); err != nil {
		s.log.Warn("could not register this instance; trying again", "instance", s.Cluster.ID(), "error", err)
	}
	heartbeatDone := make(chan struct{})
	go func() {
		s.Cluster.RunHeartbeat(background, address)
		close(heartbeatDone)
	}()
	go s.every(background, graceSweepInterval, "end over graces", func(ctx context.Context) error {
		_, err := s.store.EndOverGraces(ctx)
		return err
	})
	errs := make(chan error, 1)
	go func() { errs <- srv.Serve(listener) }()
	select {
	case err := <-errs:
		stopBackground()
		<-flusherDone
		<-webhooksDone
		<-refusalsDone
		<-heartbeatDone
		deregister, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		defer cancel()
		s.flushDenialSummaries(deregister)
		s.Cluster.Deregister(deregister)
		return err
	case <-ctx.Done():
	}

	deadline := time.Now().Add(s.cfg.ShutdownTimeout)
	s.stopping.Store(true)
	s.log.Info("stopping: /readyz now fails", "drain_delay", s.cfg.DrainDelay.String(), "shutdown_timeout", s.cfg.ShutdownTimeout.String())
	drain := time.NewTimer(s.cfg.DrainDelay)
	<-drain.C
	// A fifth of the budget is kept for the last write of key uses; requests still running
	// shortly before the rest is spent are cancelled, and so answered 503, not cut off.
	requestsDeadline := deadline.Add(-s.cfg.ShutdownTimeout / 5)
	cutOff := time.AfterFunc(time.Until(requestsDeadline.Add(-s.cfg.ShutdownTimeout/20)), func() { cancelRequests(errShuttingDown) })
	defer cutOff.Stop()
	// http.Server.Shutdown drops, unanswered, a request that it reads from a connection
	// accepted before the stop. So the listener closes first, answers from now on say
	// Connection: close, and the stop waits for the connections accepted but not yet read
	// to bring their request in; for a second at most, since a connection opened ahead of
	// need (as browsers do) may never send one.
	srv.SetKeepAlivesEnabled(false)
	listener.Close()
	freshUntil := time.Now().Add(freshConnWait)
	if requestsDeadline.Before(freshUntil) {
		freshUntil = requestsDeadline
	}
	for fresh.count() > 0 && time.Now().Before(freshUntil) {
		time.Sleep(5 * time.Millisecond)
	}
	shutdown, cancel := context.WithDeadline(context.Background(), requestsDeadline)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		s.log.Warn("stopping: closing connections still open", "error", err)
		srv.Close()
	}
	// An attempt to deliver a webhook event is cut short here; its claim runs out and the
	// event is sent again.
	stopBackground()
	<-flusherDone
	<-webhooksDone
	<-refusalsDone
	// No heartbeat may register the instance again once it has deregistered.
	<-heartbeatDone
	flush, cancelFlush := context.WithDeadline(context.Background(), deadline)
	defer cancelFlush()
	deregistered := make(chan struct{})
	go func() {
		s.Cluster.Deregister(flush)
		close(deregistered)
	}()
	s.Keys.FlushUsageAtShutdown(flush)
	if err := s.Keys.FlushRefusals(flush); err != nil {
		s.log.Warn("stopping: api key refusals not recorded in the audit log", "error", err)
	}
	s.flushDenialSummaries(flush)
	<-deregistered
	return nil
}

// flushDenialSummaries records, once no request is served any more, the summaries of the
// refused console requests counted in the current hour, which the process would otherwise
// take with it.
func (s *Server) flushDenialSummaries(ctx context.Context) {
	if _, err := s.store.FlushDenialSummaries(ctx); err != nil {
		s.log.Warn("stopping: summaries of refused console requests not recorded in the audit log", "error", err)
	}
}

// onceCloseListener closes its listener once, so that the stop can close it before
// http.Server.Shutdown does without Shutdown reporting an error.
type onceCloseListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceCloseListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

// freshConnWait bounds how long a stop waits for connections accepted before it to send
// their first request.
const freshConnWait = time.Second

// freshConns counts the connections accepted whose first request has not been read yet.
type freshConns struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// track is the server's ConnState hook.
func (f *freshConns) track(conn net.Conn, state http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if state == http.StateNew {
		if f.conns == nil {
			f.conns = map[net.Conn]struct{}{}
		}
		f.conns[conn] = struct{}{}
		return
	}
	delete(f.conns, conn)
}

func (f *freshConns) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

// Stopping tells whether a stop has begun; /readyz then fails, so load balancers send no new
// requests while those on their way are still served.
func (s *Server) Stopping() bool { return s.stopping.Load() }

// every runs job every interval until ctx ends, logging what fails as what; the background
// upkeep of tables that only grow otherwise, and of what verification never notices.
func (s *Server) every(ctx context.Context, interval time.Duration, what string, job func(context.Context) error) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if err := job(ctx); err != nil && ctx.Err() == nil {
				s.log.Error(what, "error", err)
			}
		}
	}
}

// nowAndEvery runs job at once, then every interval, as every does.
func (s *Server) nowAndEvery(ctx context.Context, interval time.Duration, what string, job func(context.Context) error) {
	if err := job(ctx); err != nil && ctx.Err() == nil {
		s.log.Error(what, "error", err)
	}
	s.every(ctx, interval, what, job)
}

// pruneAuditLog deletes the audit events past the retention period (the one deletion the
// append-only log allows, see models.Store.PruneAuditEvents), the tombstones of secrets past
// theirs, and the marks of refusals from hours over.
func (s *Server) pruneAuditLog(ctx context.Context) error {
	now := s.store.Now()
	_, err := s.store.PruneAuditEvents(ctx, now.Add(-s.cfg.AuditRetention))
	_, refusalsErr := s.store.PruneKeyRefusals(ctx, now.Add(-models.KeyTombstonesKept), now.Add(-time.Hour))
	return errors.Join(err, refusalsErr)
}

// Background upkeep, each run by every:
//   - ended sessions are deleted every ten minutes; they are refused anyway, this only keeps
//     the table small;
//   - the sign-in throttle's buckets that are full again are deleted every minute, so that the
//     table holds only what recent attempts left, whatever a flood made (a bucket refills one
//     token a minute, so none waits longer than that past its time);
//   - every graceSweepInterval, the graces of rotated keys' previous secrets that are over are
//     ended: those nobody presents any more, which verification never notices. Each instance
//     refuses such a secret on its own, as it refuses an expired key; ending it records that
//     and tells every instance (models.Store.EndGrace), once;
//   - every signInSummaryInterval, the refused sign-ins that were counted rather than recorded
//     one by one in a minute now over are recorded as one event per address and action;
//   - every denialSummaryInterval, the refused console requests that were counted rather than
//     recorded one by one in an hour now over are recorded as one event per actor (and the
//     current hour's at a stop);
//   - at start and every hour, the audit log is pruned to KEYSMITH_AUDIT_RETENTION, which is
//     first stored as the retention the database enforces (storeAuditRetention);
//   - the audit chain and the audit feed are checked (audit_checks.go).
const (
	sessionSweepInterval  = 10 * time.Minute
	bucketPruneInterval   = time.Minute
	graceSweepInterval    = 5 * time.Second
	signInSummaryInterval = 10 * time.Second
	denialSummaryInterval = time.Minute
	auditPruneInterval    = time.Hour
)

func isAPI(c echo.Context) bool { return strings.HasPrefix(c.Request().URL.Path, "/api/") }

// isBrowserless tells whether a request needs no browser session or CSRF cookie: the API
// (keys, not cookies), health checks and static files.
func isBrowserless(c echo.Context) bool {
	path := c.Request().URL.Path
	return isAPI(c) || strings.HasPrefix(path, "/static/") || path == "/healthz" || path == "/readyz"
}

// cacheStatic lets browsers keep a static file for ever when its URL names its checksum (?v=),
// and keeps no error answer at all: a missing file is answered by handleError, but a bad range
// or precondition is written by http.ServeContent, so the header is chosen once the status is
// known.
func cacheStatic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		res := c.Response()
		versioned := c.QueryParam("v") != ""
		res.Before(func() {
			switch {
			case res.Status >= http.StatusBadRequest:
				res.Header().Set("Cache-Control", "no-store")
			case versioned:
				res.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			}
		})
		return next(c)
	}
}

func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}

// accessLog logs one line per request and counts it in the metrics by route pattern. It logs
// the path without the query string, so that nothing a client puts in a URL reaches the log.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		s.Metrics.observe(c.Path(), c.Request().Method, c.Response().Status, time.Since(start))
		s.log.Info("request",
			"request_id", requestID(c),
			"method", c.Request().Method,
			"path", c.Request().URL.Path,
			"status", c.Response().Status,
			"duration_ms", float64(time.Since(start).Microseconds())/1000,
			"remote_ip", c.RealIP(),
		)
		return nil
	}
}
