package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// TestAuditLogFitsAndFilters: with the longest realistic actor, key name, user agent, address
// and detail, the audit table fits its box at 1280 and 1440 px and on a phone, its rows' details closed and
// open; the action list, the date presets and Export CSV are on screen and reachable on a
// laptop and a phone; choosing an action filters with htmx and Export CSV follows the filter.
func TestAuditLogFitsAndFilters(t *testing.T) {
	browserCtx := startBrowser(t)
	app := apptest.New(t, modelstest.Targets(t)[0])
	app.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
	long := strings.Repeat("Nightly lineage export to the Snowflake warehouse ", 2)[:100]
	actor := models.AuditActor{
		Type: models.ActorUser, ID: "7", Label: "margaret.hamilton-" + strings.Repeat("x", 40) + "@data-platform.example.com",
		Address:   "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
		UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86 OPR/115.0.0.0 (compatible; lineage-export/2.3; +https://data-platform.example.com/bots/lineage-export)",
		RequestID: "nsdnOPLGuwmrRKccZBDtSHZLtWGgTqns",
	}
	ctx := models.WithAuditActor(context.Background(), actor)
	for i, action := range []string{models.AuditKeyCreated, models.AuditKeyRefused, models.AuditAuthzDenied, models.AuditKeyDeleted} {
		event := models.AuditEvent{Action: action, TargetType: models.TargetKey, TargetID: fmt.Sprintf("ak_%016d", i), TargetLabel: long,
			Detail: "expired: GET /api/v1/items/" + strings.Repeat("0123456789abcdef", 6) + "?include=lineage,owners,glossary-terms&page_size=500 from lineage-export/2.3 (python-requests/2.32.3)"}
		if err := app.Store.RecordAudit(ctx, event); err != nil {
			t.Fatal(err)
		}
	}
	tb := openTab(t, browserCtx, app, true)
	tb.login(adminEmail)
	tb.do("open the audit log", chromedp.Navigate(app.URL+"/admin/audit-log"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-event"]`)))

	for _, s := range []screen{{name: "laptop", width: 1280, height: 860}, {name: "wide laptop", width: 1440, height: 900}, {name: "phone", width: 390, height: 844, phone: true}} {
		tb.useScreen(s)
		for _, open := range []bool{false, true} {
			eval[chromedp.Void](tb, "open or close the rows' details", fmt.Sprintf(`document.querySelectorAll("[data-testid=audit-more]").forEach(d => d.open = %t)`, open))
			fits := eval[string](tb, "measure the table", `(t => t.scrollWidth <= t.parentElement.clientWidth ? "" :
				"table " + t.scrollWidth + " px in a box of " + t.parentElement.clientWidth)(document.querySelector("#audit-log table"))`)
			if fits != "" {
				t.Errorf("%s, details open %t: the table does not fit: %s", s.name, open, fits)
			}
		}
		for _, control := range []string{`select[name="action"]`, `[data-testid="audit-date-preset"]`, `[data-testid="audit-log-csv"]`, `[data-testid="audit-more"] summary`} {
			tb.checkReachable(control)
		}
	}
	tb.useScreen(screens[0])
	tb.checkEveryScreen("audit log with the rows' details open")

	tb.do("choose Key deleted and filter",
		chromedp.SetValue(chromedp.CSS(`select[name="action"]`), models.AuditKeyDeleted),
		chromedp.Click(chromedp.CSS(`#audit-log-filters button[type="submit"]`)),
	)
	tb.waitFor("one row is left", `document.querySelectorAll("[data-testid=audit-event]").length === 1`)
	if got := tb.text(`[data-testid="audit-action-label"]`); got != "Key deleted" {
		t.Errorf("the row's action: got %q, want Key deleted", got)
	}
	tb.waitFor("Export CSV follows the filter", `document.querySelector("[data-testid=audit-log-csv]").getAttribute("href") === "/admin/audit-log.csv?action=key.deleted"`)
}
