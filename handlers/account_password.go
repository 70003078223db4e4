package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"keysmith/handlers/form"
	"keysmith/models"
	"keysmith/web"
)

// accountPassword changes the signed-in user's password, given the current one, and ends
// their other sessions; this one stays signed in. Checking the current password counts
// against the sign-in throttle, so the form cannot be used to guess. A refusal shows the page
// again with its status: 422 for a wrong or unacceptable password, 429 while throttled, 503
// while too many passwords are being checked.
func (h *Handler) accountPassword(c echo.Context) error {
	input := form.PasswordChange{
		Current: c.FormValue("current_password"), Password: c.FormValue("password"), Confirm: c.FormValue("password_confirm"),
	}
	if err := input.Validate(); err != nil {
		return h.renderAccount(c, http.StatusUnprocessableEntity, models.FieldErrorsOf(err))
	}
	user := web.CurrentUser(c)
	ended, err := h.store.ChangePassword(c.Request().Context(), models.PasswordChange{
		UserID: user.ID, Current: input.Current, New: input.Password,
		Address: c.RealIP(), KeepSession: web.SessionToken(c),
	})
	var throttled *models.ThrottledError
	switch {
	case errors.As(err, &throttled):
		return h.renderAccount(c, http.StatusTooManyRequests, models.FormErrors("Too many wrong passwords. Try again in "+h.refuseThrottled(c, throttled)+" seconds."))
	case errors.Is(err, models.ErrPasswordHashBusy):
		h.srv.Metrics.SignIn(web.SignInBusy)
		c.Response().Header().Set("Retry-After", busyRetryAfter)
		return h.renderAccount(c, http.StatusServiceUnavailable, models.FormErrors("Keysmith is busy checking other passwords. Try again in a moment."))
	case errors.Is(err, models.ErrWrongPassword):
		h.srv.Metrics.SignIn(web.SignInFailure)
		h.log.Info("password change refused: wrong current password", "user_id", user.ID, "remote_ip", c.RealIP())
		return h.renderAccount(c, http.StatusUnprocessableEntity, models.FormErrors("The current password is incorrect."))
	case models.IsFieldError(err):
		return h.renderAccount(c, http.StatusUnprocessableEntity, models.FieldErrorsOf(err))
	case err != nil:
		return err
	}
	if err := h.srv.RenewSession(c); err != nil {
		return err
	}
	h.log.Info("password changed", "user_id", user.ID, "sessions_ended", ended)
	message := "Your password is changed."
	if ended > 0 {
		message += " " + sessionsEnded(ended) + " elsewhere; this one stays signed in."
	}
	if err := h.srv.AddFlash(c, message); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/account")
}
