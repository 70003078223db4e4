package handlers

import (
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/views"
	"keysmith/web"
)

// userNew is the Add user form: a dialog over the Users page for htmx, a page of its own
// without JavaScript. A new user is a Connectivity admin unless chosen otherwise.
func (h *Handler) userNew(c echo.Context) error {
	return h.renderNewUser(c, http.StatusOK, views.UserForm{Permission: string(models.PermissionConnectivityAdmin)})
}

// renderNewUser renders the Add user form with what was typed and what is wrong with it.
// The form posts as a plain form from the dialog too, so a refusal is always this page.
func (h *Handler) renderNewUser(c echo.Context, status int, form views.UserForm) error {
	return h.renderDialogOrPageIn(c, "users", status, views.AddUserDialog(form, web.CSRFToken(c)), "Add user",
		func(p views.Page) templ.Component { return views.AddUserPage(p, form) })
}
