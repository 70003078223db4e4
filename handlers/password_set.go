package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"keysmith/handlers/form"
	"keysmith/models"
	"keysmith/views"
	"keysmith/web"
)

var errUserLink = echo.NewHTTPError(http.StatusNotFound,
	"This link is invalid, has already been used or has expired. Ask a Super admin for a new one.")

// passwordSetShow opens the page of a one-time link, where the user it was made for chooses
// their password.
func (h *Handler) passwordSetShow(c echo.Context) error {
	token := c.QueryParam("token")
	user, err := h.store.UserByLink(c.Request().Context(), token)
	if errors.Is(err, models.ErrUserLinkInvalid) {
		return errUserLink
	}
	if err != nil {
		return err
	}
	return h.renderSetPassword(c, http.StatusOK, views.SetPasswordForm{Token: token, User: *user})
}

// passwordSetSubmit sets the password chosen with a one-time link, which then no longer
// works, and sends the user to sign in with it. A refusal shows the form again with its
// status: 422 for a password that will not do, 503 while too many passwords are being hashed.
func (h *Handler) passwordSetSubmit(c echo.Context) error {
	input := form.NewPassword{Token: c.FormValue("token"), Password: c.FormValue("password"), Confirm: c.FormValue("password_confirm")}
	token := input.Token
	if err := input.Validate(); err != nil {
		return h.setPasswordRefused(c, http.StatusUnprocessableEntity, token, models.FieldErrorsOf(err))
	}
	user, err := h.store.SetPasswordWithLink(c.Request().Context(), token, input.Password)
	switch {
	case errors.Is(err, models.ErrUserLinkInvalid):
		return errUserLink
	case errors.Is(err, models.ErrPasswordHashBusy):
		c.Response().Header().Set("Retry-After", busyRetryAfter)
		return h.setPasswordRefused(c, http.StatusServiceUnavailable, token, models.FormErrors("Keysmith is busy checking other passwords. Try again in a moment."))
	case models.IsFieldError(err):
		return h.setPasswordRefused(c, http.StatusUnprocessableEntity, token, models.FieldErrorsOf(err))
	case err != nil:
		return err
	}
	h.log.Info("user password set with a one-time link", "user_id", user.ID)
	if err := h.srv.AddFlash(c, "Your password is set. Sign in with it."); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/login")
}

// setPasswordRefused shows the one-time link's form again with status and errs, while the
// link still works.
func (h *Handler) setPasswordRefused(c echo.Context, status int, token string, errs models.FieldErrors) error {
	user, err := h.store.UserByLink(c.Request().Context(), token)
	if errors.Is(err, models.ErrUserLinkInvalid) {
		return errUserLink
	}
	if err != nil {
		return err
	}
	return h.renderSetPassword(c, status, views.SetPasswordForm{Token: token, User: *user, Errors: errs})
}

func (h *Handler) renderSetPassword(c echo.Context, status int, form views.SetPasswordForm) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	page, err := h.srv.Page(c, "Choose your password", "")
	if err != nil {
		return err
	}
	return web.Render(c, status, views.SetPasswordPage(page, form))
}
