package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// TestBrowserEveryScreen walks through every page and dialog of the console, and looks at each
// on a laptop and on a phone, in light and dark mode (checkEveryScreen): nothing scrolls
// sideways, dialogs lie inside the viewport, and axe-core finds no accessibility violation.
// On the way it takes the README's screenshots; they are written to docs/screenshots only when
// KEYSMITH_UPDATE_SCREENSHOTS=1, so ordinary runs leave the tree clean.
func TestBrowserEveryScreen(t *testing.T) {
	browserCtx := startBrowser(t)
	app := apptest.New(t, modelstest.Targets(t)[0])
	ctx := context.Background()
	tb := openTab(t, browserCtx, app, true)
	tb.allow("status of 422 (Unprocessable Entity) (at " + app.URL + "/admin/api-keys:")
	tb.allow("status of 404 (Not Found) (at " + app.URL + "/admin/nothing-here:")
	screenshots := map[string][]byte{}

	token, err := app.Store.CreateSetupToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tb.do("open the setup page", chromedp.Navigate(app.URL+"/setup?token="+token), chromedp.WaitVisible(chromedp.CSS(`[data-testid="setup-page"]`)))
	tb.checkEveryScreen("setup page")

	admin := app.CreateUser(t, "ada.lovelace@example.com", models.PermissionSuperAdmin)
	keys := seedRealisticKeys(t, app, admin.ID)
	scannerKey := keys["Snowflake scanner"]
	if _, err := app.Store.CheckInScanner(ctx, models.ScannerCheckIn{Name: "snowflake-prod", Host: "scan-01.internal", Version: "4.2.0", APIKeyID: scannerKey.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Store.CheckInScanner(ctx, models.ScannerCheckIn{Name: "dbt-docs", Host: "ci-runner-7", Version: "4.1.3", APIKeyID: keys["dbt docs publisher"].ID}); err != nil {
		t.Fatal(err)
	}

	tb.do("open the sign-in page", chromedp.Navigate(app.URL+"/login"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-page"]`)))
	tb.checkEveryScreen("sign-in page")
	tb.login("ada.lovelace@example.com")
	tb.checkEveryScreen("API Keys list")
	screenshots["api-keys-list.png"] = tb.screenshot()
	tb.useScreen(screens[2])
	// On a phone each key is still one row element, shown as a card, with its actions menu
	// visible, holding its 3 actions.
	cards := eval[[]string](tb, "read the cards", `Array.from(document.querySelectorAll("[data-key-id]"), row =>
		row.dataset.testid + " " + (row.checkVisibility() && row.querySelector("[data-testid=row-actions] > summary").checkVisibility() &&
			row.querySelectorAll("[data-testid=row-actions] :is([data-testid=rotate-api-key], [data-testid=delete-api-key], [data-testid=disable-api-key], [data-testid=enable-api-key])").length))`)
	if len(cards) != len(keys) {
		t.Errorf("elements with a key id on a phone: got %d, want one per key (%d)", len(cards), len(keys))
	}
	for _, card := range cards {
		if card != "api-key-row 3" {
			t.Errorf("a key on a phone: got %q, want a visible api-key-row with its 3 actions visible", card)
		}
	}
	tb.do("scroll to the list", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, document.querySelector("[data-testid=expiry-banner]").getBoundingClientRect().top + window.scrollY - 8)`))
	screenshots["api-keys-list-phone.png"] = tb.screenshot()
	tb.do("scroll back", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	tb.useScreen(screens[0])

	tb.openNewKeyDialog()
	tb.checkEveryScreen("New API Key dialog")
	tb.do("submit the empty form",
		chromedp.Click(chromedp.CSS(`[data-testid="create-api-key"]`)),
		chromedp.WaitVisible(chromedp.CSS(`dialog[open] [data-testid="error-name"]`)),
	)
	tb.checkEveryScreen("New API Key dialog with errors")
	created := tb.fillAndCreate("Airflow metadata sync", models.ScopeManageDocumentation, "180d")
	tb.checkEveryScreen("secret dialog")
	screenshots["one-time-secret.png"] = tb.screenshot()
	tb.do("close the secret dialog without copying",
		chromedp.Click(chromedp.CSS(`[data-testid="api-key-secret-dialog"] [data-close-secret]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="close-anyway"]`)),
	)
	tb.checkEveryScreen("secret dialog asking before it closes")
	tb.do("close it anyway",
		chromedp.Click(chromedp.CSS(`[data-testid="close-anyway"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`[data-testid="api-key-secret-dialog"]`)),
	)
	tb.checkSecretGone(created.secret)

	used := keys["Nightly lineage export"].PublicID
	tb.openRowMenu(used)
	tb.do("open the delete dialog of a key in use",
		chromedp.Click(chromedp.CSS(`[data-key-id="`+used+`"] [data-testid="delete-api-key"]`)),
		chromedp.WaitVisible(chromedp.CSS(`dialog[open][data-testid="delete-api-key-dialog"] [data-testid="confirm-name"]`)),
	)
	tb.checkEveryScreen("delete dialog asking for the name")
	tb.do("close it", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotPresent(chromedp.CSS(`[data-testid="delete-api-key-dialog"]`)))
	tb.openRowMenu(used)
	tb.do("open the rotate dialog",
		chromedp.Click(chromedp.CSS(`[data-key-id="`+used+`"] [data-testid="rotate-api-key"]`)),
		chromedp.WaitVisible(chromedp.CSS(`dialog[open][data-testid="rotate-api-key-dialog"]`)),
	)
	tb.checkEveryScreen("rotate dialog")
	tb.do("close it", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotPresent(chromedp.CSS(`[data-testid="rotate-api-key-dialog"]`)))

	unused := keys["Metamodel migration"].PublicID
	tb.openRowMenu(unused)
	tb.do("delete a key nobody used",
		chromedp.Click(chromedp.CSS(`[data-key-id="`+unused+`"] [data-testid="delete-api-key"]`)),
		chromedp.WaitVisible(chromedp.CSS(`dialog[open][data-testid="delete-api-key-dialog"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="confirm-delete"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`[data-key-id="`+unused+`"]`)),
	)
	tb.waitFor("the proof of revocation is complete", `document.querySelector("[data-testid=revocation-proof]")?.dataset.state === "complete"`)
	proof := eval[string](tb, "read the proof's address", `document.querySelector("[data-testid=revocation-proof]").dataset.url`)
	tb.checkEveryScreen("API Keys list after a delete")

	for _, page := range []struct{ name, path, selector string }{
		{"key page", "/admin/api-keys/" + used, `[data-testid="api-key-page"]`},
		{"Scanners page", "/admin/scanners", `[data-testid="scanner-list"]`},
		{"Instances page", "/admin/instances", `[data-testid="instance-list"]`},
		{"Audit log", "/admin/audit-log", `[data-testid="audit-log"]`},
		{"Users page", "/admin/users", `[data-testid="user-list"]`},
		{"account page", "/account", `[data-testid="session-list"]`},
		{"revocation page", proof, `[data-testid="revocation-proof"]`},
		{"New API Key page", "/admin/api-keys/new", `[data-testid="new-api-key-page"]`},
		{"delete page", "/admin/api-keys/" + used + "/delete", `[data-testid="delete-api-key-page"]`},
		{"rotate page", "/admin/api-keys/" + used + "/rotate", `[data-testid="rotate-api-key-page"]`},
		{"not-found page", "/admin/nothing-here", `[data-testid="error-page"]`},
	} {
		tb.do("open the "+page.name, chromedp.Navigate(app.URL+page.path), chromedp.WaitVisible(chromedp.CSS(page.selector)))
		tb.checkEveryScreen(page.name)
	}
	tb.do("create a key from the page without a dialog",
		chromedp.Navigate(app.URL+"/admin/api-keys/new"),
		chromedp.WaitVisible(chromedp.CSS(`#api-key-name`)),
		chromedp.SendKeys(chromedp.CSS(`#api-key-name`), "Looker extract"),
		chromedp.Click(chromedp.CSS(`input[name="scope"][value="read-only"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="create-api-key"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="api-key-secret-page"]`)),
	)
	tb.checkEveryScreen("secret page")

	// Someone without the permission meets the 403 page where they try to go.
	app.CreateUser(t, "grace@example.com", models.PermissionNone)
	other := openTab(t, browserCtx, app, true)
	other.allow("status of 403 (Forbidden) (at " + app.URL + "/admin/api-keys:")
	other.do("sign in without the permission",
		chromedp.Navigate(app.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), "grace@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#password`), apptest.DefaultPassword),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		// With no page of the console to open, signing in leads to Your account.
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="session-list"]`)),
	)
	other.do("open the API Keys page all the same",
		chromedp.Navigate(app.URL+"/admin/api-keys"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="error-page"]`)),
	)
	other.checkEveryScreen("access denied page")
	if n := other.count(`nav[aria-label="Main"] a[href^="/admin/"]`); n != 0 {
		t.Errorf("links to administration pages in the navigation of a user without permission: got %d, want 0", n)
	}
	// The way out: sign in as someone else, and come back to the page that was refused.
	other.do("sign in as someone else",
		chromedp.Click(chromedp.CSS(`[data-testid="error-page"] [data-testid="sign-out"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), "ada.lovelace@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#password`), apptest.DefaultPassword),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="api-key-row"]`)),
	)
	if location := get(other, "read the location", chromedp.Location()); location != app.URL+"/admin/api-keys" {
		t.Errorf("after signing in as someone else: got %q, want the refused page %q", location, app.URL+"/admin/api-keys")
	}

	for name, data := range screenshots {
		if err := checkPNG(data); err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if os.Getenv("KEYSMITH_UPDATE_SCREENSHOTS") != "1" {
			continue
		}
		path := filepath.Join("..", "docs", "screenshots", name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
	}
}
