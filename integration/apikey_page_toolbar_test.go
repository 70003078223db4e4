package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// toolbarItems lists the data-testid of each control of the key page's header toolbar, in
// order.
func toolbarItems(page *goquery.Document) string {
	var items []string
	page.Find(`[data-testid="key-page-name"] ~ [data-testid="key-toolbar"]`).Find(`summary, a[role="button"], button`).Each(func(_ int, s *goquery.Selection) {
		// The rename form's own Save button is inside its disclosure, not a toolbar control.
		if s.ParentsFiltered("form").Length() == 0 || s.ParentsFiltered("details").Length() == 0 {
			items = append(items, s.AttrOr("data-testid", ""))
		}
	})
	return strings.Join(items, " ")
}

// The key page leads with its actions, in its header: Rename, Rotate secret, Disable or
// Enable, and Delete, each opening what the list's row menu opens; an expired key is offered
// Renew instead of Rotate and Disable. The long forms at the bottom are gone.
func TestKeyPageToolbar(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		now := app.Store.Now()
		active, _ := createKey(t, app.Store, "nightly export")
		disabled, _ := createKey(t, app.Store, "paused export")
		if _, _, err := app.Store.DisableAPIKey(ctx, disabled.PublicID); err != nil {
			t.Fatal(err)
		}
		expired, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "old export", Scope: models.ScopeReadOnly, ExpiresAt: new(now.Add(-time.Hour))})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			key   *models.APIKey
			items string
		}{
			{active, "rename-api-key rotate-api-key disable-api-key delete-api-key"},
			{disabled, "rename-api-key rotate-api-key enable-api-key delete-api-key"},
			{expired, "rename-api-key renew-api-key delete-api-key"},
		} {
			path := "/admin/api-keys/" + tc.key.PublicID
			page := doc(t, admin.Get(path).Body)
			if got := toolbarItems(page); got != tc.items {
				t.Errorf("%s: the header's toolbar holds %q, want %q", tc.key.Name, got, tc.items)
			}
			if page.Find(`[data-testid="key-actions"], .key-action`).Length() != 0 {
				t.Errorf("%s: the page still ends with the long action forms", tc.key.Name)
			}
			rotate := page.Find(`[data-testid="key-toolbar"] a[data-testid="rotate-api-key"], [data-testid="key-toolbar"] a[data-testid="renew-api-key"]`)
			if got, want := rotate.AttrOr("hx-get", ""), path+"/rotate"; got != want || rotate.AttrOr("hx-target", "") != "#dialog-slot" {
				t.Errorf("%s: Rotate opens %q over htmx, want the rotate dialog, %q", tc.key.Name, got, want)
			}
			if got, want := rotate.AttrOr("href", ""), path+"/rotate?return="+url.QueryEscape(path); got != want {
				t.Errorf("%s: Rotate leads to %q without JavaScript, want %q", tc.key.Name, got, want)
			}
			del := page.Find(`[data-testid="key-toolbar"] a[data-testid="delete-api-key"]`)
			if del.AttrOr("hx-get", "") != path+"/delete" || del.AttrOr("href", "") != path+"/delete" || del.AttrOr("hx-target", "") != "#dialog-slot" {
				t.Errorf("%s: Delete: href %q hx-get %q, want the delete dialog, %q", tc.key.Name, del.AttrOr("href", ""), del.AttrOr("hx-get", ""), path+"/delete")
			}
			if dialog := doc(t, admin.HTMX(http.MethodGet, path+"/delete", "dialog-slot", nil).Body); dialog.Find(`dialog[data-testid="delete-api-key-dialog"]`).Length() != 1 {
				t.Errorf("%s: Delete does not open the delete dialog", tc.key.Name)
			}
			for _, state := range []string{"disable", "enable"} {
				form := page.Find(`[data-testid="key-toolbar"] form[data-testid="` + state + `-form"]`)
				if form.Length() == 0 {
					continue
				}
				if form.AttrOr("action", "") != path+"/"+state || form.AttrOr("method", "") != "post" || form.Find(`input[name="_csrf"]`).AttrOr("value", "") == "" {
					t.Errorf("%s: %s: action %q method %q, want a POST to %q with the CSRF token", tc.key.Name, state, form.AttrOr("action", ""), form.AttrOr("method", ""), path+"/"+state)
				}
			}
			// What only the bottom forms said stays on the page: who uses the key.
			if page.Find(`[data-testid="key-no-clients"], [data-testid="seen-clients"]`).Length() == 0 && !strings.Contains(page.Text(), "Seen in the last 30 days") {
				t.Errorf("%s: the page no longer says who uses the key", tc.key.Name)
			}
		}

		// Deleting from the dialog opened over the key page leads to the list, which says so.
		path := "/admin/api-keys/" + active.PublicID
		res := admin.Do(http.MethodDelete, path, nil, map[string]string{"HX-Request": "true", "X-CSRF-Token": admin.CSRF, "HX-Target": "dialog-slot", "HX-Current-URL": "http://keysmith.test" + path})
		wantStatus(t, res, http.StatusOK)
		if got := res.Header.Get("HX-Redirect"); got != "/admin/api-keys" {
			t.Errorf("deleting from the key page: HX-Redirect %q, want the list", got)
		}
		if got := doc(t, admin.Get("/admin/api-keys").Body).Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "“nightly export” deleted") {
			t.Errorf("the list after a delete from the key page says %q, want the key deleted", got)
		}
		wantStatus(t, admin.Get(path), http.StatusNotFound)
	})
}

