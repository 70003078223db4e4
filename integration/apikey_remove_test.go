package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"keysmith/app/apptest"
	"keysmith/models"
)

func TestDelete(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		plain, _, _ := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Plain", Scope: models.ScopeManageDocumentation})
		viaHTMX, _, _ := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Via htmx", Scope: models.ScopeAdmin})

		confirm := admin.Get("/admin/api-keys/" + plain.PublicID + "/delete?return=" + url.QueryEscape("/admin/api-keys?sort=name"))
		wantStatus(t, confirm, http.StatusOK)
		d := doc(t, confirm.Body)
		if !strings.Contains(d.Find("h1").Text(), "Plain") || d.Find(`[data-testid="delete-scope"]`).Text() != "Manage documentation" ||
			!strings.Contains(d.Find(`[data-testid="delete-warning"]`).Text(), "will no longer be able to connect") ||
			!strings.Contains(d.Find(`[data-testid="delete-last-used"]`).Text(), "Never used") {
			t.Errorf("confirmation does not name the key, scope, last use and the warning:\n%s", confirm.Body)
		}
		res := admin.Post("/admin/api-keys/"+plain.PublicID+"/delete", url.Values{"return": {"/admin/api-keys?sort=name"}})
		wantStatus(t, res, http.StatusSeeOther)
		if got := res.Header.Get("Location"); got != "/admin/api-keys?sort=name" {
			t.Errorf("redirect to %q, want back to the list as it was", got)
		}
		list := admin.Get("/admin/api-keys?sort=name")
		if !strings.Contains(doc(t, list.Body).Find(`[data-testid="flash"]`).Text(), "“Plain” deleted") {
			t.Error("no notice after the delete")
		}
		if names := rowNames(t, list.Body); strings.Join(names, ",") != "Via htmx" {
			t.Errorf("rows after delete %q, want only Via htmx", names)
		}
		if strings.Contains(doc(t, admin.Get("/admin/api-keys").Body).Find(`[data-testid="flash"]`).Text(), "deleted") {
			t.Error("the notice shows twice")
		}

		dialog := admin.HTMX(http.MethodGet, "/admin/api-keys/"+viaHTMX.PublicID+"/delete", "dialog-slot", nil)
		if doc(t, dialog.Body).Find(`dialog[data-testid="delete-api-key-dialog"]`).Length() != 1 {
			t.Fatalf("no delete dialog over htmx:\n%s", dialog.Body)
		}
		res = admin.HTMX(http.MethodDelete, "/admin/api-keys/"+viaHTMX.PublicID, "dialog-slot", nil)
		wantStatus(t, res, http.StatusOK)
		removed := doc(t, res.Body)
		if oob, _ := removed.Find(`#api-key-list`).Attr("hx-swap-oob"); oob != "true" || removed.Find(`[data-testid="api-key-empty"]`).Length() != 1 {
			t.Errorf("htmx delete of the last key does not refresh the list to its empty state out of band:\n%s", res.Body)
		}
		if !strings.Contains(removed.Find(`#flash[hx-swap-oob]`).Text(), "“Via htmx” deleted") {
			t.Errorf("htmx delete does not say what was deleted:\n%s", res.Body)
		}
		for _, r := range []*apptest.Response{
			admin.HTMX(http.MethodDelete, "/admin/api-keys/"+viaHTMX.PublicID, "dialog-slot", nil),
			admin.Post("/admin/api-keys/"+viaHTMX.PublicID+"/delete", nil),
			admin.Get("/admin/api-keys/ak_doesnotexist0000/delete"),
		} {
			wantStatus(t, r, http.StatusNotFound)
			if !strings.Contains(r.Body, "no longer exists") {
				t.Errorf("404 without a clear message:\n%s", r.Body)
			}
		}
		if page, _ := app.Store.ListAPIKeys(ctx, models.APIKeyQuery{}); page.Total != 0 {
			t.Errorf("%d keys left, want 0", page.Total)
		}
	})
}

