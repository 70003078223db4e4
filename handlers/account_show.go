package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"keysmith/views"
	"keysmith/web"
)

// accountShow is Your account, for any signed-in user: their password form and their active
// sessions.
func (h *Handler) accountShow(c echo.Context) error {
	return h.renderAccount(c, http.StatusOK, "")
}

// renderAccount renders Your account with status, and passwordError beside the password form.
func (h *Handler) renderAccount(c echo.Context, status int, passwordError string) error {
	user := web.CurrentUser(c)
	sessions, err := h.store.UserSessions(c.Request().Context(), user.ID, web.SessionToken(c), h.cfg.SessionIdleTimeout)
	if err != nil {
		return err
	}
	page, err := h.srv.Page(c, "Your account", "account")
	if err != nil {
		return err
	}
	return web.Render(c, status, views.AccountPage(page, views.AccountView{
		User: *user, Sessions: sessions, PasswordError: passwordError, CSRFToken: page.CSRFToken, Now: h.store.Now(),
	}))
}