// Renew gives an expired key a new secret and a new expiry with no grace: the rotate dialog,
// titled and buttoned Renew, with the expiry choices and no grace choices. A grace sent anyway
// is ignored, since the expired secret works no more. It is audited as a rotation.
func TestKeyPageRenewsAnExpiredKey(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		now := app.Store.Now()
		key, oldSecret, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "old export", Scope: models.ScopeReadOnly, ExpiresAt: new(now.AddDate(0, 0, -3))})
		if err != nil {
			t.Fatal(err)
		}
		path := "/admin/api-keys/" + key.PublicID
		for name, res := range map[string]*apptest.Response{
			"dialog": admin.HTMX(http.MethodGet, path+"/rotate", "dialog-slot", nil),
			"page":   admin.Get(path + "/rotate?return=" + url.QueryEscape(path)),
		} {
			wantStatus(t, res, http.StatusOK)
			form := doc(t, res.Body)
			if got, want := strings.TrimSpace(form.Find(`#rotate-title, [data-testid="rotate-api-key-page"] h1`).First().Text()), "Renew API key “old export”"; got != want {
				t.Errorf("%s: title %q, want %q", name, got, want)
			}
			if got := strings.TrimSpace(form.Find(`[data-testid="confirm-rotate"]`).Text()); got != "Renew" {
				t.Errorf("%s: the button says %q, want Renew", name, got)
			}
			if form.Find(`input[type="radio"][name="grace"]`).Length() != 0 || form.Find(`input[type="hidden"][name="grace"]`).AttrOr("value", "") != string(models.GraceNone) {
				t.Errorf("%s: want no grace to choose, grace none sent", name)
			}
			if form.Find(`select[name="expires_in"] option`).Length() < 2 {
				t.Errorf("%s: want the expiry choices", name)
			}
		}

		// A grace sent by hand is ignored.
		res := admin.Post(path+"/rotate", url.Values{"grace": {string(models.GraceUntilUnused)}, "expires_in": {"30d"}, "return": {path}})
		wantStatus(t, res, http.StatusOK)
		secret := rotatedSecret(t, res)
		renewed, err := app.Store.APIKeyByPublicID(ctx, key.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if renewed.Status(app.Store.Now()) != models.StatusActive {
			t.Errorf("the renewed key's status: %q, want active", renewed.Status(app.Store.Now()))
		}
		if renewed.ExpiresAt == nil || renewed.ExpiresAt.Sub(now.AddDate(0, 0, 30)).Abs() > 24*time.Hour {
			t.Errorf("the renewed key expires %v, want about 30 days from now", renewed.ExpiresAt)
		}
		if renewed.Previous.SecretHash != nil {
			t.Error("the renewed key keeps its expired secret in a grace")
		}
		for s, want := range map[string]int{secret: http.StatusOK, oldSecret: http.StatusUnauthorized} {
			if got := app.Client(t).Do(http.MethodGet, "/api/v1/auth/verify", nil, map[string]string{"X-API-SECRET": s}).StatusCode; got != want {
				t.Errorf("verify with the %s secret: %d, want %d", map[bool]string{true: "new", false: "old"}[s == secret], got, want)
			}
		}
		if rotations := modelstest.AuditEvents(t, app.Store, models.AuditFilter{Action: models.AuditKeyRotated}); len(rotations) != 1 || !strings.HasPrefix(rotations[0].Detail, "grace 0;") {
			t.Errorf("key.rotated events: %+v, want one, with grace 0", rotations)
		}
		page := doc(t, admin.Get(path).Body)
		if got := toolbarItems(page); got != "rename-api-key rotate-api-key disable-api-key delete-api-key" {
			t.Errorf("the renewed key's toolbar: %q, want Rotate and Disable again", got)
		}
	})
}

