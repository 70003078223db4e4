package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// TestBrowserRowActionsFit checks, with the longest realistic rows (names of 100 characters,
// the longest scope, every badge and the longest client), that the keys table fits its box on
// a laptop, and that every row's actions menu, and each of its items once opened, lies inside
// the viewport and is what a click at its centre reaches: on a laptop and on a phone.
func TestBrowserRowActionsFit(t *testing.T) {
	browserCtx := startBrowser(t)
	app := apptest.New(t, modelstest.Targets(t)[0])
	admin := app.CreateUser(t, "ada.lovelace@example.com", models.PermissionSuperAdmin)
	ids := seedLongestKeys(t, app, admin.ID)
	tb := openTab(t, browserCtx, app, true)
	tb.login("ada.lovelace@example.com")
	if got := tb.count(`[data-testid="api-key-row"]`); got != len(ids) {
		t.Fatalf("rows: got %d, want %d", got, len(ids))
	}
	badges := eval[string](tb, "read the badges", `Array.from(new Set(Array.from(document.querySelectorAll("[data-testid=status-badge]"), b => b.dataset.status))).sort().join(" ")`)
	if want := "active disabled expired expires-soon rotating"; badges != want {
		t.Errorf("badges shown: got %q, want %q", badges, want)
	}
	for _, s := range []screen{
		{name: "laptop 1280", width: 1280, height: 860},
		{name: "laptop 1440", width: 1440, height: 860},
		{name: "laptop 1280 dark", width: 1280, height: 860, dark: true},
		{name: "small laptop 1024", width: 1024, height: 768},
		{name: "phone", width: 390, height: 844, phone: true},
	} {
		tb.useScreen(s)
		if !s.phone {
			box := eval[[]int64](tb, "measure the table", `(t => [t.scrollWidth, t.parentElement.clientWidth])(document.querySelector("#api-key-list table"))`)
			if box[0] > box[1] {
				t.Errorf("%s: the keys table is %d px wide in a %d px box, want it to fit", s.name, box[0], box[1])
			}
		}
		for _, id := range ids {
			row := `[data-key-id="` + id + `"] `
			tb.checkClickable(s.name, row+`[data-testid="row-actions"] > summary`)
			tb.openRowMenu(id)
			for _, item := range []string{"rotate-api-key", "disable-api-key", "enable-api-key", "delete-api-key"} {
				if tb.count(row+`[data-testid="`+item+`"]`) == 1 {
					tb.checkClickable(s.name, row+`[data-testid="`+item+`"]`)
				}
			}
			tb.closeRowMenu(id)
		}
		tb.checkScreen("API Keys list with the longest rows, "+s.name, s)
		// The last row's menu opens over the pagination below: still no sideways scroll, and
		// axe-core finds nothing in the open menu.
		tb.openRowMenu(ids[len(ids)-1])
		tb.checkScreen("API Keys list with the last row's menu open, "+s.name, s)
		tb.closeRowMenu(ids[len(ids)-1])
	}
}

// checkClickable scrolls the page (only up or down: nothing may need a sideways scroll) to
// bring the element matching selector to the middle of the viewport, and checks that it lies
// inside the viewport and that the element at its centre is the control itself (or inside it):
// nothing covers it and nothing clips it.
func (tb *tab) checkClickable(where, selector string) {
	tb.t.Helper()
	problem := eval[string](tb, "check "+selector, fmt.Sprintf(`(el => {
		if (!el) { return "not found"; }
		window.scrollBy(0, el.getBoundingClientRect().top - window.innerHeight / 2);
		const r = el.getBoundingClientRect();
		if (r.width === 0 || r.left < 0 || r.top < 0 || r.right > window.innerWidth || r.bottom > window.innerHeight) {
			return "outside the viewport at " + [r.left, r.top, r.right, r.bottom].map(Math.round).join(",");
		}
		const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
		return hit === el || el.contains(hit) ? "" : "covered by " + (hit ? hit.outerHTML.slice(0, 120) : "nothing");
	})(document.querySelector(%q))`, selector))
	if problem != "" {
		tb.t.Errorf("%s: %s: %s", where, selector, problem)
	}
}

