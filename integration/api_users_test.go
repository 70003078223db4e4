package integration

import (
	"net/http"
	"strings"
	"testing"

	"keysmith/app/apptest"
	"keysmith/models"
)

func TestUsersAPINeverShowsPasswordHashes(t *testing.T) {
	eachAPI(t, models.ScopeAdmin, func(t *testing.T, api *apiClient) {
		api.app.CreateUser(t, "zoe@example.com", models.PermissionSuperAdmin)
		api.app.CreateUser(t, "adam@example.com", models.PermissionNone)
		res := api.do(http.MethodGet, "/api/v1/users", "")
		var body struct {
			Users []map[string]any `json:"users"`
		}
		api.expect(res, http.StatusOK, &body)
		if len(body.Users) != 2 || body.Users[0]["email"] != "adam@example.com" || body.Users[1]["permission"] != "super-admin" {
			t.Fatalf("users: %s", res.Body)
		}
		for _, word := range []string{"argon2", "password", "hash", apptest.DefaultPassword} {
			if strings.Contains(strings.ToLower(res.Body), word) {
				t.Errorf("users list contains %q: %s", word, res.Body)
			}
		}
		for _, field := range []string{"id", "email", "name", "permission", "disabled", "created_at"} {
			if _, ok := body.Users[0][field]; !ok {
				t.Errorf("user has no %q: %v", field, body.Users[0])
			}
		}
	})
}
