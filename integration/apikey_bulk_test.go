package integration

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keysmith/app/apptest"
	"keysmith/models"
)

// bulkForm is the bulk form as the list's buttons send it.
func bulkForm(action string, ids ...string) url.Values {
	return url.Values{"action": {action}, "ids": ids, "return": {"/admin/api-keys?sort=name"}}
}

// auditCount counts the audit events of action on the key.
func auditCount(t *testing.T, app *apptest.App, action, keyID string) int {
	t.Helper()
	page, err := app.Store.AuditLog(context.Background(), models.AuditLogQuery{Filter: models.AuditFilter{Action: action, Key: keyID}, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	return len(page.Events)
}

// The list's rows have checkboxes in the bulk form, whose Disable and Delete buttons sit
// above the table; the first POST confirms, naming every key and the clients that stop.
// Without a use in the last 7 days no count is asked; the confirmed POST disables each key
// through the single operation (audited, refused), and the list comes back with a notice and
// the proof of the last revocation.
func TestBulkDisableConfirmsThenDisablesEach(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		var ids []string
		secrets := map[string]string{}
		for _, name := range []string{"bulk one", "bulk two", "bulk three"} {
			key, secret, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: name, Scope: models.ScopeReadOnly})
			if err != nil {
				t.Fatal(err)
			}
			ids, secrets[key.PublicID] = append(ids, key.PublicID), secret
		}
		keep, keepSecret, _ := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "bulk kept", Scope: models.ScopeReadOnly})
		old := time.Now().Add(-20 * 24 * time.Hour)
		if err := app.Store.RecordAPIKeyUses(ctx, []models.APIKeyUse{{APIKeyID: mustKey(t, app, ids[0]).ID, At: old, IP: "192.0.2.9", Client: "nightly-export/2"}}, nil); err != nil {
			t.Fatal(err)
		}

		list := doc(t, admin.Get("/admin/api-keys").Body)
		bar := list.Find(`form#bulk-keys[method="post"][action="/admin/api-keys/bulk"]`)
		if bar.Length() != 1 || strings.TrimSpace(bar.Find(`[data-testid="bulk-disable"]`).Text()) != "Disable" || strings.TrimSpace(bar.Find(`[data-testid="bulk-delete"]`).Text()) != "Delete" {
			t.Fatalf("the list has no bulk form with Disable and Delete: %d forms", bar.Length())
		}
		if got := list.Find(`[data-testid="api-key-row"] input[type="checkbox"][name="ids"][form="bulk-keys"]`).Length(); got != 4 {
			t.Errorf("checkboxes in the bulk form: got %d, want one per row (4)", got)
		}
		if bar.Find(`input[name="_csrf"]`).Length() != 1 {
			t.Error("the bulk form carries no CSRF token")
		}

		confirm := admin.Post("/admin/api-keys/bulk", bulkForm("disable", ids...))
		wantStatus(t, confirm, http.StatusOK)
		page := doc(t, confirm.Body)
		if got := strings.Join(page.Find(`[data-testid="bulk-key-name"]`).Map(func(_ int, s *goquery.Selection) string { return s.Text() }), ","); got != "bulk one,bulk two,bulk three" {
			t.Errorf("confirmation names %q, want every key ticked", got)
		}
		if got := page.Find(`[data-testid="bulk-client"]`).Text(); !strings.Contains(got, "nightly-export/2") {
			t.Errorf("confirmation clients %q, want the client seen in the last 30 days", got)
		}
		if page.Find(`[data-testid="confirm-count"]`).Length() != 0 {
			t.Error("no key was used in the last 7 days, yet the count is asked")
		}
		if got := strings.TrimSpace(page.Find(`[data-testid="confirm-bulk"]`).Text()); got != "Disable 3 keys" {
			t.Errorf("confirm button %q, want %q", got, "Disable 3 keys")
		}
		for _, id := range ids {
			if mustKey(t, app, id).DisabledAt != nil {
				t.Fatalf("%s was disabled before the confirmation", id)
			}
		}

		confirmed := bulkForm("disable", ids...)
		confirmed.Set("confirmed", "yes")
		done := admin.Post("/admin/api-keys/bulk", confirmed)
		wantStatus(t, done, http.StatusSeeOther)
		if got := done.Header.Get("Location"); got != "/admin/api-keys?sort=name" {
			t.Errorf("after the bulk disable, went to %q, want the list as it was", got)
		}
		after := admin.Get(done.Header.Get("Location")).Body
		if got := doc(t, after).Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "3 API keys disabled.") {
			t.Errorf("notice %q, want it to count the keys disabled", got)
		}
		if _, ok := readProof(t, after); !ok {
			t.Error("no proof of revocation after the bulk disable")
		}
		for _, id := range ids {
			if got := app.VerifyStatus(t, secrets[id]); got != http.StatusUnauthorized {
				t.Errorf("%s after the bulk disable: verify %d, want 401", id, got)
			}
			if got := auditCount(t, app, models.AuditKeyDisabled, id); got != 1 {
				t.Errorf("%s: %d key.disabled events, want 1", id, got)
			}
		}
		if app.VerifyStatus(t, keepSecret) != http.StatusOK || auditCount(t, app, models.AuditKeyDisabled, keep.PublicID) != 0 {
			t.Error("the key not ticked was changed")
		}
	})
}

