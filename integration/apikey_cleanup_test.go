package integration

import (
	"context"
	"net/url"
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

// The last-use filters select the keys never used, or unused for 30 or 90 days (a key that has
// existed that long with no use in it), keep the other filters and the sort, and one the list
// does not know is ignored with a note, as the status and scope filters are.
func TestListFiltersByLastUse(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		// The old keys are made 200 days ago, so that they have existed long enough to be
		// unused for 90 days.
		now := time.Now()
		app.Store.SetClock(func() time.Time { return time.Now().Add(-200 * 24 * time.Hour) })
		old := map[string]*models.APIKey{}
		for _, name := range []string{"old never", "old 10d", "old 45d", "old 120d"} {
			key, _, err := app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: name, Scope: models.ScopeReadOnly})
			if err != nil {
				t.Fatal(err)
			}
			old[name] = key
		}
		app.Store.SetClock(time.Now)
		var uses []models.APIKeyUse
		for name, days := range map[string]int{"old 10d": 10, "old 45d": 45, "old 120d": 120} {
			uses = append(uses, models.APIKeyUse{APIKeyID: old[name].ID, At: now.Add(-time.Duration(days) * 24 * time.Hour), IP: "192.0.2.1", Client: "cron/1"})
		}
		if err := app.Store.RecordAPIKeyUses(context.Background(), uses, nil); err != nil {
			t.Fatal(err)
		}
		if _, _, err := app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "new never", Scope: models.ScopeAdmin}); err != nil {
			t.Fatal(err)
		}

		for _, tc := range []struct{ query, want string }{
			{"used=never&sort=name", "new never,old never"},
			{"used=unused-30d&sort=name", "old 120d,old 45d,old never"},
			{"used=unused-90d&sort=name", "old 120d,old never"},
			{"used=never&scope=read-only", "old never"},
			{"used=unused-30d&sort=last-used", "old never,old 120d,old 45d"},
			{"used=unused-90d&q=120", "old 120d"},
		} {
			res := admin.Get("/admin/api-keys?" + tc.query)
			wantStatus(t, res, 200)
			if got := strings.Join(rowNames(t, res.Body), ","); got != tc.want {
				t.Errorf("?%s: got %q, want %q", tc.query, got, tc.want)
			}
			page := doc(t, res.Body)
			if page.Find(`[data-testid="filter-note"]`).Length() != 0 {
				t.Errorf("?%s: a note says a filter was ignored", tc.query)
			}
		}

		page := doc(t, admin.Get("/admin/api-keys?used=unused-90d").Body)
		if got, _ := page.Find(`#api-key-search select[name="used"] option[selected]`).Attr("value"); got != "unused-90d" {
			t.Errorf("the search form's last use: got %q, want %q", got, "unused-90d")
		}
		if got, _ := page.Find(`[data-testid="sort-name"]`).Attr("href"); got != "/admin/api-keys?sort=name&used=unused-90d" {
			t.Errorf("sorting links to %q, want it to keep the last-use filter", got)
		}
		region := admin.HTMX("GET", "/admin/api-keys?used=never&status=active&scope=admin", "api-key-list", nil)
		wantStatus(t, region, 200)
		if got := strings.Join(rowNames(t, region.Body), ","); got != "new never" {
			t.Errorf("htmx with every filter: got %q, want %q", got, "new never")
		}
		if got := doc(t, admin.Get("/admin/api-keys?used=never&q=zzz").Body).Find(`[data-testid="api-key-no-match"]`).Text(); !strings.Contains(got, "No API key matches “zzz” that was never used.") {
			t.Errorf("no match says %q, want it to name the last-use filter", got)
		}

		// A value that is not text is refused before the list, as in every parameter.
		for _, bad := range []string{"never\x00", "\xff\xfe"} {
			res := admin.Get("/admin/api-keys?used=" + url.QueryEscape(bad))
			wantStatus(t, res, 422)
			if got := doc(t, res.Body).Find(`[data-testid="error-page"] p`).First().Text(); !strings.HasPrefix(got, "used ") {
				t.Errorf("used=%q: the error says %q, want it to name the field", bad, got)
			}
		}
		for _, bad := range []string{"sometimes", "unused-7d", strings.Repeat("n", 100000)} {
			res := admin.Get("/admin/api-keys?sort=name&used=" + url.QueryEscape(bad))
			wantStatus(t, res, 200)
			page := doc(t, res.Body)
			if got := strings.Join(rowNames(t, res.Body), ","); got != "new never,old 10d,old 120d,old 45d,old never" {
				t.Errorf("used=%.20q: got %q, want every key", bad, got)
			}
			if note := page.Find(`[data-testid="filter-note"]`).Text(); !strings.Contains(note, "last use filter was not understood") || !strings.Contains(note, "never, unused-30d, unused-90d") {
				t.Errorf("used=%.20q: note %q, want it to say the filter was ignored and name the values", bad, note)
			}
		}
	})
}
