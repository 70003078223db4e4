package handlers

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/views"
	"keysmith/web"
)

// loginFailed is the one message for an unknown account, a wrong password or a disabled user.
const loginFailed = "The email or password is incorrect."

// homePath is where a user goes when nothing else was asked for: the first page of the
// console they may open, or their account when they may open none.
func homePath(user *models.User) string {
	if home := views.HomeFor(user); home != nil {
		return home.Href
	}
	return "/account"
}

func (h *Handler) loginShow(c echo.Context) error {
	next := web.LocalPath(c.QueryParam("next"), "")
	if user := web.CurrentUser(c); user != nil {
		return c.Redirect(http.StatusSeeOther, cmp.Or(next, homePath(user)))
	}
	return h.renderLogin(c, http.StatusOK, views.LoginForm{Next: next})
}

// refuseThrottled counts a password check refused by the sign-in throttle and sets its
// Retry-After, in whole seconds rounded up, which it returns for the message.
func (h *Handler) refuseThrottled(c echo.Context, throttled *models.ThrottledError) string {
	h.srv.Metrics.SignIn(web.SignInThrottled)
	seconds := strconv.Itoa(int((throttled.RetryAfter + time.Second - 1) / time.Second))
	c.Response().Header().Set("Retry-After", seconds)
	return seconds
}

// busyRetryAfter is the Retry-After, in seconds, of a sign-in refused because too many
// passwords are being checked: the queue moves within a second.
const busyRetryAfter = "1"

// loginSubmit signs in. The store throttles and counts the attempt; each refusal re-renders the
// form with its own status: 422 for malformed input, 401 for any failed check, 429 while the
// attempt's buckets are empty, 503 while too many passwords are being checked.
func (h *Handler) loginSubmit(c echo.Context) error {
	form := views.LoginForm{
		Email: c.FormValue("email"),
		Next:  web.LocalPath(c.FormValue("next"), ""),
	}
	address := c.RealIP()
	user, err := h.store.SignIn(c.Request().Context(), models.SignInAttempt{Email: form.Email, Password: c.FormValue("password"), Address: address})
	var throttled *models.ThrottledError
	switch {
	case errors.As(err, &throttled):
		form.Errors = models.FormErrors("Too many failed sign-in attempts. Try again in " + h.refuseThrottled(c, throttled) + " seconds.")
		return h.renderLogin(c, http.StatusTooManyRequests, form)
	case errors.Is(err, models.ErrPasswordHashBusy):
		h.srv.Metrics.SignIn(web.SignInBusy)
		c.Response().Header().Set("Retry-After", busyRetryAfter)
		form.Errors = models.FormErrors("Keysmith is busy checking other sign-ins. Try again in a moment.")
		return h.renderLogin(c, http.StatusServiceUnavailable, form)
	case models.IsFieldError(err):
		h.srv.Metrics.SignIn(web.SignInFailure)
		h.log.Info("login refused: malformed input", "remote_ip", address)
		// What was typed may not even be text: it is not shown back.
		form.Email = ""
		form.Errors = models.FieldErrorsOf(err)
		return h.renderLogin(c, http.StatusUnprocessableEntity, form)
	case errors.Is(err, models.ErrUserNotFound):
		h.srv.Metrics.SignIn(web.SignInFailure)
		h.log.Info("login failed", "remote_ip", address)
		form.Errors = models.FormErrors(loginFailed)
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
	return c.Redirect(http.StatusSeeOther, cmp.Or(form.Next, homePath(user)))
}

func (h *Handler) renderLogin(c echo.Context, status int, form views.LoginForm) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	page, err := h.srv.Page(c, "Sign in", "")
	if err != nil {
		return err
	}
	return web.Render(c, status, views.LoginPage(page, form))
}

// logout ends the session and opens the sign-in page. With next (a page of this site, such as
// the one an error page refused) the sign-in page brings whoever signs in next back to it.
func (h *Handler) logout(c echo.Context) error {
	if err := h.srv.Logout(c); err != nil {
		return err
	}
	login := "/login"
	if next := web.LocalPath(c.FormValue("next"), ""); next != "" {
		login += "?next=" + url.QueryEscape(next)
	}
	return c.Redirect(http.StatusSeeOther, login)
}
