package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/views"
	"keysmith/web"
)

var errRevocationUnknown = echo.NewHTTPError(http.StatusNotFound, "This revocation is not known. Revocations are kept for 30 days.")

// revocationShow answers htmx's polls of a revocation's proof with the proof as it stands,
// which polls again while it waits; a browser without JavaScript gets a page with the proof
// once settled.
func (h *Handler) revocationShow(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		return errRevocationUnknown
	}
	ctx := c.Request().Context()
	if web.IsHTMX(c) {
		proof, err := h.store.RevocationProof(ctx, id)
		if errors.Is(err, models.ErrRevocationNotFound) {
			return errRevocationUnknown
		}
		if err != nil {
			return err
		}
		return web.Render(c, http.StatusOK, views.RevocationProof(views.Revocation{Proof: *proof, Now: h.store.Now()}))
	}
	revocation, err := h.awaitRevocation(ctx, id)
	if errors.Is(err, models.ErrRevocationNotFound) {
		return errRevocationUnknown
	}
	if err != nil {
		return err
	}
	page, err := h.srv.Page(c, "Revocation", "instances")
	if err != nil {
		return err
	}
	return web.Render(c, http.StatusOK, views.RevocationPage(page, revocation))
}
