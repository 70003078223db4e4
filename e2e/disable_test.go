package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// badgeIs is the JavaScript condition that the key's row shows the status badge status.
func badgeIs(publicID, status string) string {
	return `(() => { const b = document.querySelector('[data-key-id="` + publicID + `"] [data-testid="status-badge"]'); return b !== null && b.dataset.status === "` + status + `"; })()`
}

// TestBrowserDisableAndEnable disables and enables a key from the list with JavaScript: the
// row changes in place, the banner of expiring keys follows, the status filter narrows the
// list and searching keeps it; and again without JavaScript, through the forms.
func TestBrowserDisableAndEnable(t *testing.T) {
	browserCtx := startBrowser(t)
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			app := apptest.New(t, target)
			app.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
			ctx := context.Background()
			soon := time.Now().Add(3 * 24 * time.Hour)
			key, secret, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Nightly export", Scope: models.ScopeReadOnly, ExpiresAt: &soon})
			if err != nil {
				t.Fatal(err)
			}
			other, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Catalog admin", Scope: models.ScopeAdmin})
			if err != nil {
				t.Fatal(err)
			}

			tb := openTab(t, browserCtx, app, true)
			tb.login(adminEmail)
			tb.setMarker()
			if got := tb.text(`[data-testid="expiry-banner"]`); !strings.Contains(got, "1 key expires within 7 days") {
				t.Errorf("banner: got %q, want it to count the key expiring in 3 days", got)
			}
			if n := tb.count(`[data-key-id="` + other.PublicID + `"] [data-testid="never-expires-flag"]`); n != 1 {
				t.Errorf("flags on the Admin key that never expires: got %d, want 1", n)
			}

			tb.settle()
			tb.openRowMenu(key.PublicID)
			tb.do("press Disable", chromedp.Click(chromedp.CSS(`[data-key-id="`+key.PublicID+`"] [data-testid="disable-api-key"]`)))
			tb.waitFor("the row says Disabled", badgeIs(key.PublicID, "disabled"))
			tb.waitFor("the banner is gone", `document.querySelector('[data-testid="expiry-banner"]') === null`)
			tb.checkMarker("after disabling")
			if got := tb.text(`[data-key-id="` + key.PublicID + `"] [data-testid="status-badge"]`); got != "Disabled" {
				t.Errorf("badge text: got %q, want %q", got, "Disabled")
			}
			if got := tb.text(`[data-testid="flash"]`); !strings.Contains(got, "“Nightly export” disabled") {
				t.Errorf("notice after disabling: got %q, want it to say the key was disabled", got)
			}
			if got := app.VerifyStatus(t, secret); got != http.StatusUnauthorized {
				t.Errorf("the disabled key: status %d, want %d", got, http.StatusUnauthorized)
			}

			// The status filter narrows the list in place, and a search keeps it.
			tb.do("choose the Disabled filter", chromedp.SetValue(chromedp.CSS(`select[name="status"]`), "disabled"),
				chromedp.Evaluate[chromedp.Void](`document.querySelector('select[name="status"]').dispatchEvent(new Event("change", {bubbles: true}))`))
			tb.waitFor("only the disabled key is listed", `document.querySelectorAll('[data-testid="api-key-row"]').length === 1`)
			if got := tb.rowIDs(); len(got) != 1 || got[0] != key.PublicID {
				t.Errorf("rows with the Disabled filter: got %q, want [%q]", got, key.PublicID)
			}
			tb.settle()
			tb.do("sort by expiration date", chromedp.Click(chromedp.CSS(`[data-testid="sort-expires"]`)))
			tb.waitFor("the list is sorted by expiry", `document.querySelector('[data-testid="sort-expires"]').closest("th").getAttribute("aria-sort") === "ascending"`)
			tb.do("type in the search box", chromedp.SendKeys(chromedp.CSS(`input[name="q"]`), "nightly"))
			tb.settle()
			location := get(tb, "read the location", chromedp.Location())
			for _, want := range []string{"status=disabled", "q=nightly", "sort=expires"} {
				if !strings.Contains(location, want) {
					t.Errorf("location after sorting and searching with the filter: got %q, want it to keep %s", location, want)
				}
			}
			if got := tb.rowIDs(); len(got) != 1 || got[0] != key.PublicID {
				t.Errorf("rows after searching with the filter: got %q, want [%q]", got, key.PublicID)
			}

			tb.openRowMenu(key.PublicID)
			tb.do("press Enable", chromedp.Click(chromedp.CSS(`[data-key-id="`+key.PublicID+`"] [data-testid="enable-api-key"]`)))
			tb.waitFor("the row says it expires soon again", badgeIs(key.PublicID, "expires-soon"))
			tb.waitFor("the banner is back", `document.querySelector('[data-testid="expiry-banner"]') !== null`)
			tb.checkMarker("after enabling")
			if got := app.VerifyStatus(t, secret); got != http.StatusOK {
				t.Errorf("the enabled key: status %d, want %d", got, http.StatusOK)
			}

			// Without JavaScript: the forms post, and the list comes back as it was shown.
			plain := openTab(t, browserCtx, app, false)
			plain.login(adminEmail)
			plain.do("open the list sorted by expiry",
				chromedp.Navigate(app.URL+"/admin/api-keys?sort=expires"),
				chromedp.WaitVisible(chromedp.CSS(`[data-key-id="`+key.PublicID+`"] [data-testid="row-actions"]`)),
			)
			plain.openRowMenu(key.PublicID)
			plain.do("press Disable",
				chromedp.Click(chromedp.CSS(`[data-key-id="`+key.PublicID+`"] [data-testid="disable-api-key"]`)),
				chromedp.WaitReady(chromedp.CSS(`[data-key-id="`+key.PublicID+`"] [data-testid="enable-api-key"]`)),
			)
			if location := get(plain, "read the location", chromedp.Location()); location != app.URL+"/admin/api-keys?sort=expires" {
				t.Errorf("location after disabling without JavaScript: got %q, want the list as shown", location)
			}
			if got := plain.text(`[data-testid="flash"]`); !strings.Contains(got, "disabled") {
				t.Errorf("notice after disabling without JavaScript: got %q", got)
			}
			if got := app.VerifyStatus(t, secret); got != http.StatusUnauthorized {
				t.Errorf("the key disabled without JavaScript: status %d, want %d", got, http.StatusUnauthorized)
			}
			plain.openRowMenu(key.PublicID)
			plain.do("press Enable",
				chromedp.Click(chromedp.CSS(`[data-key-id="`+key.PublicID+`"] [data-testid="enable-api-key"]`)),
				chromedp.WaitReady(chromedp.CSS(`[data-key-id="`+key.PublicID+`"] [data-testid="disable-api-key"]`)),
			)
			if got := app.VerifyStatus(t, secret); got != http.StatusOK {
				t.Errorf("the key enabled without JavaScript: status %d, want %d", got, http.StatusOK)
			}
		})
	}
}
