package handlers

import (
	"net/http"
	"slices"

	"github.com/a-h/templ"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/views"
	"keysmith/web"
)

// userPermissionConfirm asks to confirm a permission chosen from a user's menu on the Users
// page, before it applies: in a dialog for htmx, on a page without JavaScript. It changes
// nothing; the confirmation posts to userPermission.
func (h *Handler) userPermissionConfirm(c echo.Context) error {
	id, err := userParam(c)
	if err != nil {
		return err
	}
	permission := models.Permission(c.QueryParam("permission"))
	if !slices.Contains(models.Permissions, permission) {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "Choose one of the permissions the menu lists.")
	}
	user, err := h.store.UserByID(c.Request().Context(), id)
	if err != nil {
		return h.userRefused(c, err, "")
	}
	confirm := views.PermissionChange{User: *user, Permission: permission}
	return h.renderDialogOrPageIn(c, "users", http.StatusOK, views.PermissionDialog(confirm, web.CSRFToken(c)), "Change permission",
		func(p views.Page) templ.Component { return views.PermissionPage(p, confirm) })
}

// userPermission gives a user another permission. It applies from that user's next request,
// on every instance: each request reads its user from the database.
func (h *Handler) userPermission(c echo.Context) error {
	id, err := userParam(c)
	if err != nil {
		return err
	}
	permission := models.Permission(c.FormValue("permission"))
	user, changed, err := h.store.SetUserPermission(c.Request().Context(), id, permission)
	if err != nil {
		return h.userRefused(c, err, h.userName(c, id))
	}
	h.log.Info("user permission changed", "user_id", user.ID, "by_user_id", web.CurrentUser(c).ID, "changed", changed)
	message := user.Name + " already has the “" + permission.Label() + "” permission: nothing changed."
	if changed {
		message = user.Name + " now has the “" + permission.Label() + "” permission, from their next request on."
	}
	if err := h.srv.AddFlash(c, message); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/users")
}

// userName is how a refusal names the user with that id: their name, or "This user" when it
// cannot be read.
func (h *Handler) userName(c echo.Context, id int64) string {
	if user, err := h.store.UserByID(c.Request().Context(), id); err == nil {
		return user.Name
	}
	return "This user"
}
