package handlers

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"keysmith/web"
)

// accountSessionsEndOthers ends every other session of the signed-in user, on every instance at
// once, and keeps this browser signed in. The flash says how many ended, so that someone who
// expected more knows to look again.
func (h *Handler) accountSessionsEndOthers(c echo.Context) error {
	user := web.CurrentUser(c)
	ended, err := h.store.EndOtherSessions(c.Request().Context(), user, web.SessionToken(c), h.cfg.SessionIdleTimeout)
	if err != nil {
		return err
	}
	h.log.Info("other sessions ended by their owner", "user_id", user.ID, "ended", ended)
	flash := "No other session was signed in."
	switch ended {
	case 0:
	case 1:
		flash = "1 other session ended: that browser is signed out."
	default:
		flash = fmt.Sprintf("%d other sessions ended: those browsers are signed out.", ended)
	}
	if err := h.srv.AddFlash(c, flash); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/account")
}
