package integration

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keysmith/app/apptest"
	"keysmith/config"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// adminScopeReason is what the console says of the Admin scope to a Connectivity admin.
const adminScopeReason = "Only a Super admin can create or rotate an Admin key: it can read every user and the whole audit log."

// A Connectivity admin, refused on Users, cannot get around it with an Admin key: the form
// offers the Admin scope disabled, with the reason; a create that asks for it anyway is 422 and
// creates nothing; an Admin key's row and page offer no Rotate, and say why; opening or
// sending its rotation is 403 and changes nothing. Each refusal is recorded (authz.denied).
// A Super admin may do all of it.
func TestAdminKeysAreForSuperAdmins(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		form := doc(t, admin.Get("/admin/api-keys/new").Body)
		if _, disabled := form.Find(`input[name="scope"][value="admin"]`).Attr("disabled"); !disabled {
			t.Error("the Admin scope is offered to a Connectivity admin")
		}
		if got := form.Find(`[data-testid="scope-refused-admin"]`).Text(); got != adminScopeReason {
			t.Errorf("reason beside the Admin scope: got %q, want %q", got, adminScopeReason)
		}
		if _, disabled := form.Find(`input[name="scope"][value="manage-documentation"]`).Attr("disabled"); disabled {
			t.Error("the Manage documentation scope is disabled for a Connectivity admin")
		}
		for _, send := range []func() *apptest.Response{
			func() *apptest.Response {
				return admin.Post("/admin/api-keys", createForm("sneaky", models.ScopeAdmin, "30d"))
			},
			func() *apptest.Response {
				return admin.HTMX(http.MethodPost, "/admin/api-keys", "dialog-slot", createForm("sneaky", models.ScopeAdmin, "30d"))
			},
		} {
			res := send()
			wantStatus(t, res, http.StatusUnprocessableEntity)
			if got := doc(t, res.Body).Find(`[data-testid="error-scope"]`).Text(); got != adminScopeReason {
				t.Errorf("message beside the scope: got %q, want %q", got, adminScopeReason)
			}
		}
		if got := storedKeyCount(t, app); got != 0 {
			t.Fatalf("keys after the refused creates: %d, want 0", got)
		}

		ctx := context.Background()
		adminKey, adminSecret, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "catalog admin", Scope: models.ScopeAdmin})
		if err != nil {
			t.Fatal(err)
		}
		reader, _ := createKey(t, app.Store, "reader")
		list := doc(t, admin.Get("/admin/api-keys").Body)
		adminRow := list.Find(`[data-key-id="` + adminKey.PublicID + `"]`)
		if adminRow.Find(`[data-testid="rotate-api-key"]`).Length() != 0 {
			t.Error("the Admin key's row offers Rotate to a Connectivity admin")
		}
		if reason, _ := adminRow.Find(`[data-testid="rotate-refused"]`).Attr("title"); reason != adminScopeReason {
			t.Errorf("the Admin key's row: refused Rotate says %q, want %q", reason, adminScopeReason)
		}
		if list.Find(`[data-key-id="`+reader.PublicID+`"] [data-testid="rotate-api-key"]`).Length() != 1 {
			t.Error("the Read-only key's row offers no Rotate")
		}
		page := doc(t, admin.Get("/admin/api-keys/"+adminKey.PublicID).Body)
		if page.Find(`[data-testid="rotate-api-key"]`).Length() != 0 || !strings.Contains(page.Find(`[data-testid="rotate-refused"]`).Text(), adminScopeReason) {
			t.Error("the Admin key's page offers its rotate form to a Connectivity admin, or does not say why not")
		}
		rotatePath := "/admin/api-keys/" + adminKey.PublicID + "/rotate"
		for _, res := range []*apptest.Response{
			admin.Get(rotatePath),
			admin.HTMX(http.MethodGet, rotatePath, "dialog-slot", nil),
			admin.Post(rotatePath, url.Values{"grace": {"0"}, "expires_in": {"30d"}, "replaces": {adminKey.Hint}}),
			admin.Post(rotatePath, url.Values{"grace": {"0"}, "expires_in": {"30d"}}),
		} {
			wantStatus(t, res, http.StatusForbidden)
			if !strings.Contains(res.Body, adminScopeReason) {
				t.Errorf("%s %s: the refusal does not say why", res.Request.Method, rotatePath)
			}
		}
		if got := app.VerifyStatus(t, adminSecret); got != http.StatusOK {
			t.Errorf("the Admin key's secret after the refused rotations: status %d, want 200", got)
		}
		var rotationRefusals, createRefusals int
		for _, ev := range deniedEvents(t, app.Store) {
			switch {
			case ev.TargetID == "POST /admin/api-keys" && strings.HasPrefix(ev.Detail, "permission: creating an admin key needs super-admin"):
				createRefusals++
			case strings.HasSuffix(ev.TargetID, " /admin/api-keys/:id/rotate") && strings.HasPrefix(ev.Detail, "permission: rotating an admin key needs super-admin"):
				rotationRefusals++
			default:
				t.Errorf("unexpected authz.denied: %+v", ev)
			}
		}
		if createRefusals != 2 || rotationRefusals != 4 {
			t.Errorf("authz.denied recorded: %d creates and %d rotations, want 2 and 4", createRefusals, rotationRefusals)
		}

		// A Super admin may.
		app.CreateUser(t, rootEmail, models.PermissionSuperAdmin)
		root := app.Client(t)
		root.Login(rootEmail)
		if _, disabled := doc(t, root.Get("/admin/api-keys/new").Body).Find(`input[name="scope"][value="admin"]`).Attr("disabled"); disabled {
			t.Error("the Admin scope is disabled for a Super admin")
		}
		wantStatus(t, root.Post("/admin/api-keys", createForm("by root", models.ScopeAdmin, "30d")), http.StatusOK)
		root.Get(rotatePath)
		rotated := root.Post(rotatePath, url.Values{"grace": {"0"}, "expires_in": {"30d"}, "replaces": {adminKey.Hint}})
		wantStatus(t, rotated, http.StatusOK)
		if got := app.VerifyStatus(t, rotatedSecret(t, rotated)); got != http.StatusOK {
			t.Errorf("the Admin key's secret rotated by a Super admin: status %d, want 200", got)
		}
	})
}

