package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/views"
	"keysmith/web"
)

// loginFailed is the one message for an unknown account, a wrong password or a disabled user.
const loginFailed = "The email or password is incorrect."

func (h *Handler) loginShow(c echo.Context) error {
	next := web.LocalPath(c.QueryParam("next"), "/admin/api-keys")
	if web.CurrentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, next)
	}
	return h.renderLogin(c, http.StatusOK, views.LoginForm{Next: next})
}

func (h *Handler) loginSubmit(c echo.Context) error {
	form := views.LoginForm{
		Email: c.FormValue("email"),
		Next:  web.LocalPath(c.FormValue("next"), "/admin/api-keys"),
	}
	password := c.FormValue("password")
	address := c.RealIP()
	wait, done := h.srv.Throttle.Attempt(form.Email, address)
	if wait > 0 {
		h.srv.Metrics.SignIn(web.SignInThrottled)
		seconds := int((wait + time.Second - 1) / time.Second)
		c.Response().Header().Set("Retry-After", strconv.Itoa(seconds))
		form.Error = "Too many failed sign-in attempts. Try again in " + strconv.Itoa(seconds) + " seconds."
		return h.renderLogin(c, http.StatusTooManyRequests, form)
	}
	user, err := h.store.Authenticate(c.Request().Context(), form.Email, password)
	failed := errors.Is(err, models.ErrUserNotFound)
	done(failed)
	if failed {
		h.srv.Metrics.SignIn(web.SignInFailure)
		h.log.Info("login failed", "remote_ip", address)
		form.Error = loginFailed
		return h.renderLogin(c, http.StatusUnauthorized, form)
	}
	if err == nil {
		err = h.srv.Login(c, user)
	}
	if models.Unavailable(err) {
		h.srv.Metrics.SignIn(web.SignInUnavailable)
	}
	if err != nil {
		return err
	}
	h.srv.Metrics.SignIn(web.SignInSuccess)
	h.log.Info("login", "user_id", user.ID, "remote_ip", address)
	return c.Redirect(http.StatusSeeOther, form.Next)
}

func (h *Handler) renderLogin(c echo.Context, status int, form views.LoginForm) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	page, err := h.srv.Page(c, "Sign in", "")
	if err != nil {
		return err
	}
	return web.Render(c, status, views.LoginPage(page, form))
}

func (h *Handler) logout(c echo.Context) error {
	if err := h.srv.Logout(c); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/login")
}
