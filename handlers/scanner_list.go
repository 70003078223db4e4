package handlers

import (
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/views"
	"keysmith/web"
)

// scannerList shows Administration › Scanners, Down ones first (they are what an admin opens
// the page for), the rest by name and host as the store gives them; inactive scanners are
// listed only when the include_inactive box is ticked. An HTMX request for the list (the box
// changed) gets only it.
func (h *Handler) scannerList(c echo.Context) error {
	includeInactive := c.QueryParam("include_inactive") == "1"
	list, err := h.store.ListScanners(c.Request().Context(), includeInactive)
	if err != nil {
		return err
	}
	now := h.store.Now()
	slices.SortStableFunc(list.Scanners, func(a, b models.Scanner) int {
		return downRank(a, now) - downRank(b, now)
	})
	view := views.ScannersView{Scanners: list.Scanners, IncludeInactive: includeInactive, Inactive: list.Inactive, Now: now}
	if web.IsHTMX(c) && c.Request().Header.Get("HX-Target") == "scanner-list" {
		return web.Render(c, http.StatusOK, views.ScannerListRegion(view))
	}
	page, err := h.srv.Page(c, "Scanners", "scanners")
	if err != nil {
		return err
	}
	return web.Render(c, http.StatusOK, views.ScannersPage(page, view))
}

// downRank orders a Down scanner before any other.
func downRank(scanner models.Scanner, now time.Time) int {
	if scanner.Status(now) == models.ScannerDown {
		return 0
	}
	return 1
}
