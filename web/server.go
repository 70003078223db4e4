// Package web is Keysmith's platform layer: the Echo server and its middleware (recover,
// request id, access log, security headers, body limit, sessions, CSRF), the error handler,
// rendering, the current user, login throttling and API-key authentication.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"keysmith/config"
	"keysmith/models"
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
	Throttle *LoginThrottle
	Keys     *KeyVerifier
	cfg      config.Config
	store    *models.Store
	log      *slog.Logger
	assets   views.Assets
	csrfKey  []byte
}

// New builds the server and its middleware chain; handlers.Register adds the routes.
// sessionKeys sign cookies and CSRF tokens (the first one signs, all verify).
func New(cfg config.Config, store *models.Store, log *slog.Logger, sessionKeys [][]byte) *Server {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	s := &Server{
		Echo:     e,
		Sessions: NewSessions(store, sessionKeys, cfg.Secure(), cfg.SessionIdleTimeout, cfg.SessionMaxAge),
		Throttle: NewLoginThrottle(),
		Keys:     NewKeyVerifier(store, log),
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
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			log.Error("panic", "request_id", requestID(c), "error", err, "stack", string(stack))
			return err
		},
	}))
	e.Use(middleware.RequestID())
	e.Use(s.accessLog)
	e.Use(s.securityHeaders)
	// API requests get their own, larger limit in RequireKey, once the key is verified, so a
	// request without a valid key is told 401 whatever its size.
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: formBodyLimit, Skipper: isAPI}))
	e.Use(s.loadUser)
	e.Use(s.csrf)
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", cacheForever(http.FileServerFS(static.Files)))))
	return s
}

// Start serves on the configured address until ctx ends, then shuts down gracefully:
// requests in flight get up to 10 seconds to finish, then gathered key uses are written.
func (s *Server) Start(ctx context.Context) error {
	flusherCtx, stopFlusher := context.WithCancel(context.Background())
	flusherDone := make(chan struct{})
	go func() {
		s.Keys.RunUsageFlusher(flusherCtx)
		close(flusherDone)
	}()
	defer func() {
		stopFlusher()
		<-flusherDone
	}()
	srv := &http.Server{
		Addr:              s.cfg.Addr,
		Handler:           s.Echo,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	go s.sweepSessions(ctx)
	errs := make(chan error, 1)
	go func() { errs <- srv.ListenAndServe() }()
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// sweepSessions deletes ended sessions every ten minutes until ctx ends. Ended sessions are
// refused anyway; this only keeps the table small.
func (s *Server) sweepSessions(ctx context.Context) {
	ticker := time.NewTicker(10 * time.Minute)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if _, err := s.store.DeleteExpiredSessions(ctx, s.cfg.SessionIdleTimeout); err != nil {
				s.log.Error("sweep sessions", "error", err)
			}
		}
	}
}

func isAPI(c echo.Context) bool { return strings.HasPrefix(c.Request().URL.Path, "/api/") }

// isBrowserless tells whether a request needs no browser session or CSRF cookie: the API
// (keys, not cookies), health checks and static files.
func isBrowserless(c echo.Context) bool {
	path := c.Request().URL.Path
	return isAPI(c) || strings.HasPrefix(path, "/static/") || path == "/healthz" || path == "/readyz"
}

func cacheForever(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("v") != "" {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		next.ServeHTTP(w, r)
	})
}

func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}

// accessLog logs one line per request. It logs the path without the query string, so that
// nothing a client puts in a URL reaches the log.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
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
