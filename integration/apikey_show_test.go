package integration

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/views"
)

// keyPage fetches a key's page and returns its root, failing unless it is there.
func keyPage(t *testing.T, admin *apptest.Client, publicID string) *goquery.Selection {
	t.Helper()
	res := admin.Get("/admin/api-keys/" + publicID)
	wantStatus(t, res, http.StatusOK)
	root := doc(t, res.Body).Find(`[data-testid="api-key-page"]`)
	if root.Length() != 1 {
		t.Fatalf("no api-key-page root in:\n%s", res.Body)
	}
	if id, _ := root.Attr("data-key-id"); id != publicID {
		t.Errorf("data-key-id: got %q, want %q", id, publicID)
	}
	return root
}

// chartRequests reads the requests of each bar of the usage chart, and checks that the bars are
// drawn as tall as their counts say and that the hidden table carries the same numbers.
func chartRequests(t *testing.T, page *goquery.Selection) []int64 {
	t.Helper()
	chart := page.Find(`svg[data-testid="usage-chart"]`)
	if chart.Length() != 1 {
		t.Fatal("no usage chart")
	}
	var requests []int64
	var busiest int64
	chart.Find(`rect[data-testid="usage-bar"]`).Each(func(_ int, bar *goquery.Selection) {
		n, err := strconv.ParseInt(bar.AttrOr("data-requests", ""), 10, 64)
		if err != nil {
			t.Fatalf("bar %s: data-requests %q", bar.AttrOr("data-day", "?"), bar.AttrOr("data-requests", ""))
		}
		requests = append(requests, n)
		busiest = max(busiest, n)
	})
	chart.Find(`rect[data-testid="usage-bar"]`).Each(func(i int, bar *goquery.Selection) {
		height, _ := strconv.Atoi(bar.AttrOr("height", ""))
		want := 0
		if requests[i] > 0 {
			want = int((requests[i]*60 + busiest - 1) / busiest)
		}
		if height != want {
			t.Errorf("bar %s of %d requests (busiest %d): got height %d, want %d", bar.AttrOr("data-day", "?"), requests[i], busiest, height, want)
		}
	})
	var table []int64
	// The table's Successful column; Refused follows it.
	page.Find(`[data-testid="usage-table"] tbody tr`).Each(func(_ int, row *goquery.Selection) {
		n, _ := strconv.ParseInt(row.Find("td").First().Text(), 10, 64)
		table = append(table, n)
	})
	if len(table) != len(requests) {
		t.Fatalf("days in the table for screen readers: got %d, want %d", len(table), len(requests))
	}
	for i := range table {
		if table[i] != requests[i] {
			t.Errorf("day %d in the table: got %d requests, want %d as the chart", i, table[i], requests[i])
		}
	}
	return requests
}

