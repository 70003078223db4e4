package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"keysmith/views"
	"keysmith/web"
)

// instanceList shows Administration › Instances: every live instance with its version,
// heartbeat, revocation listener and cache, as each last reported them.
func (h *Handler) instanceList(c echo.Context) error {
	instances, err := h.store.LiveInstances(c.Request().Context())
	if err != nil {
		return err
	}
	page, err := h.srv.Page(c, "Instances", "instances")
	if err != nil {
		return err
	}
	return web.Render(c, http.StatusOK, views.InstancesPage(page, views.InstancesView{
		Instances: instances, Self: h.cluster.ID(), Now: h.store.Now(),
	}))
}
