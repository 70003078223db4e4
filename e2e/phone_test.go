package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// tablePages are the pages with a table, and what shows that each has loaded.
var tablePages = []struct{ name, path string }{
	{"API Keys", "/admin/api-keys"},
	{"Scanners", "/admin/scanners"},
	{"Instances", "/admin/instances"},
	{"Audit log", "/admin/audit-log"},
	{"Users", "/admin/users"},
	{"Your account", "/account"},
}

// TestBrowserPhoneAndTables: with the longest realistic data (a user and 16 keys named in 100
// characters, every status), on a phone, light and dark, Your account and Sign out are on
// screen and clickable on every page; each key's card takes a third of the screen at most;
// nothing inside a card has a background of its own; and no label is shown over an empty
// value. On a laptop every table's cells have the same padding.
func TestBrowserPhoneAndTables(t *testing.T) {
	browserCtx := startBrowser(t)
	app := apptest.New(t, modelstest.Targets(t)[0])
	ctx := context.Background()
	if _, err := app.Store.CreateUser(ctx, models.NewUser{Email: adminEmail, Name: ("ada " + strings.Repeat("Maximilian Alexander ", 5))[:100], Password: apptest.DefaultPassword, Permission: models.PermissionSuperAdmin}); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("Warehouse lineage export ", 4)
	expired, soon, later := time.Now().Add(-time.Hour), time.Now().Add(72*time.Hour), time.Now().Add(90*24*time.Hour)
	var scannerKey *models.APIKey
	for i := range 16 {
		expiry := []*time.Time{nil, &expired, &soon, &later}[i%4]
		scope := []models.Scope{models.ScopeAdmin, models.ScopeManageDocumentation}[i%2]
		key, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: fmt.Sprintf("%s%02d", long[:98], i), Scope: scope, ExpiresAt: expiry})
		if err != nil {
			t.Fatal(err)
		}
		if i == 5 {
			if _, _, err := app.Store.DisableAPIKey(ctx, key.PublicID); err != nil {
				t.Fatal(err)
			}
		}
		scannerKey = key
	}
	if _, err := app.Store.CheckInScanner(ctx, models.ScannerCheckIn{Name: long[:100], Host: "scan-01.internal", Version: "4.2.0", APIKeyID: scannerKey.ID}); err != nil {
		t.Fatal(err)
	}
	// An event with no target (a sign-out recorded by itself) leaves its Target cell empty.
	if err := app.Store.RecordAudit(ctx, models.AuditEvent{Action: models.AuditSignedOut}); err != nil {
		t.Fatal(err)
	}

	tb := openTab(t, browserCtx, app, true)
	tb.login(adminEmail)
	for _, page := range tablePages {
		tb.useScreen(screens[0])
		tb.do("open "+page.name, chromedp.Navigate(app.URL+page.path), chromedp.WaitVisible(chromedp.CSS(`main`)))
		for _, s := range screens[2:] {
			where := page.name + ", " + s.name
			tb.useScreen(s)
			for _, control := range []string{`[data-testid="nav-account"]`, `header [data-testid="sign-out"]`} {
				if why := tb.reachable(control); why != "" {
					t.Errorf("%s: %s cannot be clicked: %s", where, control, why)
				}
			}
			for _, problem := range eval[[]string](tb, "look inside the cards", `(() => {
				const problems = [];
				for (const card of document.querySelectorAll("table.cards > tbody > tr")) {
					const own = getComputedStyle(card).backgroundColor;
					for (const el of card.querySelectorAll("td, th, tr")) {
						const bg = getComputedStyle(el).backgroundColor;
						if (bg !== own && bg !== "rgba(0, 0, 0, 0)") problems.push("a " + el.tagName + " inside a card has background " + bg + ", the card " + own);
					}
					for (const cell of card.querySelectorAll("td[data-label]")) {
						const shown = cell.getClientRects().length > 0 && getComputedStyle(cell, "::before").content !== "none";
						if (shown && cell.textContent.trim() === "") problems.push("the label " + cell.dataset.label + " is shown over an empty value");
					}
				}
				return problems;
			})()`) {
				t.Errorf("%s: %s", where, problem)
			}
		}
	}

	tb.useScreen(screens[0])
	tb.do("open API Keys", chromedp.Navigate(app.URL+"/admin/api-keys"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="api-key-list"]`)))
	for _, s := range screens[2:] {
		tb.useScreen(s)
		heights := eval[[]float64](tb, "measure the key cards", `Array.from(document.querySelectorAll("[data-testid=api-key-row]"), card => card.getBoundingClientRect().height)`)
		if len(heights) != 16 {
			t.Errorf("%s: %d key cards, want 16", s.name, len(heights))
		}
		for i, height := range heights {
			if height > float64(s.height)/3 {
				t.Errorf("%s: key card %d is %.0f px high, want at most a third of %d px", s.name, i+1, height, s.height)
			}
		}
	}

	laptop := screen{name: "laptop", width: 1280, height: 860}
	tb.useScreen(laptop)
	// Each distinct padding found, and the page it was first found on. The name cell of a
	// key's row keeps room on its left for the row's checkbox: only its left is not compared.
	paddings := map[string]string{}
	for _, page := range tablePages {
		tb.do("open "+page.name, chromedp.Navigate(app.URL+page.path), chromedp.WaitVisible(chromedp.CSS(`main`)))
		for _, padding := range eval[[]string](tb, "read the cells' padding", `Array.from(document.querySelectorAll("main table:not(.visually-hidden) :is(th, td)"), cell => {
			const style = getComputedStyle(cell);
			const left = cell.matches("td.key-name") ? style.paddingRight : style.paddingLeft;
			return [style.paddingTop, style.paddingRight, style.paddingBottom, left].join(" ");
		})`) {
			if _, seen := paddings[padding]; !seen {
				paddings[padding] = page.name
			}
		}
	}
	if len(paddings) != 1 {
		t.Errorf("at %d px the tables' cells have %d paddings, want one: %v", laptop.width, len(paddings), paddings)
	}
}