// mustKey reads a key by its public id.
func mustKey(t *testing.T, app *apptest.App, id string) *models.APIKey {
	t.Helper()
	key, err := app.Store.APIKeyByPublicID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// A key used in the last 7 days makes the bulk delete ask for the number of keys; a wrong
// count deletes nothing, the right one deletes each key through the single delete, over htmx
// as without it.
func TestBulkDeleteOfRecentlyUsedKeysAsksForTheCount(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		var ids []string
		for _, name := range []string{"gone a", "gone b"} {
			key, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: name, Scope: models.ScopeScanner})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, key.PublicID)
		}
		if err := app.Store.RecordAPIKeyUses(ctx, []models.APIKeyUse{{APIKeyID: mustKey(t, app, ids[1]).ID, At: time.Now().Add(-time.Hour), IP: "192.0.2.7", Client: "scanner-eu-1", Scanner: true}}, nil); err != nil {
			t.Fatal(err)
		}
		dialog := admin.HTMX(http.MethodPost, "/admin/api-keys/bulk", "dialog-slot", bulkForm("delete", ids...))
		wantStatus(t, dialog, http.StatusOK)
		d := doc(t, dialog.Body)
		if d.Find(`dialog[data-testid="bulk-dialog"]`).Length() != 1 || d.Find(`[data-testid="confirm-count"]`).Length() != 1 {
			t.Fatalf("htmx confirmation: want a dialog asking for the count; body:\n%s", dialog.Body)
		}
		if got := d.Find(`[data-testid="bulk-client"]`).Text(); !strings.Contains(got, "Scanner scanner-eu-1") {
			t.Errorf("confirmation clients %q, want the scanner named as one", got)
		}

		for _, typed := range []string{"", "1", "3", "two"} {
			form := bulkForm("delete", ids...)
			form.Set("confirmed", "yes")
			form.Set("confirm_count", typed)
			res := admin.Post("/admin/api-keys/bulk", form)
			wantStatus(t, res, http.StatusUnprocessableEntity)
			if got := doc(t, res.Body).Find(`[data-testid="error-confirm_count"]`).Text(); !strings.Contains(got, "Nothing was changed") {
				t.Errorf("count %q: error %q, want it to say nothing changed", typed, got)
			}
		}
		for _, id := range ids {
			mustKey(t, app, id)
		}

		form := bulkForm("delete", ids...)
		form.Set("confirmed", "yes")
		form.Set("confirm_count", " 2 ")
		res := admin.HTMX(http.MethodPost, "/admin/api-keys/bulk", "dialog-slot", form)
		wantStatus(t, res, http.StatusOK)
		removed := doc(t, res.Body)
		if !strings.Contains(removed.Find(`#flash[hx-swap-oob]`).Text(), "2 API keys deleted.") || removed.Find(`#api-key-list[hx-swap-oob]`).Length() != 1 {
			t.Errorf("htmx bulk delete: want the notice and the list refreshed out of band; body:\n%s", res.Body)
		}
		for _, id := range ids {
			if _, err := app.Store.APIKeyByPublicID(ctx, id); err == nil {
				t.Errorf("%s still exists after the bulk delete", id)
			}
			if got := auditCount(t, app, models.AuditKeyDeleted, id); got != 1 {
				t.Errorf("%s: %d key.deleted events, want 1", id, got)
			}
		}
	})
}

