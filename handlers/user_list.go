package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/views"
	"keysmith/web"
)

// userList shows Administration › Users.
func (h *Handler) userList(c echo.Context) error {
	return h.renderUsers(c, http.StatusOK, views.UsersView{})
}

// renderUsers renders the Users page with status, filling in the users and what every page
// needs around the form or message view already holds.
func (h *Handler) renderUsers(c echo.Context, status int, view views.UsersView) error {
	users, err := h.store.ListUsers(c.Request().Context())
	if err != nil {
		return err
	}
	page, err := h.srv.Page(c, "Users", "users")
	if err != nil {
		return err
	}
	view.Users, view.SelfID, view.CSRFToken, view.Now = users, web.CurrentUser(c).ID, page.CSRFToken, h.store.Now()
	return web.Render(c, status, views.UsersPage(page, view))
}

// errUserGone answers an action on a user id that no user has.
var errUserGone = echo.NewHTTPError(http.StatusNotFound, "This user does not exist.")

// userParam is the user id of the path; a malformed one is no user's.
func userParam(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errUserGone
	}
	return id, nil
}

// userRefused answers an action that a guard rail refused: the Users page again, saying why,
// with 409 (or 403 for an administrator who lost the right to act meanwhile), each refusal
// recorded in the audit log (authz.denied). Any other error is returned as it is, for the
// error handler.
func (h *Handler) userRefused(c echo.Context, err error, name string) error {
	var message string
	switch {
	case errors.Is(err, models.ErrUserNotFound):
		return errUserGone
	case errors.Is(err, models.ErrNotSuperAdmin):
		if err := h.srv.AuditDenial(c, models.DeniedPermission, "no longer a super-admin"); err != nil {
			return err
		}
		return echo.NewHTTPError(http.StatusForbidden, "Administering users needs the “"+models.PermissionSuperAdmin.Label()+"” permission, which your account no longer has.")
	case errors.Is(err, models.ErrOwnAccount):
		if err := h.srv.AuditDenial(c, models.DeniedGuardRail, "own account"); err != nil {
			return err
		}
		message = "You cannot disable, demote or reset your own account: ask another Super admin. Change your own password on Your account."
	case errors.Is(err, models.ErrLastSuperAdmin):
		if err := h.srv.AuditDenial(c, models.DeniedGuardRail, "last enabled super-admin"); err != nil {
			return err
		}
		message = name + " is the last enabled Super admin, and cannot be disabled or demoted. Make another user Super admin first."
	case errors.Is(err, models.ErrUserDisabled):
		message = name + " is disabled. Enable them first, then make a reset link."
	case models.IsFieldError(err):
		return h.renderUsers(c, http.StatusUnprocessableEntity, views.UsersView{Errors: models.FieldErrorsOf(err)})
	default:
		return err
	}
	return h.renderUsers(c, http.StatusConflict, views.UsersView{Errors: models.FormErrors(message)})
}