// The chart counts, per day, the requests a key authenticated and those refused with it
// through the real API (of another scope than the route admits; disabled), the refused stacked
// on the successful; its table gives both, and its scale the busiest day's total.
func TestKeyPageChartsRefusedRequests(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		key, secret, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Snowflake scanner", Scope: models.ScopeScanner})
		if err != nil {
			t.Fatal(err)
		}
		gateway := app.Client(t)
		call := func(daysAgo, times int, path string, status int) {
			app.Store.SetClock(func() time.Time { return now.AddDate(0, 0, -daysAgo) })
			for range times {
				wantStatus(t, gateway.Do(http.MethodGet, path, nil, map[string]string{"X-API-SECRET": secret}), status)
			}
		}
		call(2, 3, "/api/v1/auth/verify", http.StatusOK)
		call(2, 2, "/api/v1/users", http.StatusForbidden) // a Scanner key on an Admin route
		app.Store.SetClock(func() time.Time { return now })
		if _, _, err := app.Store.DisableAPIKey(ctx, key.PublicID); err != nil {
			t.Fatal(err)
		}
		call(0, 4, "/api/v1/auth/verify", http.StatusUnauthorized)
		// A secret nobody knows is refused for no key.
		wantStatus(t, gateway.Do(http.MethodGet, "/api/v1/auth/verify", nil, map[string]string{"X-API-SECRET": "ksk_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefgh"}), http.StatusUnauthorized)

		page := doc(t, admin.Get("/admin/api-keys/"+key.PublicID).Body)
		days := map[string]string{}
		page.Find(`[data-testid="usage-table"] tbody tr`).Each(func(_ int, row *goquery.Selection) {
			if counts := row.Find("td").First().Text() + "/" + row.Find("td").Last().Text(); counts != "0/0" {
				days[row.Find("time").AttrOr("datetime", "")] = counts
			}
		})
		want := map[string]string{now.AddDate(0, 0, -2).Format(time.DateOnly): "3/2", now.Format(time.DateOnly): "0/4"}
		if fmt.Sprint(days) != fmt.Sprint(want) {
			t.Errorf("days in the chart's table (successful/refused): got %v, want %v", days, want)
		}
		if got := page.Find(`[data-testid="usage-scale-max"]`).Text(); got != "5" {
			t.Errorf("the scale's top: got %q, want the busiest day's total, 5", got)
		}
		refused := page.Find(`rect[data-testid="usage-refused-bar"]`)
		if refused.Length() != 2 || refused.Last().AttrOr("data-refused", "") != "4" || refused.Last().AttrOr("data-day", "") != now.Format(time.DateOnly) {
			t.Errorf("refused bars: %d, the last of %s refused on %s; want 2, the last of 4 today", refused.Length(), refused.Last().AttrOr("data-refused", ""), refused.Last().AttrOr("data-day", ""))
		}
	})
}