// KEYSMITH_ADMIN_KEYS_BY=key-admins restores the behaviour from before: a Connectivity admin
// may create and rotate Admin keys.
func TestAdminKeysByKeyAdmins(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		if _, disabled := doc(t, admin.Get("/admin/api-keys/new").Body).Find(`input[name="scope"][value="admin"]`).Attr("disabled"); disabled {
			t.Error("the Admin scope is disabled under key-admins")
		}
		created := admin.Post("/admin/api-keys", createForm("by a key admin", models.ScopeAdmin, "30d"))
		wantStatus(t, created, http.StatusOK)
		key, err := app.Store.APIKeyBySecretHash(context.Background(), models.HashSecret(secretInPage.FindString(created.Body)))
		if err != nil || key.Scope != models.ScopeAdmin {
			t.Fatalf("created key: %+v, %v; want an Admin key", key, err)
		}
		admin.Get("/admin/api-keys/" + key.PublicID + "/rotate")
		wantStatus(t, admin.Post("/admin/api-keys/"+key.PublicID+"/rotate", url.Values{"grace": {"0"}, "expires_in": {"30d"}}), http.StatusOK)
		if events := modelstest.AuditEvents(t, app.Store, models.AuditFilter{Action: "authz"}); len(events) != 0 {
			t.Errorf("authz.denied under key-admins: %+v, want none", events)
		}
	}, func(cfg *config.Config) { cfg.AdminKeysBy = config.AdminKeysByKeyAdmins })
}
