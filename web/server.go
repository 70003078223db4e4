// Package web is Keysmith's HTTP platform: the Echo server and its middleware (recover, request
// id, access log, security headers, body limit, sessions, CSRF), the error handler, rendering,
// the current user, RequireKey (a thin front to services/keyauth) and the metrics endpoint. It
// serves and drains; the background work of a serving instance is app's.
package web

import (
	"context"
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
	"keysmith/services/keyauth"
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
	Metrics  *Metrics
	// keys verifies the keys that RequireKey admits.
	keys *keyauth.Verifier
	// flashKinds are the kinds of flash other than notices that pages show (OnFlash).
	flashKinds []flashKind
	// stopping is set when a stop begins, so /readyz fails while requests are still served.
	stopping atomic.Bool
	cfg      config.Config
	store    *models.Store
	log      *slog.Logger
	assets   views.Assets
	csrfKey  []byte
}

// New builds the server and its middleware chain, its metrics in registry; handlers.Register
// adds the routes. sessionKeys sign cookies and CSRF tokens (the first one signs, all verify).
// RequireKey admits the keys that keys verifies; the console's proofs of revocation come from
// instance.
func New(cfg config.Config, store *models.Store, log *slog.Logger, sessionKeys [][]byte, registry *metrics.Registry, keys *keyauth.Verifier) *Server {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	s := &Server{
		Echo:     e,
		Sessions: NewSessions(store, sessionKeys, cfg.Secure(), cfg.SessionIdleTimeout, cfg.SessionMaxAge),
		Metrics:  NewMetrics(registry),
		keys:     keys,
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
			log.Error("panic", "request_id", RequestID(c), "error", err, "stack", string(stack))
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

// Serve serves on listener until ctx ends, then stops serving within the shutdown timeout, in
// the order a load balancer needs: /readyz fails at once while requests are still served for
// the drain delay; then the listener closes and the requests in flight finish, those still
// running near the end being answered 503. It keeps a fifth of the timeout for what comes after
// it (app: the last writes of the background jobs). It returns at once, with the error, if the
// listener fails.
func (s *Server) Serve(ctx context.Context, listener net.Listener) error {
	requests, cancelRequests := context.WithCancelCause(context.Background())
	defer cancelRequests(nil)
	listener = &onceCloseListener{Listener: listener}
	var fresh freshConns
	srv := &http.Server{
		Handler: s.Echo, ConnState: fresh.track,
		BaseContext:       func(net.Listener) context.Context { return requests },
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errs := make(chan error, 1)
	go func() { errs <- srv.Serve(listener) }()
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
	}
	deadline := time.Now().Add(s.cfg.ShutdownTimeout)
	s.stopping.Store(true)
	s.log.Info("stopping: /readyz now fails", "drain_delay", s.cfg.DrainDelay.String(), "shutdown_timeout", s.cfg.ShutdownTimeout.String())
	time.Sleep(s.cfg.DrainDelay)
	// Requests still running shortly before their part of the budget is spent are cancelled,
	// and so answered 503, not cut off.
	requestsDeadline := deadline.Add(-s.cfg.ShutdownTimeout / 5)
	cutOff := time.AfterFunc(time.Until(requestsDeadline.Add(-s.cfg.ShutdownTimeout/20)), func() { cancelRequests(errShuttingDown) })
	defer cutOff.Stop()
	// http.Server.Shutdown drops, unanswered, a request that it reads from a connection
	// accepted before the stop. So the listener closes first, answers from now on say
	// Connection: close, and the stop waits for the connections accepted but not yet read to
	// bring their request in; for a second at most, since a connection opened ahead of need
	// (as browsers do) may never send one.
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
	return nil
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

// RequestID is the request's id, as its access log line and its error answer show it.
func RequestID(c echo.Context) string {
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
			"request_id", RequestID(c),
			"method", c.Request().Method,
			"path", c.Request().URL.Path,
			"status", c.Response().Status,
			"duration_ms", float64(time.Since(start).Microseconds())/1000,
			"remote_ip", c.RealIP(),
		)
		return nil
	}
}
