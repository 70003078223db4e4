package handlers

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"
)

// healthz answers while the process is up, whatever the database does.
func (h *Handler) healthz(c echo.Context) error {
	return c.String(http.StatusOK, "ok")
}

// readyz answers 200 when the database answers within the verification deadline and no stop
// has begun, 503 otherwise, for load balancers: a probe must not wait on a database that hangs.
func (h *Handler) readyz(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	if h.srv.Stopping() {
		return c.String(http.StatusServiceUnavailable, "stopping")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), h.cfg.VerifyDBTimeout)
	defer cancel()
	if err := h.store.Ping(ctx); err != nil {
		h.log.Warn("readiness check failed", "error", err)
		return c.String(http.StatusServiceUnavailable, "database unreachable")
	}
	return c.String(http.StatusOK, "ready")
}
