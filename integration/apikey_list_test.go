package integration

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keysmith/app/apptest"
	"keysmith/models"
)

// seedStatuses makes one key of each kind the list tells apart, oldest first.
func seedStatuses(t *testing.T, app *apptest.App) map[string]*models.APIKey {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	in := func(d time.Duration) *time.Time { at := now.Add(d); return &at }
	keys := map[string]*models.APIKey{}
	for _, k := range []struct {
		name    string
		scope   models.Scope
		expires *time.Time
	}{
		{"admin forever", models.ScopeAdmin, nil},
		{"reader forever", models.ScopeReadOnly, nil},
		{"docs forever", models.ScopeManageDocumentation, nil},
		{"soon reader", models.ScopeReadOnly, in(2 * 24 * time.Hour)},
		{"soon scanner", models.ScopeScanner, in(6 * 24 * time.Hour)},
		{"ended reader", models.ScopeReadOnly, in(-time.Hour)},
		{"paused admin", models.ScopeAdmin, in(3 * 24 * time.Hour)},
		{"later reader", models.ScopeReadOnly, in(90 * 24 * time.Hour)},
	} {
		key, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: k.name, Scope: k.scope, ExpiresAt: k.expires})
		if err != nil {
			t.Fatal(err)
		}
		keys[k.name] = key
	}
	if _, _, err := app.Store.DisableAPIKey(ctx, keys["paused admin"].PublicID); err != nil {
		t.Fatal(err)
	}
	return keys
}

// The list filters by each status and by scope, the badge shows the status the filter selects
// by, and a filter that is not understood is ignored with a note that says so.
func TestListFiltersByStatusAndScope(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		seedStatuses(t, app)
		for _, tc := range []struct {
			query string
			want  string
		}{
			{"status=active&sort=name", "admin forever,docs forever,later reader,reader forever"},
			{"status=expires-soon&sort=name", "soon reader,soon scanner"},
			{"status=expired", "ended reader"},
			{"status=disabled", "paused admin"},
			{"status=rotating", ""},
			{"scope=admin&sort=name", "admin forever,paused admin"},
			{"scope=scanner&status=expires-soon", "soon scanner"},
			{"q=READER&status=active&sort=name", "later reader,reader forever"},
		} {
			res := admin.Get("/admin/api-keys?" + tc.query)
			wantStatus(t, res, http.StatusOK)
			if got := strings.Join(rowNames(t, res.Body), ","); got != tc.want {
				t.Errorf("%s: got rows %q, want %q", tc.query, got, tc.want)
			}
			query, _ := url.ParseQuery(tc.query)
			page := doc(t, res.Body)
			if status := query.Get("status"); status != "" {
				page.Find(`[data-testid="status-badge"]`).Each(func(_ int, badge *goquery.Selection) {
					if got, _ := badge.Attr("data-status"); got != status {
						t.Errorf("%s: a row's badge says %q, want %q", tc.query, got, status)
					}
				})
				if got, _ := page.Find(`[data-testid="status-filter"] option[selected]`).Attr("value"); got != status {
					t.Errorf("%s: status filter shows %q, want %q", tc.query, got, status)
				}
			}
			if page.Find(`[data-testid="filter-note"]`).Length() != 0 {
				t.Errorf("%s: a note about a filter not understood", tc.query)
			}
			if tc.want == "" && !strings.Contains(page.Find(`[data-testid="api-key-no-match"]`).Text(), "No API key with status Rotating.") {
				t.Errorf("%s: no message saying nothing matched:\n%s", tc.query, res.Body)
			}
		}
		for _, query := range []string{"status=paused", "status=Active", "scope=root", "status=" + strings.Repeat("x", 5000)} {
			res := admin.Get("/admin/api-keys?" + query)
			wantStatus(t, res, http.StatusOK)
			page := doc(t, res.Body)
			if got := len(rowNames(t, res.Body)); got != 8 {
				t.Errorf("%.40s: got %d rows, want all 8, unfiltered", query, got)
			}
			if note := page.Find(`[data-testid="filter-note"]`).Text(); !strings.Contains(note, "not understood") || !strings.Contains(note, "expires-soon") && !strings.Contains(note, "manage-documentation") {
				t.Errorf("%.40s: note %q, want one saying the filter was not understood and naming the values", query, note)
			}
		}
		// Bytes that are not text are refused before the list, as everywhere.
		wantStatus(t, admin.Get("/admin/api-keys?status=%00"), http.StatusUnprocessableEntity)
		wantStatus(t, admin.Get("/admin/api-keys?scope=%ff"), http.StatusUnprocessableEntity)
	})
}