// The list links each key's name to its page, which shows its facts, the clients seen using it
// and a chart of the requests it authenticated each day, counted through the real API across
// days, including the uses this instance has not written yet.
func TestKeyPageShowsTheKeyAndItsUse(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		app.Store.SetClock(func() time.Time { return now.AddDate(0, 0, -20) })
		expires := now.AddDate(0, 0, 40)
		key, secret, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Snowflake scanner", Scope: models.ScopeScanner, ExpiresAt: &expires})
		if err != nil {
			t.Fatal(err)
		}
		gateway := app.Client(t)
		use := func(daysAgo, requests int, client string) {
			app.Store.SetClock(func() time.Time { return now.AddDate(0, 0, -daysAgo) })
			for range requests {
				res := gateway.Do(http.MethodGet, "/api/v1/auth/verify", nil, map[string]string{"X-API-SECRET": secret, "User-Agent": client})
				wantStatus(t, res, http.StatusOK)
			}
		}
		use(15, 4, "pg-scanner/2.0")
		if err := app.Keys.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		use(1, 3, "pg-scanner/2.0")
		use(0, 2, "curl/8.5.0") // not written before the page is asked for
		app.Store.SetClock(func() time.Time { return now })

		list := doc(t, admin.Get("/admin/api-keys").Body)
		link := list.Find(`[data-key-id="` + key.PublicID + `"] a[data-testid="api-key-link"]`)
		if href, _ := link.Attr("href"); href != "/admin/api-keys/"+key.PublicID || link.Find(`[data-testid="api-key-name"]`).Text() != key.Name {
			t.Errorf("the name in the list links to %q (%q), want %q", href, link.Text(), "/admin/api-keys/"+key.PublicID)
		}

		page := keyPage(t, admin, key.PublicID)
		for _, tc := range []struct{ selector, want string }{
			{`[data-testid="key-page-name"]`, "Snowflake scanner"},
			{`[data-testid="key-scope"]`, "Scanner"},
			{`[data-testid="key-id"]`, key.PublicID},
			{`[data-testid="key-hint"]`, key.Hint},
			{`[data-testid="key-created"]`, "20 days ago"},
			{`[data-testid="key-expires"]`, "in 40 days"},
			{`[data-testid="key-expires"]`, expires.Format("2 Jan 2006")},
			{`[data-testid="key-last-used"]`, "just now"},
			{`[data-testid="key-last-used"]`, "curl/8.5.0"},
			{`[data-testid="key-last-used"]`, "127.0.0.1"},
			{`[data-testid="usage-total"]`, "9 requests in the last 30 days"},
		} {
			if got := strings.Join(strings.Fields(page.Find(tc.selector).Text()), " "); !strings.Contains(got, tc.want) {
				t.Errorf("%s: got %q, want it to contain %q", tc.selector, got, tc.want)
			}
		}
		if got := page.Find(`[data-testid="status-badge"]`).AttrOr("data-status", ""); got != "active" {
			t.Errorf("status: got %q, want %q", got, "active")
		}
		var clients []string
		page.Find(`[data-testid="key-client"] strong`).Each(func(_ int, s *goquery.Selection) { clients = append(clients, s.Text()) })
		if strings.Join(clients, ",") != "curl/8.5.0,pg-scanner/2.0" {
			t.Errorf("clients seen: got %q, want curl/8.5.0 then pg-scanner/2.0", clients)
		}

		requests := chartRequests(t, page)
		want := make([]int64, models.DailyUseDays)
		want[len(want)-16], want[len(want)-2], want[len(want)-1] = 4, 3, 2
		if len(requests) != len(want) {
			t.Fatalf("bars: got %d, want %d", len(requests), len(want))
		}
		for i := range want {
			if requests[i] != want[i] {
				t.Errorf("bar %d days ago: got %d requests, want %d", len(want)-1-i, requests[i], want[i])
			}
		}
		if got, want := page.Find(`rect[data-testid="usage-bar"]`).Last().AttrOr("data-day", ""), now.Format(time.DateOnly); got != want {
			t.Errorf("the last bar's day: got %q, want today, %q", got, want)
		}
		chart := page.Find(`svg[data-testid="usage-chart"]`)
		for _, id := range strings.Fields(chart.AttrOr("aria-labelledby", "")) {
			if chart.Find("#"+id).Length() != 1 {
				t.Errorf("the chart is labelled by #%s, which it does not hold", id)
			}
		}
		if desc := chart.Find("desc").Text(); !strings.Contains(desc, "9 requests in all") || !strings.Contains(desc, "4 requests") {
			t.Errorf("chart description: got %q, want the total and the busiest day", desc)
		}

		// The actions: Disable a form with the CSRF token, Rotate secret and Delete the dialogs
		// (or pages) of the list.
		for _, tc := range []struct{ selector, action string }{
			{`form[data-testid="disable-form"]`, "/admin/api-keys/" + key.PublicID + "/disable"},
		} {
			form := page.Find(tc.selector)
			if form.AttrOr("action", "") != tc.action || form.AttrOr("method", "") != "post" || form.Find(`input[name="_csrf"]`).AttrOr("value", "") == "" {
				t.Errorf("%s: action %q method %q, want a POST to %q with the CSRF token", tc.selector, form.AttrOr("action", ""), form.AttrOr("method", ""), tc.action)
			}
		}
		if page.Find(`[data-testid="rotate-form"], form[action$="/rotate"], [name="grace"]`).Length() != 0 {
			t.Error("the key page holds a rotate form of its own, want the list's rotate dialog")
		}
		rotate := page.Find(`a[data-testid="rotate-api-key"]`)
		if got := strings.TrimSpace(rotate.Text()); got != "Rotate secret" {
			t.Errorf("the key page's Rotate control says %q, want %q", got, "Rotate secret")
		}
		if got, want := rotate.AttrOr("hx-get", ""), "/admin/api-keys/"+key.PublicID+"/rotate"; got != want {
			t.Errorf("Rotate secret opens %q over htmx, want the list's dialog, %q", got, want)
		}
		rotatePage := admin.Get(rotate.AttrOr("href", ""))
		wantStatus(t, rotatePage, http.StatusOK)
		dialogPage := doc(t, rotatePage.Body)
		var graces []string
		dialogPage.Find(`input[name="grace"]`).Each(func(_ int, o *goquery.Selection) { graces = append(graces, o.AttrOr("value", "")) })
		if strings.Join(graces, ",") != "until-unused,1h,24h,7d,0" {
			t.Errorf("grace choices: got %q, want until-unused, 1h, 24h, 7d and 0 (None last)", graces)
		}
		if got := dialogPage.Find(`input[name="grace"]:checked`).AttrOr("value", ""); got != "until-unused" {
			t.Errorf("grace chosen at first: got %q, want until-unused", got)
		}
		if got := dialogPage.Find(`select[name="expires_in"] option:checked`).AttrOr("value", ""); got != "180d" {
			t.Errorf("the new secret's expiry: got %q preselected, want 180d as at creation", got)
		}
		if got, want := dialogPage.Find(`input[name="return"]`).AttrOr("value", ""), "/admin/api-keys/"+key.PublicID; got != want {
			t.Errorf("the rotate page opened from the key page returns to %q, want the key page, %q", got, want)
		}
		if got := strings.TrimSpace(dialogPage.Find(`[data-testid="confirm-rotate"]`).Text()); got != "Rotate secret" {
			t.Errorf("the rotate form's button says %q, want %q", got, "Rotate secret")
		}
		if page.Find(`form[data-testid="enable-form"]`).Length() != 0 {
			t.Error("an active key's page offers to enable it")
		}
		deleteLink := page.Find(`a[data-testid="delete-api-key"]`).AttrOr("href", "")
		wantStatus(t, admin.Get(deleteLink), http.StatusOK)
	})
}

