package integration

import (
	"net/http"
	"strings"
	"testing"

	"keysmith/app/apptest"
	"keysmith/models"
)

func TestPermissionRequired(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, _ *apptest.Client) {
		app.CreateUser(t, "reader@example.com", models.PermissionNone)
		reader := app.Client(t)
		reader.Login("reader@example.com")
		for _, path := range []string{"/admin/api-keys", "/admin/api-keys/new"} {
			res := reader.Get(path)
			wantStatus(t, res, http.StatusForbidden)
			message := doc(t, res.Body).Find(`[data-testid="error-page"]`).Text()
			if !strings.Contains(message, "Connectivity administration") || !strings.Contains(message, "Super admin") {
				t.Errorf("%s: 403 page does not name the missing permission: %q", path, message)
			}
		}
		res := reader.Post("/admin/api-keys", createForm("sneaky", models.ScopeManageDocumentation, "30d"))
		wantStatus(t, res, http.StatusForbidden)
		app.CreateUser(t, "super@example.com", models.PermissionSuperAdmin)
		super := app.Client(t)
		super.Login("super@example.com")
		wantStatus(t, super.Get("/admin/api-keys"), http.StatusOK)
	})
}
