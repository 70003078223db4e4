package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/views"
	"keysmith/web"
)

// userCreate invites a user: Keysmith makes a one-time link with which they choose their own
// password, shown here once to the administrator. The answer is that page rather than a
// redirect, which would mean keeping the link somewhere to show it after.
func (h *Handler) userCreate(c echo.Context) error {
	view := views.UserForm{Email: c.FormValue("email"), Name: c.FormValue("name"), Permission: c.FormValue("permission")}
	user, token, err := h.store.InviteUser(c.Request().Context(), models.Invitation{
		Email: view.Email, Name: view.Name, Permission: models.Permission(view.Permission),
	})
	switch {
	case errors.Is(err, models.ErrDuplicateEmail):
		view.Errors = models.FormErrors("A user with this email already exists.")
		return h.renderNewUser(c, http.StatusUnprocessableEntity, view)
	case models.IsFieldError(err):
		view.Errors = models.FieldErrorsOf(err)
		return h.renderNewUser(c, http.StatusUnprocessableEntity, view)
	case err != nil:
		return h.userRefused(c, err, "")
	}
	h.log.Info("user invited", "user_id", user.ID, "by_user_id", web.CurrentUser(c).ID)
	return h.renderUserLink(c, user, token, true, 0)
}

// renderUserLink shows a one-time link, once: no cache and no browser history keep the page.
func (h *Handler) renderUserLink(c echo.Context, user *models.User, token string, invited bool, ended int64) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	title := "User invited"
	if !invited {
		title = "Password reset"
	}
	page, err := h.srv.Page(c, title, "users")
	if err != nil {
		return err
	}
	now := h.store.Now()
	return web.Render(c, http.StatusOK, views.UserLinkPage(page, views.UserLinkView{
		User: *user, Link: h.cfg.PasswordLink(token), ExpiresAt: now.Add(models.UserLinkLifetime),
		Invited: invited, SessionsEnded: ended, Now: now,
	}))
}