func TestDeleteRecentlyUsedKeyNeedsItsName(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		key, _, _ := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Lineage export", Scope: models.ScopeReadOnly})
		now := app.Store.Now()
		err := app.Store.RecordAPIKeyUses(ctx, []models.APIKeyUse{
			{APIKeyID: key.ID, At: now.Add(-2 * time.Hour), IP: "10.0.0.7", Client: "lineage-cron/2.1"},
			{APIKeyID: key.ID, At: now.Add(-40 * 24 * time.Hour), IP: "10.0.0.9", Client: "old-script/0.1"},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		d := doc(t, admin.Get("/admin/api-keys/"+key.PublicID+"/delete").Body)
		clients := d.Find(`[data-testid="delete-client"]`)
		if clients.Length() != 1 || !strings.Contains(clients.Text(), "lineage-cron/2.1") || !strings.Contains(clients.Text(), "2 hours ago") {
			t.Errorf("clients in the last 30 days: %q, want lineage-cron/2.1 seen 2 hours ago only", clients.Text())
		}
		if d.Find(`[data-testid="confirm-name"]`).Length() != 1 {
			t.Fatal("a key used in the last 7 days does not ask for its name")
		}
		for _, typed := range []string{"", "lineage export", "Lineage"} {
			res := admin.Post("/admin/api-keys/"+key.PublicID+"/delete", url.Values{"confirm_name": {typed}})
			wantStatus(t, res, http.StatusUnprocessableEntity)
			d := doc(t, res.Body)
			if d.Find(`[data-testid="error-confirm_name"]`).Length() != 1 {
				t.Errorf("typed %q: no message beside the name field", typed)
			}
			if got := d.Find(`[data-testid="confirm-name"]`).AttrOr("value", ""); got != typed {
				t.Errorf("typed %q: the field shows %q after the error, want what was typed", typed, got)
			}
		}
		if _, err := app.Store.APIKeyByPublicID(ctx, key.PublicID); err != nil {
			t.Fatalf("a wrong name deleted the key: %v", err)
		}
		// htmx sends a DELETE's fields in the query string, the CSRF token in its header.
		wrong := admin.HTMX(http.MethodDelete, "/admin/api-keys/"+key.PublicID+"?confirm_name=lineage", "dialog-slot", nil)
		wantStatus(t, wrong, http.StatusUnprocessableEntity)
		if doc(t, wrong.Body).Find(`dialog [data-testid="error-confirm_name"]`).Length() != 1 {
			t.Errorf("wrong name over htmx does not re-render the dialog with the message:\n%s", wrong.Body)
		}
		right := admin.HTMX(http.MethodDelete, "/admin/api-keys/"+key.PublicID+"?confirm_name="+url.QueryEscape("Lineage export"), "dialog-slot", nil)
		wantStatus(t, right, http.StatusOK)
		if _, err := app.Store.APIKeyByPublicID(ctx, key.PublicID); !errors.Is(err, models.ErrAPIKeyNotFound) {
			t.Errorf("after typing the right name over htmx: %v, want the key gone", err)
		}
	})
}

func TestDeleteOverHTMXKeepsTheListAsShown(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		for _, name := range []string{"Alpha one", "Alpha two", "Beta"} {
			if _, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: name, Scope: models.ScopeReadOnly}); err != nil {
				t.Fatal(err)
			}
		}
		page, _ := app.Store.ListAPIKeys(ctx, models.APIKeyQuery{Search: "alpha one"})
		res := admin.Do(http.MethodDelete, "/admin/api-keys/"+page.Keys[0].PublicID, nil, map[string]string{
			"HX-Request": "true", "HX-Target": "dialog-slot", "X-CSRF-Token": admin.CSRF,
			"HX-Current-URL": app.URL + "/admin/api-keys?q=alpha&sort=name",
		})
		wantStatus(t, res, http.StatusOK)
		if got := strings.Join(rowNames(t, res.Body), ","); got != "Alpha two" {
			t.Errorf("refreshed rows %q, want the search kept: Alpha two", got)
		}
	})
}

