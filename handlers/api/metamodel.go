package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/web"
)

// apiMetamodelGet answers GET /api/v1/metamodel with the metamodel document, in the form PUT
// takes back.
func (h *Handler) metamodelGet(c echo.Context) error {
	m, err := h.store.Metamodel(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m)
}

// apiMetamodelReplace answers PUT /api/v1/metamodel: the body replaces the whole document once
// it is valid, and the stored document comes back.
func (h *Handler) metamodelReplace(c echo.Context) error {
	var body models.Metamodel
	if err := decodeJSON(c, &body); err != nil {
		return apiError(c, err)
	}
	ctx := c.Request().Context()
	if err := h.store.ReplaceMetamodel(ctx, body, models.ActorOf(web.CurrentKey(c))); err != nil {
		return apiError(c, err)
	}
	m, err := h.store.Metamodel(ctx)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m)
}
