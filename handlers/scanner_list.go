package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"keysmith/views"
	"keysmith/web"
)

// scannerList shows Administration › Scanners; inactive scanners are listed only when the
// include_inactive box is ticked. An HTMX request for the list (the box changed) gets only it.
func (h *Handler) scannerList(c echo.Context) error {
	includeInactive := c.QueryParam("include_inactive") == "1"
	list, err := h.store.ListScanners(c.Request().Context(), includeInactive)
	if err != nil {
		return err
	}
	view := views.ScannersView{Scanners: list.Scanners, IncludeInactive: includeInactive, Inactive: list.Inactive, Now: h.store.Now()}
	if web.IsHTMX(c) && c.Request().Header.Get("HX-Target") == "scanner-list" {
		return web.Render(c, http.StatusOK, views.ScannerListRegion(view))
	}
	page, err := h.srv.Page(c, "Scanners", "scanners")
	if err != nil {
		return err
	}
	return web.Render(c, http.StatusOK, views.ScannersPage(page, view))
}
