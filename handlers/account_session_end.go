package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/web"
)

// accountSessionEnd ends one of the signed-in user's sessions, on every instance at once.
// Ending this browser's own session signs it out.
func (h *Handler) accountSessionEnd(c echo.Context) error {
	user := web.CurrentUser(c)
	id := c.Param("id")
	err := h.store.EndUserSession(c.Request().Context(), user, id)
	if errors.Is(err, models.ErrSessionNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "This session has already ended.")
	}
	if err != nil {
		return err
	}
	h.log.Info("session ended by its owner", "user_id", user.ID)
	if id == models.SessionID(web.SessionToken(c)) {
		if err := h.srv.Logout(c); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	if err := h.srv.AddFlash(c, "Session ended: that browser is signed out."); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/account")
}
