package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"keysmith/app/apptest"
	"keysmith/models"
)

// seedLastUses makes keys with last uses 1, 10, 45 and 120 days ago and two never used, and
// returns them by name.
func seedLastUses(t *testing.T, app *apptest.App) map[string]*models.APIKey {
	t.Helper()
	ctx := context.Background()
	keys := map[string]*models.APIKey{}
	var uses []models.APIKeyUse
	for _, k := range []struct {
		name    string
		daysAgo int
	}{
		{"never a", 0}, {"used 10d", 10}, {"used 1d", 1}, {"never b", 0}, {"used 120d", 120}, {"used 45d", 45},
	} {
		key, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: k.name, Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		keys[k.name] = key
		if k.daysAgo > 0 {
			uses = append(uses, models.APIKeyUse{APIKeyID: key.ID, At: time.Now().Add(-time.Duration(k.daysAgo) * 24 * time.Hour), IP: "192.0.2.1", Client: "cron/1"})
		}
	}
	if err := app.Store.RecordAPIKeyUses(ctx, uses, nil); err != nil {
		t.Fatal(err)
	}
	return keys
}

// Last used sorts from its header like the other columns: the keys never used come first when
// the least recent come first, and last when the most recent do, on both databases.
func TestListSortByLastUse(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		seedLastUses(t, app)
		page := doc(t, admin.Get("/admin/api-keys?scope=read-only").Body)
		link, _ := page.Find(`[data-testid="sort-last-used"]`).Attr("href")
		if link != "/admin/api-keys?scope=read-only&sort=last-used" {
			t.Errorf("Last used header links to %q, want the least recent first, keeping the filter", link)
		}
		sorted := admin.Get(link)
		wantStatus(t, sorted, 200)
		if got, want := strings.Join(rowNames(t, sorted.Body), ","), "never a,never b,used 120d,used 45d,used 10d,used 1d"; got != want {
			t.Errorf("least recent first: got %q, want %q", got, want)
		}
		header := doc(t, sorted.Body).Find(`[data-testid="sort-last-used"]`)
		if got, _ := header.Parent().Attr("aria-sort"); got != "ascending" {
			t.Errorf("sorted by last use, aria-sort %q, want ascending", got)
		}
		next, _ := header.Attr("href")
		if next != "/admin/api-keys?scope=read-only&sort=-last-used" {
			t.Errorf("sorted by last use, the header links to %q, want the most recent first", next)
		}
		if got, want := strings.Join(rowNames(t, admin.Get(next).Body), ","), "used 1d,used 10d,used 45d,used 120d,never b,never a"; got != want {
			t.Errorf("most recent first: got %q, want %q", got, want)
		}
	})
}
