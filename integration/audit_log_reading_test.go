package integration

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
	"keysmith/views"
)

// TestAuditLogReadsLikeALog: each row names its action in words, with the code, the address,
// the user agent and the request id in the row's details; the action filter is a list of
// every known action and family; Export CSV and the date presets sit in the filter form and,
// when htmx loads the events, follow the filters out of band.
func TestAuditLogReadsLikeALog(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		userAgent := "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
		wantStatus(t, postAs(admin, "/admin/api-keys", userAgent, createForm("Nightly lineage export", models.ScopeReadOnly, "30d")), http.StatusOK)
		events := modelstest.AuditEvents(t, app.Store, models.AuditFilter{Action: models.AuditKeyCreated})
		if len(events) != 1 {
			t.Fatalf("key.created events: got %d, want 1", len(events))
		}
		created := events[0]

		res := admin.Get("/admin/audit-log?action=key")
		wantStatus(t, res, http.StatusOK)
		page := doc(t, res.Body)
		row := page.Find(`[data-testid="audit-event"][data-action="key.created"]`)
		for _, tc := range []struct{ selector, want string }{
			{`[data-testid="audit-action-label"]`, "Key created"},
			{`details[data-testid="audit-more"]:not([open]) [data-testid="audit-action"]`, "key.created"},
			{`[data-testid="audit-more"] [data-testid="audit-address"]`, "127.0.0.1"},
			{`[data-testid="audit-more"] [data-testid="audit-user-agent"]`, userAgent},
			{`[data-testid="audit-more"] [data-testid="audit-request-id"]`, created.Actor.RequestID},
		} {
			if got := strings.TrimSpace(row.Find(tc.selector).Text()); got != tc.want {
				t.Errorf("%s: got %q, want %q", tc.selector, got, tc.want)
			}
		}
		if n := page.Find(`th`).FilterFunction(func(_ int, th *goquery.Selection) bool { return th.Text() == "Client" }).Length(); n != 0 {
			t.Errorf("a Client column is still there")
		}

		offered := map[string]bool{}
		page.Find(`#audit-log-filters select[name="action"] option`).Each(func(_ int, o *goquery.Selection) {
			offered[o.AttrOr("value", "")] = true
		})
		for _, action := range append([]string{""}, views.AuditActions...) {
			if !offered[action] {
				t.Errorf("the action filter does not offer %q", action)
			}
		}
		if got := page.Find(`select[name="action"] option[selected]`).AttrOr("value", ""); got != "key" {
			t.Errorf("the action chosen: got %q, want key", got)
		}
		if got := page.Find(`#audit-log-filters [data-testid="audit-log-csv"]`).AttrOr("href", ""); got != "/admin/audit-log.csv?action=key" {
			t.Errorf("Export CSV in the filters: got %q, want the export of the filtered events", got)
		}
		if n := page.Find(`[data-testid="pagination"] [data-testid="audit-log-csv"]`).Length(); n != 0 {
			t.Errorf("Export CSV is still under the table")
		}
		today := app.Store.Now().UTC().Format(time.DateOnly)
		weekAgo := app.Store.Now().UTC().AddDate(0, 0, -6).Format(time.DateOnly)
		var presets []string
		page.Find(`#audit-log-filters [data-testid="audit-date-preset"]`).Each(func(_ int, a *goquery.Selection) {
			presets = append(presets, a.Text()+" "+a.AttrOr("href", ""))
		})
		lastWeek := "Last 7 days /admin/audit-log?" + url.Values{"action": {"key"}, "from": {weekAgo}, "to": {today}}.Encode()
		if len(presets) != 3 || presets[1] != lastWeek {
			t.Fatalf("date presets: got %q, want today, the last 7 and 30 days keeping the action", presets)
		}
		week := admin.Get(strings.TrimPrefix(presets[1], "Last 7 days "))
		wantStatus(t, week, http.StatusOK)
		if got := auditRows(t, week.Body); len(got) != 1 {
			t.Errorf("the last 7 days' key events: got %v, want the one key.created", got)
		}
		if got := doc(t, week.Body).Find(`[data-testid="audit-date-preset"][aria-current="true"]`).Text(); got != "Last 7 days" {
			t.Errorf("the preset marked current: got %q, want Last 7 days", got)
		}

		fragment := admin.HTMX(http.MethodGet, "/admin/audit-log?action=key.deleted&user="+url.QueryEscape(adminEmail), "audit-log", nil)
		wantStatus(t, fragment, http.StatusOK)
		shortcuts := doc(t, fragment.Body).Find(`#audit-log-shortcuts[hx-swap-oob="true"]`)
		want := "/admin/audit-log.csv?" + url.Values{"action": {"key.deleted"}, "user": {adminEmail}}.Encode()
		if got := shortcuts.Find(`[data-testid="audit-log-csv"]`).AttrOr("href", ""); got != want {
			t.Errorf("Export CSV swapped in by htmx: got %q, want %q", got, want)
		}
		if strings.Contains(fragment.Body, "<form") {
			t.Errorf("the htmx answer holds the filter form; want the events and the shortcuts alone")
		}

		// An action the list does not know is shown as asked, not dropped; a malformed one is
		// refused with the form as it was.
		renamed := doc(t, admin.Get("/admin/audit-log?action=key.renamed").Body)
		if got := renamed.Find(`select[name="action"] option[selected]`).AttrOr("value", ""); got != "key.renamed" {
			t.Errorf("an unknown action: the filter shows %q, want key.renamed", got)
		}
		for _, hostile := range []string{"key\x00deleted", strings.Repeat("k", 100_000), "\xff\xfe", "key.deleted\r\nX-Injected: 1"} {
			res := admin.Get("/admin/audit-log?" + url.Values{"action": {hostile}}.Encode())
			if res.StatusCode != http.StatusUnprocessableEntity && res.StatusCode != http.StatusBadRequest {
				t.Errorf("action %.20q: status %d, want 400 or 422", hostile, res.StatusCode)
			}
		}
	})
}
