package e2e

import (
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// TestBrowserBulkControlsFit checks, with the longest rows, that every row's checkbox and the
// bulk Disable and Delete buttons lie inside the viewport and are what a click at their centre
// reaches, on a laptop and a phone, and that the table still fits its box on a laptop. Then,
// with htmx, ticking two keys and choosing Disable opens the confirmation naming both; without
// JavaScript, the same opens it as a page.
func TestBrowserBulkControlsFit(t *testing.T) {
	browserCtx := startBrowser(t)
	app := apptest.New(t, modelstest.Targets(t)[0])
	admin := app.CreateUser(t, "ada.lovelace@example.com", models.PermissionSuperAdmin)
	ids := seedLongestKeys(t, app, admin.ID)
	tb := openTab(t, browserCtx, app, true)
	tb.login("ada.lovelace@example.com")
	for _, s := range []screen{
		{name: "laptop 1280", width: 1280, height: 860},
		{name: "laptop 1280 dark", width: 1280, height: 860, dark: true},
		{name: "phone", width: 390, height: 844, phone: true},
	} {
		tb.useScreen(s)
		if !s.phone {
			box := eval[[]int64](tb, "measure the table", `(t => [t.scrollWidth, t.parentElement.clientWidth])(document.querySelector("#api-key-list table"))`)
			if box[0] > box[1] {
				t.Errorf("%s: the keys table is %d px wide in a %d px box, want it to fit", s.name, box[0], box[1])
			}
		}
		tb.checkClickable(s.name, `[data-testid="bulk-disable"]`)
		tb.checkClickable(s.name, `[data-testid="bulk-delete"]`)
		for _, id := range ids {
			tb.checkClickable(s.name, `[data-key-id="`+id+`"] [data-testid="select-key"]`)
			// The checkbox beside the name leaves the name's link clear.
			tb.checkClickable(s.name, `[data-key-id="`+id+`"] [data-testid="api-key-link"]`)
			if overlap := eval[bool](tb, "compare the checkbox and the name", `(row => row.querySelector("[data-testid=select-key]").getBoundingClientRect().right > row.querySelector("[data-testid=api-key-name]").getBoundingClientRect().left)(document.querySelector('[data-key-id="`+id+`"]'))`); overlap {
				t.Errorf("%s: the checkbox of %s overlaps its name", s.name, id)
			}
		}
		tb.checkScreen("API Keys list with the bulk controls, "+s.name, s)
	}
	tb.useScreen(screen{name: "laptop 1280", width: 1280, height: 860})
	tickTwoAndDisable(tb, ids)
	tb.waitFor("the bulk dialog", `!!document.querySelector("dialog[data-testid=bulk-dialog][open]")`)
	checkBulkNames(t, tb, ids[:2])

	plain := openTab(t, browserCtx, app, false)
	plain.login("ada.lovelace@example.com")
	tickTwoAndDisable(plain, ids)
	plain.do("wait for the bulk page", chromedp.WaitVisible(chromedp.CSS(`[data-testid="bulk-page"]`)))
	checkBulkNames(t, plain, ids[:2])
}

// tickTwoAndDisable ticks the first two keys' checkboxes and clicks the bulk Disable.
func tickTwoAndDisable(tb *tab, ids []string) {
	tb.t.Helper()
	for _, id := range ids[:2] {
		tb.do("tick "+id, chromedp.Click(chromedp.CSS(`[data-key-id="`+id+`"] [data-testid="select-key"]`)))
	}
	tb.do("choose Disable", chromedp.Click(chromedp.CSS(`[data-testid="bulk-disable"]`)))
}

// checkBulkNames checks that the confirmation lists exactly the keys with these ids.
func checkBulkNames(t *testing.T, tb *tab, ids []string) {
	t.Helper()
	got := eval[string](tb, "read the keys confirmed", `Array.from(document.querySelectorAll("[data-testid=bulk-key]"), li => li.dataset.keyId).sort().join(",")`)
	if want := strings.Join(slices.Sorted(slices.Values(ids)), ","); got != want {
		t.Errorf("the confirmation lists %q, want %q", got, want)
	}
}