func TestDeleteCountsUsesNotYetWritten(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		key, secret, err := app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "Just used", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, app.Client(t).Do(http.MethodGet, "/api/v1/auth/verify", nil, map[string]string{"X-API-SECRET": secret, "User-Agent": "cron/1"}), http.StatusOK)
		d := doc(t, admin.Get("/admin/api-keys/"+key.PublicID+"/delete").Body)
		if d.Find(`[data-testid="confirm-name"]`).Length() != 1 || !strings.Contains(d.Find(`[data-testid="delete-clients"]`).Text(), "cron/1") {
			t.Error("a key used a moment ago, not yet written, can be deleted without typing its name")
		}
	})
}

// The delete warning names the scanners first and the most recent other clients, and counts
// the ones it does not name.
func TestDeleteWarningNamesScannersFirstAndCountsTheRest(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		key, _, _ := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Shared widely", Scope: models.ScopeScanner})
		now := app.Store.Now()
		uses := []models.APIKeyUse{{APIKeyID: key.ID, At: now.Add(-20 * 24 * time.Hour), IP: "192.0.2.1", Client: "pg-scanner", Scanner: true}}
		for i := range 25 {
			uses = append(uses, models.APIKeyUse{APIKeyID: key.ID, At: now.Add(-time.Duration(25-i) * time.Minute), IP: "192.0.2.2", Client: fmt.Sprintf("script/%d", i)})
		}
		if err := app.Store.RecordAPIKeyUses(ctx, uses, nil); err != nil {
			t.Fatal(err)
		}
		d := doc(t, admin.Get("/admin/api-keys/"+key.PublicID+"/delete").Body)
		items := d.Find(`[data-testid="delete-client"]`)
		if items.Length() != 20 {
			t.Fatalf("%d clients named, want 20", items.Length())
		}
		if first := items.First().Text(); !strings.Contains(first, "Scanner") || !strings.Contains(first, "pg-scanner") {
			t.Errorf("first named %q, want the scanner", first)
		}
		if second := items.Eq(1).Text(); !strings.Contains(second, "script/24") {
			t.Errorf("second named %q, want the most recent script", second)
		}
		if more := strings.TrimSpace(d.Find(`[data-testid="delete-more-clients"]`).Text()); more != "…and 6 more clients." {
			t.Errorf("count of the others %q, want %q", more, "…and 6 more clients.")
		}
	})
}

// Only a use in the last 7 days asks for the name: a key last used 8 days ago is deleted with
// its clients named but no name typed.
func TestKeyUsedMoreThanAWeekAgoIsDeletedWithoutItsName(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		key, _, _ := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Last month's export", Scope: models.ScopeReadOnly})
		use := models.APIKeyUse{APIKeyID: key.ID, At: app.Store.Now().Add(-8 * 24 * time.Hour), IP: "192.0.2.1", Client: "export/2"}
		if err := app.Store.RecordAPIKeyUses(ctx, []models.APIKeyUse{use}, nil); err != nil {
			t.Fatal(err)
		}
		d := doc(t, admin.Get("/admin/api-keys/"+key.PublicID+"/delete").Body)
		if d.Find(`[data-testid="confirm-name"]`).Length() != 0 || !strings.Contains(d.Find(`[data-testid="delete-clients"]`).Text(), "export/2") {
			t.Fatal("a key last used 8 days ago asks for its name, or its client is not named")
		}
		wantStatus(t, admin.Post("/admin/api-keys/"+key.PublicID+"/delete", url.Values{}), http.StatusSeeOther)
		if _, err := app.Store.APIKeyByPublicID(ctx, key.PublicID); !errors.Is(err, models.ErrAPIKeyNotFound) {
			t.Fatalf("after delete: %v, want ErrAPIKeyNotFound", err)
		}
	})
}