// Each state of a key reads on its page: expiring soon, expired, never expiring and never used.
func TestKeyPageStates(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		now := app.Store.Now()
		for _, tc := range []struct {
			name      string
			expiresAt *time.Time
			status    string
			expires   string
		}{
			{"expires soon", new(now.AddDate(0, 0, 3).Add(time.Hour)), "expires-soon", "in 3 days"},
			{"expired", new(now.AddDate(0, 0, -2).Add(-time.Hour)), "expired", "2 days ago"},
			{"never expires", nil, "active", "Never"},
		} {
			key, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: tc.name, Scope: models.ScopeReadOnly, ExpiresAt: tc.expiresAt})
			if err != nil {
				t.Fatal(err)
			}
			page := keyPage(t, admin, key.PublicID)
			if got := page.Find(`[data-testid="status-badge"]`).AttrOr("data-status", ""); got != tc.status {
				t.Errorf("%s: status %q, want %q", tc.name, got, tc.status)
			}
			if got := page.Find(`[data-testid="key-expires"]`).Text(); !strings.Contains(got, tc.expires) {
				t.Errorf("%s: expiry %q, want it to say %q", tc.name, got, tc.expires)
			}
			if got := strings.TrimSpace(page.Find(`[data-testid="key-last-used"]`).Text()); got != "Never used" {
				t.Errorf("%s: last used %q, want %q", tc.name, got, "Never used")
			}
			if page.Find(`[data-testid="key-no-clients"]`).Length() != 1 || page.Find(`[data-testid="key-client"]`).Length() != 0 {
				t.Errorf("%s: a key never used lists clients, or does not say that none was seen", tc.name)
			}
			requests := chartRequests(t, page)
			if len(requests) != models.DailyUseDays {
				t.Errorf("%s: bars: got %d, want %d", tc.name, len(requests), models.DailyUseDays)
			}
			for i, n := range requests {
				if n != 0 {
					t.Errorf("%s: bar %d: got %d requests, want 0", tc.name, i, n)
				}
			}
			if got := page.Find(`[data-testid="usage-total"]`).Text(); !strings.Contains(got, "0 requests") {
				t.Errorf("%s: total %q, want 0 requests", tc.name, got)
			}
		}
	})
}

