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

// TestBrowserKeyPageToolbar: the key page's header leads with its actions. With a name of 100
// characters, on a laptop and a phone, light and dark, with and without JavaScript, every
// control of the toolbar (Rename, Rotate secret or Renew, Disable or Enable, Delete) is on
// screen and is what a click at its centre reaches; with JavaScript, Renew and Delete open
// their dialogs over the page.
func TestBrowserKeyPageToolbar(t *testing.T) {
	browserCtx := startBrowser(t)
	for _, javascript := range []bool{true, false} {
		t.Run(fmt.Sprintf("javascript=%v", javascript), func(t *testing.T) {
			app := apptest.New(t, modelstest.Targets(t)[0])
			app.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
			ctx := context.Background()
			long := strings.Repeat("Warehouse lineage export ", 4)[:100]
			expiredAt := time.Now().Add(-time.Hour)
			active, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: long, Scope: models.ScopeManageDocumentation})
			if err != nil {
				t.Fatal(err)
			}
			disabled, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: long[:99] + "D", Scope: models.ScopeReadOnly})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := app.Store.DisableAPIKey(ctx, disabled.PublicID); err != nil {
				t.Fatal(err)
			}
			expired, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: long[:99] + "E", Scope: models.ScopeReadOnly, ExpiresAt: &expiredAt})
			if err != nil {
				t.Fatal(err)
			}

			tb := openTab(t, browserCtx, app, javascript)
			tb.login(adminEmail)
			for _, tc := range []struct {
				key      *models.APIKey
				controls []string
			}{
				{active, []string{"rename-api-key", "rotate-api-key", "disable-api-key", "delete-api-key"}},
				{disabled, []string{"rename-api-key", "rotate-api-key", "enable-api-key", "delete-api-key"}},
				{expired, []string{"rename-api-key", "renew-api-key", "delete-api-key"}},
			} {
				tb.useScreen(ownershipScreens[0])
				tb.do("open the key page", chromedp.Navigate(app.URL+"/admin/api-keys/"+tc.key.PublicID), chromedp.WaitVisible(chromedp.CSS(`[data-testid="key-toolbar"]`)))
				for _, s := range ownershipScreens {
					tb.useScreen(s)
					tb.check("the key page", s, javascript)
					for _, control := range tc.controls {
						if why := tb.reachable(`[data-testid="key-toolbar"] [data-testid="` + control + `"]`); why != "" {
							t.Errorf("%s, %s: %s cannot be clicked: %s", tc.key.Name[len(tc.key.Name)-1:], s.name, control, why)
						}
					}
				}
			}
			if !javascript {
				return
			}
			tb.useScreen(ownershipScreens[2])
			tb.do("press Renew",
				chromedp.Click(chromedp.CSS(`[data-testid="renew-api-key"]`)),
				chromedp.WaitVisible(chromedp.CSS(`dialog[open][data-testid="rotate-api-key-dialog"]`)),
			)
			if got := strings.TrimSpace(tb.text(`#rotate-title`)); got != "Renew API key “"+expired.Name+"”" {
				t.Errorf("the dialog Renew opens is titled %q", got)
			}
			if why := tb.reachable(`dialog[open] [data-testid="confirm-rotate"]`); why != "" {
				t.Errorf("the dialog's Renew cannot be clicked on a phone: %s", why)
			}
			tb.checkScreen("the Renew dialog, "+ownershipScreens[2].name, ownershipScreens[2])
			tb.do("close it", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotPresent(chromedp.CSS(`[data-testid="rotate-api-key-dialog"]`)))
			tb.do("press Delete",
				chromedp.Click(chromedp.CSS(`[data-testid="key-toolbar"] [data-testid="delete-api-key"]`)),
				chromedp.WaitVisible(chromedp.CSS(`dialog[open][data-testid="delete-api-key-dialog"]`)),
			)
			tb.do("confirm the delete",
				chromedp.Click(chromedp.CSS(`dialog[open] [data-testid="confirm-delete"]`)),
			)
			tb.afterNavigation("the list says the key was deleted", `location.pathname === "/admin/api-keys" && (document.querySelector('[data-testid="flash"]')?.textContent ?? "").includes("deleted")`)
		})
	}
}
