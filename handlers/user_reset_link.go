package handlers

import (
	"github.com/labstack/echo/v4"

	"keysmith/web"
)

// userResetLink makes a new one-time link for a user to choose a new password, shown here
// once. Their password stops working, earlier links die, and all their sessions end.
func (h *Handler) userResetLink(c echo.Context) error {
	id, err := userParam(c)
	if err != nil {
		return err
	}
	user, token, ended, err := h.store.ResetUserLink(c.Request().Context(), id)
	if err != nil {
		return h.userRefused(c, err, h.userName(c, id))
	}
	h.log.Info("user reset link created", "user_id", user.ID, "by_user_id", web.CurrentUser(c).ID, "sessions_ended", ended)
	return h.renderUserLink(c, user, token, user.ActivatedAt == nil, ended)
}