// openRowMenu opens a row's actions menu with a click on it, as a person does. A click while
// another row's menu is open only closes that one (Pico's dropdown catches it), so it clicks
// again.
func (tb *tab) openRowMenu(keyID string) {
	tb.t.Helper()
	menu := `[data-key-id="` + keyID + `"] [data-testid="row-actions"]`
	for range 2 {
		if eval[bool](tb, "check the menu", fmt.Sprintf(`document.querySelector(%q).open`, menu)) {
			return
		}
		tb.do("open the actions of "+keyID, chromedp.Click(chromedp.CSS(menu+` > summary`)))
	}
	tb.waitFor("the actions of "+keyID+" are open", fmt.Sprintf(`document.querySelector(%q).open`, menu))
}

// closeRowMenu closes a row's actions menu with a click on its button.
func (tb *tab) closeRowMenu(keyID string) {
	tb.t.Helper()
	menu := `[data-key-id="` + keyID + `"] [data-testid="row-actions"]`
	tb.do("close the actions of "+keyID, chromedp.Click(chromedp.CSS(menu+` > summary`)))
	tb.waitFor("the actions of "+keyID+" are closed", fmt.Sprintf(`!document.querySelector(%q).open`, menu))
}

// seedLongestKeys adds one key of each status, each with a name of 100 characters and the
// longest scope label, the keys that never expire with write access flagged, and a last use
// by the longest client name, and returns their public ids.
func seedLongestKeys(t *testing.T, app *apptest.App, creatorID int64) []string {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	days := func(n int) *time.Time { at := now.AddDate(0, 0, n); return &at }
	name := func(i int) string {
		prefix := fmt.Sprintf("Nightly lineage export %d for the finance data warehouse ", i)
		return prefix + strings.Repeat("W", models.MaxAPIKeyNameLength-len(prefix))
	}
	client := strings.Repeat("lineage-export/2.3 (python-requests/2.32; CPython 3.12) ", 4)[:models.MaxClientLength]
	var ids []string
	for i, expiresAt := range []*time.Time{nil, days(3), days(-2), days(120), days(120), nil} {
		createdAt := now.AddDate(0, 0, -30)
		app.Store.SetClock(func() time.Time { return createdAt })
		key, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: name(i), Scope: models.ScopeManageDocumentation, ExpiresAt: expiresAt, CreatedByID: &creatorID})
		if err != nil {
			t.Fatalf("seed key %d: %v", i, err)
		}
		app.Store.SetClock(time.Now)
		use := models.APIKeyUse{APIKeyID: key.ID, At: now.Add(-time.Hour), IP: "10.20.3.14", Client: client}
		if err := app.Store.RecordAPIKeyUses(ctx, []models.APIKeyUse{use}, nil); err != nil {
			t.Fatalf("seed a use of key %d: %v", i, err)
		}
		switch i {
		case 3:
			if _, _, err := app.Store.DisableAPIKey(ctx, key.PublicID); err != nil {
				t.Fatalf("disable key %d: %v", i, err)
			}
		case 4:
			if _, _, err := app.Store.RotateAPIKey(ctx, key.PublicID, models.Rotation{Grace: models.GraceDay, ExpiresAt: expiresAt}); err != nil {
				t.Fatalf("rotate key %d: %v", i, err)
			}
		}
		ids = append(ids, key.PublicID)
	}
	return ids
}

// openRowMenuByKeyboard tabs to a row's actions menu and opens it with Enter.
func (tb *tab) openRowMenuByKeyboard(keyID string) {
	tb.t.Helper()
	menu := `[data-key-id="` + keyID + `"] [data-testid="row-actions"]`
	tb.tabTo(menu + ` > summary`)
	tb.press("press Enter on the actions of "+keyID, kb.Enter)
	tb.waitFor("the actions of "+keyID+" are open", fmt.Sprintf(`document.querySelector(%q).open`, menu))
}