// The banner counts the keys that expire within 7 days and links to them; keys that never
// expire are flagged when their scope writes to the catalog.
func TestListBannerAndNeverExpiresFlags(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		if doc(t, admin.Get("/admin/api-keys").Body).Find(`[data-testid="expiry-banner"]`).Length() != 0 {
			t.Error("a banner with no keys expiring")
		}
		keys := seedStatuses(t, app)
		res := admin.Get("/admin/api-keys?scope=admin")
		page := doc(t, res.Body)
		banner := page.Find(`[data-testid="expiry-banner"]`)
		if got := strings.Join(strings.Fields(banner.Text()), " "); !strings.Contains(got, "2 keys expire within 7 days.") {
			t.Errorf("banner: got %q, want it to count 2 keys whatever the filters", got)
		}
		if href, _ := banner.Find(`a[data-testid="expiry-banner-link"]`).Attr("href"); href != "/admin/api-keys?status=expires-soon" {
			t.Errorf("banner link: got %q, want %q", href, "/admin/api-keys?status=expires-soon")
		}
		page = doc(t, admin.Get("/admin/api-keys").Body)
		for name, want := range map[string]bool{"admin forever": true, "docs forever": true, "reader forever": false, "later reader": false} {
			row := page.Find(`[data-testid="api-key-row"][data-key-id="` + keys[name].PublicID + `"]`)
			if got := row.Find(`[data-testid="never-expires-flag"]`).Length() == 1; got != want {
				t.Errorf("%s: flagged %v, want %v", name, got, want)
			}
		}
	})
}

// Sorting by expiry starts with the soonest, and keys that never expire come last; the search,
// the filters and the sort are kept by one another, with htmx and without.
func TestListSortByExpiryAndSearchKeepTheFilters(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		seedStatuses(t, app)
		page := doc(t, admin.Get("/admin/api-keys?q=reader&status=active").Body)
		sortLink, _ := page.Find(`[data-testid="sort-expires"]`).Attr("href")
		if sortLink != "/admin/api-keys?q=reader&sort=expires&status=active" {
			t.Errorf("Expiration date header links to %q, want the soonest first, keeping search and filter", sortLink)
		}
		sorted := admin.Get(sortLink)
		if got := strings.Join(rowNames(t, sorted.Body), ","); got != "later reader,reader forever" {
			t.Errorf("sorted by expiry: got %q, want %q", got, "later reader,reader forever")
		}
		if got := strings.Join(rowNames(t, admin.Get("/admin/api-keys?sort=expires").Body), ","); got != "ended reader,soon reader,paused admin,soon scanner,later reader,admin forever,reader forever,docs forever" {
			t.Errorf("all sorted by expiry: got %q, want the soonest first and never last", got)
		}
		if got, _ := doc(t, sorted.Body).Find(`[data-testid="sort-expires"]`).Attr("href"); got != "/admin/api-keys?q=reader&sort=-expires&status=active" {
			t.Errorf("sorted by expiry, the header links to %q, want the latest first", got)
		}

		// The search form sends the filters and the sort with the search, without JavaScript.
		form := doc(t, admin.Get("/admin/api-keys?scope=read-only&status=active&sort=expires").Body)
		hidden := form.Find(`input[type="hidden"][name="sort"][form="api-key-search"]`)
		if got, _ := hidden.Attr("value"); got != "expires" || form.Find(`form#api-key-search[method="get"]`).Length() != 1 {
			t.Errorf("the search form does not send the sort: hidden sort %q", got)
		}
		if got, _ := form.Find(`#api-key-search select[name="status"] option[selected]`).Attr("value"); got != "active" {
			t.Errorf("the search form's status: got %q, want %q", got, "active")
		}
		if got, _ := form.Find(`#api-key-search select[name="scope"] option[selected]`).Attr("value"); got != "read-only" {
			t.Errorf("the search form's scope: got %q, want %q", got, "read-only")
		}
		// What the form sends, as htmx sends it, keeps all of them.
		region := admin.HTMX(http.MethodGet, "/admin/api-keys?q=e&status=active&scope=read-only&sort=expires", "api-key-list", nil)
		wantStatus(t, region, http.StatusOK)
		if strings.Contains(region.Body, "<html") {
			t.Error("htmx search returned the whole page, want the list region only")
		}
		if got := strings.Join(rowNames(t, region.Body), ","); got != "later reader,reader forever" {
			t.Errorf("htmx search with filters and sort: got %q, want %q", got, "later reader,reader forever")
		}
		if got, _ := doc(t, region.Body).Find(`input[name="sort"][form="api-key-search"]`).Attr("value"); got != "expires" {
			t.Errorf("the region's sort for the next search: got %q, want %q", got, "expires")
		}

		// Paging keeps them too.
		ctx := context.Background()
		for i := range 30 {
			expires := time.Now().Add(time.Duration(10+i) * 24 * time.Hour)
			if _, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "bulk " + string(rune('a'+i%26)) + string(rune('a'+i/26)), Scope: models.ScopeReadOnly, ExpiresAt: &expires}); err != nil {
				t.Fatal(err)
			}
		}
		next, _ := doc(t, admin.Get("/admin/api-keys?q=bulk&status=active&scope=read-only&sort=expires").Body).Find(`[data-testid="page-next"]`).Attr("href")
		if next != "/admin/api-keys?page=2&q=bulk&scope=read-only&sort=expires&status=active" {
			t.Errorf("next page link %q, want it to keep search, filters and sort", next)
		}
		if got := rowNames(t, admin.Get(next).Body); len(got) != 5 || got[4] != "bulk db" {
			t.Errorf("page 2: got %q, want the 5 latest to expire, ending with bulk db", got)
		}
	})
}

