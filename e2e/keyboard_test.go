package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// TestBrowserKeyboardOnly does every action of the console with Tab, Enter, Space, Escape (and
// typing, and Ctrl+A to select what was typed), never the mouse: create a key and copy its
// secret, sort, disable and enable, open and leave the rotate dialog, delete a key whose name
// must be typed, dismiss the notice, and filter the Scanners page. Focus goes back to what
// opened each dialog.
func TestBrowserKeyboardOnly(t *testing.T) {
	browserCtx := startBrowser(t)
	app := apptest.New(t, modelstest.Targets(t)[0])
	app.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
	ctx := context.Background()
	used, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Nightly export", Scope: models.ScopeScanner})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Store.RecordAPIKeyUses(ctx, []models.APIKeyUse{{APIKeyID: used.ID, At: time.Now().Add(-time.Hour), IP: "10.0.0.7", Client: "export/1.0"}}, nil); err != nil {
		t.Fatal(err)
	}
	checkIn := func(name string, at time.Time) {
		app.Store.SetClock(func() time.Time { return at })
		defer app.Store.SetClock(time.Now)
		if _, err := app.Store.CheckInScanner(ctx, models.ScannerCheckIn{Name: name, Host: "scan-01", Version: "4.2", APIKeyID: used.ID}); err != nil {
			t.Fatal(err)
		}
	}
	checkIn("warehouse", time.Now())
	checkIn("retired", time.Now().Add(-5*24*time.Hour))

	tb := openTab(t, browserCtx, app, true)
	tb.grantClipboard()
	tb.login(adminEmail)

	// Create a key: Enter on + New API Key, type, Space on a scope, Enter on Create.
	tb.tabTo(`[data-testid="new-api-key"]`)
	tb.press("press Enter on + New API Key", kb.Enter)
	tb.waitFor("the New API Key dialog opens with focus on the name", `document.activeElement?.id === "api-key-name"`)
	tb.press("type the name", "Keyboard export")
	tb.tabTo(`dialog[open] input[name="scope"]`)
	tb.press("press Space on the first scope", " ")
	tb.tabTo(`dialog[open] [data-testid="create-api-key"]`)
	tb.press("press Enter on Create", kb.Enter)
	tb.waitFor("the secret dialog opens with focus on the copy button", `document.activeElement?.dataset.testid === "copy-formatted"`)
	secret := get(tb, "read the secret", chromedp.Value(chromedp.CSS(`[data-testid="api-key-secret"]`)))
	tb.press("press Enter on Copy", kb.Enter)
	tb.waitFor("the secret is copied", `document.querySelector("[data-testid=copy-status]").textContent === "Copied the header line."`)
	if got := tb.clipboard(); got != "X-API-SECRET: "+secret {
		t.Errorf("clipboard after Enter on Copy: got %q, want the header line", got)
	}
	tb.press("press Escape", kb.Escape)
	tb.waitFor("the secret dialog closes", `document.querySelector("dialog") === null`)
	if got := tb.focused(); got != "new-api-key" {
		t.Errorf("focus after the secret dialog closed: got %q, want new-api-key", got)
	}
	created := tb.rowIDs()[0]
	row := `[data-key-id="` + created + `"] `

	// Sort: Enter on a column's header; focus stays on it.
	tb.tabTo(`[data-testid="sort-name"]`)
	tb.press("press Enter on Name", kb.Enter)
	tb.waitFor("the list is sorted by name", `document.querySelector("[data-testid=sort-name]").closest("th").getAttribute("aria-sort") === "ascending"`)
	if got := tb.focused(); got != "sort-name" {
		t.Errorf("focus after sorting: got %q, want sort-name", got)
	}
	tb.htmxIdle()

	// Disable and enable: Space on the button in the row's actions menu (opened with Enter),
	// which keeps focus as it turns.
	tb.openRowMenuByKeyboard(created)
	tb.tabTo(row + `[data-testid="disable-api-key"]`)
	tb.press("press Space on Disable", " ")
	tb.waitFor("the row says Disabled, focus on Enable", badgeIs(created, "disabled")+` && document.activeElement?.dataset.testid === "enable-api-key"`)
	tb.htmxIdle()
	tb.press("press Space on Enable", " ")
	tb.waitFor("the row is active again, focus on Disable", badgeIs(created, "active")+` && document.activeElement?.dataset.testid === "disable-api-key"`)
	tb.htmxIdle()

	// Rotate: Enter opens the dialog, Escape leaves it, focus goes back to the row's Rotate.
	tb.tabTo(row + `[data-testid="rotate-api-key"]`)
	tb.press("press Enter on Rotate", kb.Enter)
	tb.waitFor("the rotate dialog opens", `document.activeElement?.closest("dialog[open][data-testid=rotate-api-key-dialog]") != null`)
	tb.press("press Escape", kb.Escape)
	tb.waitFor("the rotate dialog closes", `document.querySelector("dialog") === null`)
	if got := eval[bool](tb, "check the focus", fmt.Sprintf(`document.activeElement === document.querySelector(%q)`, row+`[data-testid="rotate-api-key"]`)); !got {
		t.Errorf("focus after leaving the rotate dialog: got %q, want the row's Rotate", tb.focused())
	}

	// Delete a key in use: Delete key is offered only once its name is typed exactly.
	usedRow := `[data-key-id="` + used.PublicID + `"] `
	tb.openRowMenuByKeyboard(used.PublicID)
	tb.tabTo(usedRow + `[data-testid="delete-api-key"]`)
	tb.press("press Enter on Delete", kb.Enter)
	tb.waitFor("the delete dialog opens with focus on the name", `document.activeElement?.dataset.testid === "confirm-name"`)
	deleteOffered := `!document.querySelector("[data-testid=confirm-delete]").disabled`
	if eval[bool](tb, "check Delete key", deleteOffered) {
		t.Errorf("Delete key is offered before the name is typed")
	}
	tb.press("type a wrong name", "Nightly")
	if eval[bool](tb, "check Delete key", deleteOffered) {
		t.Errorf("Delete key is offered with %q typed, want only with %q", "Nightly", used.Name)
	}
	tb.press("select what was typed", "a", chromedp.KeyModifiers(chromedp.ModifierCtrl))
	tb.press("type the name", used.Name)
	tb.waitFor("Delete key is offered", deleteOffered)
	tb.press("press Enter", kb.Enter)
	tb.waitFor("the row is gone, focus on the list", fmt.Sprintf(`document.querySelector(%q) === null && document.querySelector("dialog") === null && document.activeElement?.id === "api-key-list"`, usedRow))

	// The notice: Enter on × dismisses it.
	tb.tabTo(`[data-testid="dismiss-notices"]`)
	tb.press("press Enter on ×", kb.Enter)
	tb.waitFor("the notices are gone", `document.querySelector("[data-testid=notices] .notice") === null`)

	// The Scanners page: a link of the navigation; its filter applies on Space, without a
	// button to press.
	tb.tabTo(`[data-testid="nav-scanners"]`)
	tb.press("press Enter on Scanners", kb.Enter)
	tb.do("wait for the Scanners page", chromedp.WaitVisible(chromedp.CSS(`[data-testid="scanner-filter"]`)))
	if n := eval[int](tb, "count visible buttons of the filter", `Array.from(document.querySelectorAll("[data-testid=scanner-filter] button")).filter(b => b.checkVisibility()).length`); n != 0 {
		t.Errorf("buttons of the Scanners filter: got %d, want 0 (it applies as it changes)", n)
	}
	if n := tb.count(`[data-testid="scanner-row"]`); n != 1 {
		t.Errorf("scanners listed: got %d, want 1 (the inactive one hidden)", n)
	}
	tb.tabTo(`[data-testid="include-inactive"]`)
	tb.press("press Space on Include inactive scanners", " ")
	tb.waitFor("the inactive scanner is listed", `document.querySelectorAll("[data-testid=scanner-row]").length === 2 && location.search === "?include_inactive=1"`)
}