// Hostile bulk requests get a clear 4xx and change nothing: no action, an unknown action, no
// ids, NUL, invalid UTF-8, a long id, a huge form, 101 ids, unknown ids (named in the answer), duplicates
// (taken once); parallel bulk deletes of the same keys delete each once and answer no 500.
func TestBulkRefusesHostileInputAndRacesCleanly(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		var ids []string
		for i := range 5 {
			key, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "race " + strconv.Itoa(i), Scope: models.ScopeReadOnly})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, key.PublicID)
		}
		many := make([]string, 101)
		for i := range many {
			many[i] = "ak_" + strings.Repeat("Z", 13) + strconv.Itoa(100+i)
		}
		for _, tc := range []struct {
			name   string
			form   url.Values
			status int
			want   string
		}{
			{"no action", url.Values{"ids": {ids[0]}, "confirmed": {"yes"}}, 422, "action must be disable or delete"},
			{"unknown action", url.Values{"action": {"enable"}, "ids": {ids[0]}, "confirmed": {"yes"}}, 422, "action must be disable or delete"},
			{"no ids", url.Values{"action": {"delete"}, "confirmed": {"yes"}}, 422, "Tick at least one key"},
			{"NUL", url.Values{"action": {"delete"}, "ids": {ids[0] + "\x00"}, "confirmed": {"yes"}}, 422, "ids "},
			{"invalid UTF-8", url.Values{"action": {"delete"}, "ids": {ids[0], "\xff\xfe"}, "confirmed": {"yes"}}, 422, "ids "},
			{"long id", url.Values{"action": {"delete"}, "ids": {strings.Repeat("a", 1000)}, "confirmed": {"yes"}}, 422, "ids "},
			{"huge form", url.Values{"action": {"delete"}, "ids": {strings.Repeat("a", 10<<20)}, "confirmed": {"yes"}}, 413, "larger than Keysmith accepts"},
			{"101 ids", url.Values{"action": {"delete"}, "ids": append([]string{ids[0]}, many[:100]...), "confirmed": {"yes"}}, 422, "at most 100"},
			{"unknown ids", url.Values{"action": {"delete"}, "ids": {ids[0], "ak_doesnotexist0000", "nope"}, "confirmed": {"yes"}}, 404, "ak_doesnotexist0000, nope"},
		} {
			res := admin.Post("/admin/api-keys/bulk", tc.form)
			wantStatus(t, res, tc.status)
			if got := doc(t, res.Body).Find(`[data-testid="error-page"]`).Text(); !strings.Contains(got, tc.want) {
				t.Errorf("%s: error page %q, want it to say %q", tc.name, got, tc.want)
			}
			if _, err := app.Store.APIKeyByPublicID(ctx, ids[0]); err != nil {
				t.Fatalf("%s: the known key was deleted: %v", tc.name, err)
			}
		}

		dup := bulkForm("disable", ids[0], ids[1], ids[0], ids[1])
		page := doc(t, admin.Post("/admin/api-keys/bulk", dup).Body)
		if got := page.Find(`[data-testid="bulk-key"]`).Length(); got != 2 {
			t.Errorf("duplicates: the confirmation lists %d keys, want 2", got)
		}

		form := bulkForm("delete", ids...)
		form.Set("confirmed", "yes")
		// The requests share the admin's session through its HTTP client, which is safe for
		// concurrent use; apptest.Client itself keeps the page's CSRF token, and is not.
		form.Set("_csrf", admin.CSRF)
		var wg sync.WaitGroup
		statuses := make([]int, 6)
		errs := make([]error, len(statuses))
		for i := range statuses {
			wg.Go(func() {
				res, err := admin.HTTP.PostForm(app.URL+"/admin/api-keys/bulk", form)
				if err != nil {
					errs[i] = err
					return
				}
				res.Body.Close()
				statuses[i] = res.StatusCode
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		for i, status := range statuses {
			if status != http.StatusSeeOther && status != http.StatusNotFound {
				t.Errorf("parallel bulk delete %d: status %d, want 303 or 404", i, status)
			}
		}
		for _, id := range ids {
			if _, err := app.Store.APIKeyByPublicID(ctx, id); err == nil {
				t.Errorf("%s survived the parallel bulk deletes", id)
			}
			if got := auditCount(t, app, models.AuditKeyDeleted, id); got != 1 {
				t.Errorf("%s: %d key.deleted events, want exactly 1", id, got)
			}
		}
	})
}