func TestListSearchSortPaging(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		empty := doc(t, admin.Get("/admin/api-keys").Body)
		if empty.Find(`[data-testid="api-key-empty"]`).Length() != 1 || !strings.Contains(empty.Find(`[data-testid="api-key-empty"]`).Text(), "script, a scanner") {
			t.Error("no empty state explaining what keys are for")
		}
		ctx := context.Background()
		start := time.Now().Add(-100 * time.Hour)
		for i := range 30 {
			app.Store.SetClock(func() time.Time { return start.Add(time.Duration(i) * time.Hour) })
			name := "service " + string(rune('A'+i%26)) + string(rune('a'+i/26))
			if _, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: name, Scope: models.ScopeReadOnly}); err != nil {
				t.Fatal(err)
			}
		}
		app.Store.SetClock(time.Now)
		page := admin.Get("/admin/api-keys")
		d := doc(t, page.Body)
		for _, column := range []string{"Name", "Scope", "Creation date", "Expiration date", "Last used"} {
			if !strings.Contains(d.Find("thead").Text(), column) {
				t.Errorf("no %q column", column)
			}
		}
		if names := rowNames(t, page.Body); len(names) != 25 || names[0] != "service Db" {
			t.Errorf("first page: %d rows starting %q, want 25 newest first (service Db)", len(names), names[0])
		}
		if got := d.Find(`[data-testid="api-key-row"] td`).Eq(3).Text(); !strings.Contains(got, "Never") {
			t.Errorf("expiration cell %q, want Never", got)
		}
		second := rowNames(t, admin.Get("/admin/api-keys?page=2").Body)
		if len(second) != 5 || second[4] != "service Aa" {
			t.Errorf("page 2 rows %q, want the 5 oldest", second)
		}
		if got := rowNames(t, admin.Get("/admin/api-keys?page=99").Body); len(got) != 5 {
			t.Errorf("page past the end shows %d rows, want the last page", len(got))
		}
		byName := rowNames(t, admin.Get("/admin/api-keys?sort=name").Body)
		if byName[0] != "service Aa" || byName[1] != "service Ab" {
			t.Errorf("sorted by name starts %q, want service Aa, service Ab", byName[:2])
		}
		region := admin.HTMX(http.MethodGet, "/admin/api-keys?q=SERVICE+C", "api-key-list", nil)
		wantStatus(t, region, http.StatusOK)
		if strings.Contains(region.Body, "<html") {
			t.Error("htmx search returned the whole page, want the list region only")
		}
		if got := rowNames(t, region.Body); strings.Join(got, ",") != "service Cb,service Ca" {
			t.Errorf("search rows %q, want service Cb, service Ca", got)
		}
		none := doc(t, admin.Get("/admin/api-keys?q=%3Cscript%3E").Body)
		if !strings.Contains(none.Find(`[data-testid="api-key-no-match"]`).Text(), "<script>") {
			t.Error("no-match message does not show the search, escaped")
		}
	})
}

func TestHostileNameIsEscaped(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		hostile := `<img src=x onerror=alert(1)>"'`
		wantStatus(t, admin.Post("/admin/api-keys", createForm(hostile, models.ScopeManageDocumentation, "30d")), http.StatusOK)
		res := admin.Get("/admin/api-keys")
		if strings.Contains(res.Body, "<img src=x") {
			t.Fatal("the key name is rendered as HTML")
		}
		if names := rowNames(t, res.Body); len(names) != 1 || names[0] != hostile {
			t.Errorf("name shown %q, want %q as text", names, hostile)
		}
	})
}