// Anything at /admin/api-keys/{id} that names no key is the 404 page, from the one error
// handler; bytes no page has are refused before, as on every page.
func TestKeyPageNotFound(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		deleted, _, err := app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "deleted", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := app.Store.DeleteAPIKey(context.Background(), deleted.PublicID); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			path   string
			status int
		}{
			{deleted.PublicID, http.StatusNotFound},
			{"ak_0000000000000000", http.StatusNotFound},
			{"ak_short", http.StatusNotFound},
			{"42", http.StatusNotFound},
			{"ak_%E2%80%AE000000000000000", http.StatusNotFound},
			{"%C3%A9t%C3%A9", http.StatusNotFound},
			{strings.Repeat("a", 4000), http.StatusNotFound},
			{"ak_000000000000000%00", http.StatusBadRequest},
			{"ak_000000000000000%FF", http.StatusBadRequest},
		} {
			res := admin.Get("/admin/api-keys/" + tc.path)
			if res.StatusCode != tc.status {
				t.Errorf("%.40s: got status %d, want %d", tc.path, res.StatusCode, tc.status)
				continue
			}
			if doc(t, res.Body).Find(`[data-testid="error-page"]`).Length() != 1 {
				t.Errorf("%.40s: got no error page:\n%.500s", tc.path, res.Body)
			}
		}
	})
}

// Only administrators of API keys see a key's page.
func TestKeyPageNeedsThePermission(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		key, _, err := app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "guarded", Scope: models.ScopeAdmin})
		if err != nil {
			t.Fatal(err)
		}
		path := "/admin/api-keys/" + key.PublicID
		visitor := app.Client(t)
		res := visitor.Get(path)
		wantStatus(t, res, http.StatusSeeOther)
		if got := res.Header.Get("Location"); !strings.HasPrefix(got, "/login") {
			t.Errorf("a visitor is sent to %q, want the login page", got)
		}
		app.CreateUser(t, "reader@example.com", models.PermissionNone)
		reader := app.Client(t)
		reader.Login("reader@example.com")
		res = reader.Get(path)
		wantStatus(t, res, http.StatusForbidden)
		if strings.Contains(res.Body, key.Name) || strings.Contains(res.Body, key.Hint) {
			t.Errorf("the 403 page shows the key:\n%s", res.Body)
		}
		app.CreateUser(t, "super@example.com", models.PermissionSuperAdmin)
		super := app.Client(t)
		super.Login("super@example.com")
		keyPage(t, super, key.PublicID)
	})
}

