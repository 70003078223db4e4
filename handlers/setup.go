package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/views"
	"keysmith/web"
)

var errSetupLink = echo.NewHTTPError(http.StatusNotFound,
	"This setup link is invalid, has already been used or has expired. Restart Keysmith to print a new one, or run “keysmith users create”.")

// setupShow opens the first-run page from the link printed in the log. Once a user exists,
// every link answers that setup is done (409), with the way to sign in.
func (h *Handler) setupShow(c echo.Context) error {
	token := c.QueryParam("token")
	err := h.store.CheckSetupToken(c.Request().Context(), token)
	switch {
	case errors.Is(err, models.ErrSetupDone):
		return h.renderSetupDone(c)
	case errors.Is(err, models.ErrSetupTokenInvalid):
		return errSetupLink
	case err != nil:
		return err
	}
	return h.renderSetup(c, http.StatusOK, views.SetupForm{Token: token})
}

// setupSubmit creates the first Super admin, signs them in and opens the console.
func (h *Handler) setupSubmit(c echo.Context) error {
	form := views.SetupForm{
		Token: c.FormValue("token"),
		Email: c.FormValue("email"),
		Name:  c.FormValue("name"),
	}
	user, err := h.store.CompleteSetup(c.Request().Context(), form.Token, models.NewUser{
		Email: form.Email, Name: form.Name, Password: c.FormValue("password"),
	})
	switch {
	case errors.Is(err, models.ErrSetupDone):
		// Another link, perhaps printed by another instance, made the first Super admin.
		return h.renderSetupDone(c)
	case errors.Is(err, models.ErrSetupTokenInvalid):
		return errSetupLink
	case errors.Is(err, models.ErrDuplicateEmail):
		form.Errors = models.FormErrors("A user with this email already exists.")
		return h.renderSetup(c, http.StatusUnprocessableEntity, form)
	case models.IsFieldError(err):
		form.Errors = models.FieldErrorsOf(err)
		return h.renderSetup(c, http.StatusUnprocessableEntity, form)
	case err != nil:
		return err
	}
	h.log.Info("first super admin created", "user_id", user.ID)
	if err := h.srv.Login(c, user); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/api-keys")
}

func (h *Handler) renderSetup(c echo.Context, status int, form views.SetupForm) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	page, err := h.srv.Page(c, "Set up Keysmith", "")
	if err != nil {
		return err
	}
	return web.Render(c, status, views.SetupPage(page, form))
}

// renderSetupDone says, with 409, that setup is over: the first Super admin exists, and
// people sign in instead.
func (h *Handler) renderSetupDone(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	page, err := h.srv.Page(c, "Setup is already done", "")
	if err != nil {
		return err
	}
	return web.Render(c, http.StatusConflict, views.SetupDonePage(page))
}
