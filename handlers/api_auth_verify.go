package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"keysmith/web"
)

// apiAuthVerify lets a gateway (nginx auth_request, Envoy ext_authz) ask whether a key is
// valid: 200 with the key's id, name and scope as JSON and as headers, or the 401 every
// refused key gets.
func (h *Handler) apiAuthVerify(c echo.Context) error {
	key := web.CurrentKey(c)
	c.Response().Header().Set("X-Keysmith-Key-Id", key.PublicID)
	c.Response().Header().Set("X-Keysmith-Scope", string(key.Scope))
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]string{"id": key.PublicID, "name": key.Name, "scope": string(key.Scope)})
}