// While a rotated key's previous secret works, the page says until when and shows the last use
// of each secret, so that the admin watches the previous one fall silent; and it shows the
// disabled state, with Enable rather than Disable, for a disabled key.
func TestKeyPageDuringARotationAndWhileDisabled(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		key, oldSecret := createKey(t, app.Store, "rotating export")
		if got := app.VerifyStatus(t, oldSecret); got != http.StatusOK {
			t.Fatalf("old secret before the rotation: status %d, want %d", got, http.StatusOK)
		}
		if err := app.Keys.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := app.Store.RotateAPIKey(ctx, key.PublicID, models.Rotation{Grace: models.GraceDay}); err != nil {
			t.Fatal(err)
		}
		page := keyPage(t, admin, key.PublicID)
		if got := page.Find(`[data-testid="status-badge"]`).AttrOr("data-status", ""); got != "rotating" {
			t.Errorf("status: got %q, want rotating", got)
		}
		if got := page.Find(`[data-testid="key-rotating"]`).Text(); !strings.Contains(got, "previous secret works until") {
			t.Errorf("rotating note: got %q, want it to say until when the previous secret works", got)
		}
		if got := strings.TrimSpace(page.Find(`[data-testid="key-current-secret-last-used"]`).Text()); got != "Not used yet" {
			t.Errorf("new secret's last use: got %q, want %q", got, "Not used yet")
		}
		previous := page.Find(`[data-testid="key-previous-secret-last-used"]`)
		if got := previous.Find("code").Text(); got != key.Hint {
			t.Errorf("previous secret's hint: got %q, want %q", got, key.Hint)
		}
		if previous.Find("time").Length() != 1 {
			t.Errorf("previous secret's last use: got %q, want the time of its use before the rotation", strings.TrimSpace(previous.Text()))
		}

		if page.Find(`[data-testid="key-last-revocation"]`).Length() != 0 {
			t.Errorf("a key revoked nothing yet shows a last revocation")
		}

		// The grace ends with no console request to show it: the key page proves it.
		app.Store.SetClock(func() time.Time { return time.Now().Add(25 * time.Hour) })
		if ended, err := app.Store.EndGrace(ctx, key.ID, key.SecretHash); err != nil || !ended {
			t.Fatalf("end the grace: got %v, %v; want true", ended, err)
		}
		app.Store.SetClock(time.Now)
		page = keyPage(t, admin, key.PublicID)
		html, _ := goquery.OuterHtml(page.Find(`[data-testid="key-last-revocation"]`))
		if got, ok := readProof(t, html); !ok || got.state != "complete" || !strings.HasPrefix(got.summary, revokedOnOne) {
			t.Errorf("after the grace ended: proof %+v (shown %v), want complete, %q…", got, ok, revokedOnOne)
		}

		if _, _, err := app.Store.DisableAPIKey(ctx, key.PublicID); err != nil {
			t.Fatal(err)
		}
		page = keyPage(t, admin, key.PublicID)
		if got := page.Find(`[data-testid="status-badge"]`).AttrOr("data-status", ""); got != "disabled" {
			t.Errorf("status once disabled: got %q, want disabled", got)
		}
		if page.Find(`form[action="/admin/api-keys/`+key.PublicID+`/enable"]`).Length() != 1 || page.Find(`form[action="/admin/api-keys/`+key.PublicID+`/disable"]`).Length() != 0 {
			t.Errorf("a disabled key's page offers Disable, or not Enable")
		}
	})
}

// A key page asked for just after a revocation shows its proof settled, as every page without
// JavaScript does: it waits the console's 2 s for an instance that does not acknowledge, then
// names it, and never shows "so far" on a page that will not update.
func TestKeyPageShowsItsLastRevocationSettled(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		silent := models.Instance{
			ID: "in_silent", Address: "10.0.0.9:8080", Hostname: "silent", StartedAt: app.Store.Now().Add(-time.Minute),
			ListenerState: models.ListenerListening,
		}
		if err := app.Store.Heartbeat(ctx, silent, time.Minute); err != nil {
			t.Fatal(err)
		}
		key, _ := createKey(t, app.Store, "paused by a script")
		if _, _, err := app.Store.DisableAPIKey(ctx, key.PublicID); err != nil {
			t.Fatal(err)
		}
		started := time.Now()
		page := keyPage(t, admin, key.PublicID)
		if took := time.Since(started); took < views.RevocationWait {
			t.Errorf("the key page came after %v, want after the %v the console waits", took, views.RevocationWait)
		}
		html, _ := goquery.OuterHtml(page.Find(`[data-testid="key-last-revocation"]`))
		got, ok := readProof(t, html)
		const want = "Revoked on 1 of 2 instances in "
		if !ok || got.state != "incomplete" || !strings.HasPrefix(got.summary, want) || !slices.Equal(got.unacknowledged, []string{silent.ID}) {
			t.Errorf("proof on the key page: got %+v (shown %v), want incomplete, %q…, naming %s", got, ok, want, silent.ID)
		}
	})
}
