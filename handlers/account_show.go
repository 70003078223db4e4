package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/views"
	"keysmith/web"
)

// accountShow is Your account, for any signed-in user: their password form and their active
// sessions.
func (h *Handler) accountShow(c echo.Context) error {
	return h.renderAccount(c, http.StatusOK, nil)
}

// renderAccount renders Your account with status, and the password form's errors.
func (h *Handler) renderAccount(c echo.Context, status int, passwordErrors models.FieldErrors) error {
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
		User: *user, Sessions: sessions, Errors: passwordErrors, CSRFToken: page.CSRFToken, Now: h.store.Now(),
	}))
}
