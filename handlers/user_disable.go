package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/web"
)

// userDisable stops a user from signing in, and ends all their sessions at once on every
// instance.
func (h *Handler) userDisable(c echo.Context) error {
	id, err := userParam(c)
	if err != nil {
		return err
	}
	user, changed, ended, err := h.store.DisableUser(c.Request().Context(), id)
	if err != nil {
		return h.userRefused(c, err, h.userName(c, id))
	}
	h.log.Info("user disabled", "user_id", user.ID, "by_user_id", web.CurrentUser(c).ID, "changed", changed, "sessions_ended", ended)
	message := user.Name + " was already disabled."
	if changed {
		message = user.Name + " disabled: they can no longer sign in."
		if ended > 0 {
			message += " " + sessionsEnded(ended) + "."
		}
	}
	if err := h.srv.AddFlash(c, message); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/users")
}

// userEnable lets a disabled user sign in again; no session of before comes back.
func (h *Handler) userEnable(c echo.Context) error {
	id, err := userParam(c)
	if err != nil {
		return err
	}
	user, changed, err := h.store.EnableUser(c.Request().Context(), id)
	if err != nil {
		return h.userRefused(c, err, h.userName(c, id))
	}
	h.log.Info("user enabled", "user_id", user.ID, "by_user_id", web.CurrentUser(c).ID, "changed", changed)
	var message string
	switch {
	case !changed:
		message = user.Name + " was already enabled."
	case user.Status() == models.UserActive:
		message = user.Name + " enabled: they can sign in again with their password."
	default:
		message = user.Name + " enabled. They have no password yet: make a new link for them."
	}
	if err := h.srv.AddFlash(c, message); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/users")
}

// sessionsEnded says how many sessions an action ended.
func sessionsEnded(n int64) string {
	if n == 1 {
		return "1 session ended"
	}
	return strconv.FormatInt(n, 10) + " sessions ended"
}
