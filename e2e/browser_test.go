// Package e2e drives Keysmith's console in real headless Chromium: the flows an administrator
// goes through, with JavaScript (htmx dialogs, copy to clipboard) and without it.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// secretPattern is the format of a new key's secret as the modal shows it.
var secretPattern = regexp.MustCompile(`^ksk_[0-9A-Za-z]{49}$`)

// adminEmail is the administrator every test signs in as.
const adminEmail = "ada@example.com"

// TestBrowserAPIKeysWithJavaScript is the whole flow of an administrator with JavaScript on:
// sign in, a refused and then a good New API Key form in a dialog, the one-time secret modal
// with copy to the clipboard, the confirmation before closing a secret nobody copied, search
// as you type and delete through the warning dialog, all without a full page reload.
func TestBrowserAPIKeysWithJavaScript(t *testing.T) {
	browserCtx := startBrowser(t)
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			app := apptest.New(t, target)
			app.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
			tb := openTab(t, browserCtx, app, true)
			// The browser logs the 422 that carries a re-rendered invalid form; it is expected.
			tb.allow("status of 422 (Unprocessable Entity) (at " + app.URL + "/admin/api-keys:")
			tb.grantClipboard()
			tb.login(adminEmail)
			tb.setMarker()

			// The New API Key dialog, first sent empty: messages beside the fields, nothing stored.
			tb.openNewKeyDialog()
			tb.do("submit the empty form",
				chromedp.Click(chromedp.CSS(`[data-testid="create-api-key"]`)),
				chromedp.WaitVisible(chromedp.CSS(`dialog[open] [data-testid="error-name"]`)),
			)
			if got, want := tb.text(`[data-testid="error-name"]`), "Enter a name for the key."; got != want {
				t.Errorf("message beside the empty name: got %q, want %q", got, want)
			}
			if got, want := tb.text(`[data-testid="error-scope"]`), "Choose a permission scope."; got != want {
				t.Errorf("message beside the missing scope: got %q, want %q", got, want)
			}
			if got := eval[bool](tb, "read aria-invalid", `document.getElementById("api-key-name").getAttribute("aria-invalid") === "true"`); !got {
				t.Errorf("the empty name field is not marked aria-invalid")
			}
			if got := eval[bool](tb, "check focus", `document.activeElement && document.activeElement.closest("dialog[open]") !== null`); !got {
				t.Errorf("after the invalid submit, focus is outside the dialog")
			}
			if total := storedKeys(t, app); total != 0 {
				t.Errorf("keys stored after an invalid form: got %d, want 0", total)
			}
			if n := tb.count(`[data-testid="api-key-row"]`); n != 0 {
				t.Errorf("rows after an invalid form: got %d, want 0", n)
			}

			// A good form: the one-time secret modal, with the list refreshed behind it.
			before := time.Now()
			lineage := tb.fillAndCreate("Nightly lineage export", models.ScopeManageDocumentation, "30d")
			if got, want := lineage.formatted, "X-API-SECRET: "+lineage.secret; got != want {
				t.Errorf("formatted secret of an API scope: got %q, want %q", got, want)
			}
			stored, err := app.Store.APIKeyByPublicID(context.Background(), lineage.publicID)
			if err != nil {
				t.Fatalf("the key the modal shows (%s) is not stored: %v", lineage.publicID, err)
			}
			if stored.Scope != models.ScopeManageDocumentation || stored.Name != "Nightly lineage export" {
				t.Errorf("stored key: got name %q scope %q, want %q %q", stored.Name, stored.Scope, "Nightly lineage export", models.ScopeManageDocumentation)
			}
			if stored.ExpiresAt == nil || stored.ExpiresAt.Before(before.AddDate(0, 0, 30).Add(-time.Minute)) || stored.ExpiresAt.After(time.Now().AddDate(0, 0, 30).Add(time.Minute)) {
				t.Errorf("stored expiry: got %v, want 30 days from now", stored.ExpiresAt)
			}
			if got := eval[bool](tb, "check focus", `document.activeElement && document.activeElement.closest("[data-testid=api-key-secret-dialog]") !== null`); !got {
				t.Errorf("focus is not inside the secret modal")
			}
			if got := tb.rowIDs(); len(got) != 1 || got[0] != lineage.publicID {
				t.Errorf("rows behind the modal: got %q, want [%q]", got, lineage.publicID)
			}

			// Copy: the status names what was copied, the header line first, then the secret only.
			tb.copySecret("copy-formatted", "Copied the header line.")
			if got, want := tb.clipboard(), "X-API-SECRET: "+lineage.secret; got != want {
				t.Errorf("clipboard after copy: got %q, want %q", got, want)
			}
			tb.copySecret("copy-raw", "Copied the secret only.")
			if got := tb.clipboard(); got != lineage.secret {
				t.Errorf("clipboard after copying the secret only: got %q, want %q", got, lineage.secret)
			}

			// Done: the modal closes in place without asking, the new row is there, a notice says
			// what was created, and focus is back on the button that opened the dialog.
			tb.closeSecret()
			tb.checkMarker("after Done")
			if got := tb.rowIDs(); len(got) != 1 || got[0] != lineage.publicID {
				t.Errorf("rows after the modal closed: got %q, want [%q]", got, lineage.publicID)
			}
			if got := tb.text(`[data-key-id="` + lineage.publicID + `"] [data-testid="api-key-name"]`); got != "Nightly lineage export" {
				t.Errorf("name in the new row: got %q, want %q", got, "Nightly lineage export")
			}
			if got, want := tb.text(`[data-testid="flash"]`), "API key “Nightly lineage export” created. It works through "; !strings.HasPrefix(got, want) {
				t.Errorf("notice after the secret closed: got %q, want %q…", got, want)
			}
			if got := tb.focused(); got != "new-api-key" {
				t.Errorf("focus after the secret closed: got %q, want new-api-key, which opened the dialog", got)
			}
			tb.checkSecretGone(lineage.secret)

			// A secret nobody copied: Escape asks first, and never closes it silently.
			gateway := tb.createKey("BI gateway", models.ScopeReadOnly, "never")
			tb.do("press Escape on the secret modal", chromedp.KeyEvent(kb.Escape))
			tb.waitFor("the close confirmation shows", `!document.querySelector("[data-testid=confirm-close]").hidden`)
			if !tb.secretDialogOpen() {
				t.Fatalf("Escape closed the secret modal nobody copied; want it open with a confirmation")
			}
			if got := tb.text(`[data-testid="confirm-close"] [role="alert"]`); !strings.Contains(got, "not copied") {
				t.Errorf("close confirmation: got %q, want a warning that the secret was not copied", got)
			}
			tb.do("press Escape again", chromedp.KeyEvent(kb.Escape), chromedp.Sleep(200*time.Millisecond))
			if !tb.secretDialogOpen() {
				t.Errorf("a second Escape closed the secret modal without the confirmation being answered")
			}
			// Chrome closes a modal without a cancelable event on a second Escape with no
			// click in between; the page must bring the secret straight back.
			eval[chromedp.Void](tb, "close the modal as the browser would", `document.querySelector("[data-testid=api-key-secret-dialog]").close()`)
			tb.waitFor("the secret modal nobody copied is reopened", `document.querySelector("[data-testid=api-key-secret-dialog]").open`)
			if hidden := eval[bool](tb, "read the confirmation", `document.querySelector("[data-testid=confirm-close]").hidden`); hidden {
				t.Errorf("after the browser closed the secret modal, the close confirmation is hidden; want it shown")
			}
			tb.do("keep it open", chromedp.Click(chromedp.CSS(`[data-testid="confirm-close"] [data-stay]`)))
			tb.waitFor("the confirmation hides", `document.querySelector("[data-testid=confirm-close]").hidden`)
			tb.do("press the close button",
				chromedp.Click(chromedp.CSS(`[data-testid="api-key-secret-dialog"] [data-close-secret]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="close-anyway"]`)),
			)
			if !tb.secretDialogOpen() {
				t.Fatalf("the close button closed the secret modal nobody copied")
			}
			tb.do("close without copying",
				chromedp.Click(chromedp.CSS(`[data-testid="close-anyway"]`)),
				chromedp.WaitNotPresent(chromedp.CSS(`[data-testid="api-key-secret-dialog"]`)),
			)
			tb.checkMarker("after closing the secret without copying")
			tb.checkSecretGone(gateway.secret)
			if got := tb.rowIDs(); len(got) != 2 || got[0] != gateway.publicID {
				t.Errorf("rows, newest first: got %q, want [%q %q]", got, gateway.publicID, lineage.publicID)
			}

			// Search as you type: one request after typing stops, only the list region changes.
			requests := tb.watchListRequests()
			tb.do("type in the search box", chromedp.SendKeys(chromedp.CSS(`input[name="q"]`), "lineage"))
			tb.waitFor("the list narrows to one row", `document.querySelectorAll("[data-testid=api-key-row]").length === 1`)
			if got := tb.rowIDs(); len(got) != 1 || got[0] != lineage.publicID {
				t.Errorf("rows matching %q: got %q, want [%q]", "lineage", got, lineage.publicID)
			}
			tb.settle()
			if got := requests(); len(got) != 1 || !strings.Contains(got[0], "q=lineage") {
				t.Errorf("list requests while typing %q: got %q, want one, for the whole word (debounced)", "lineage", got)
			}
			tb.checkMarker("after searching")
			if location := get(tb, "read the location", chromedp.Location()); !strings.Contains(location, "q=lineage") {
				t.Errorf("location after searching: got %q, want it to keep q=lineage", location)
			}
			tb.do("search for a name nobody has",
				chromedp.SendKeys(chromedp.CSS(`input[name="q"]`), "-nothing"),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="api-key-no-match"]`)),
			)
			requests = tb.watchListRequests()
			tb.clearSearch()
			tb.waitFor("every row is back", `document.querySelectorAll("[data-testid=api-key-row]").length === 2`)
			tb.settle()
			if got := requests(); len(got) != 1 {
				t.Errorf("list requests after clearing the search box: got %q, want one", got)
			}

			// Sorted by name, Z to A, then searched: the search keeps the sort.
			nameSort := `document.querySelector("[data-testid=sort-name]").closest("th").getAttribute("aria-sort")`
			tb.do("sort by name", chromedp.Click(chromedp.CSS(`[data-testid="sort-name"]`)))
			tb.waitFor("the list is sorted by name", nameSort+` === "ascending"`)
			tb.htmxIdle()
			tb.do("sort by name again", chromedp.Click(chromedp.CSS(`[data-testid="sort-name"]`)))
			tb.waitFor("the list is sorted by name, Z to A", nameSort+` === "descending"`)
			tb.do("search with the sort", chromedp.SendKeys(chromedp.CSS(`input[name="q"]`), "e"))
			tb.waitFor("the search is applied", `new URLSearchParams(location.search).get("q") === "e"`)
			tb.settle()
			if got := eval[string](tb, "read the sort", nameSort); got != "descending" {
				t.Errorf("name column after searching: got aria-sort %q, want %q (the search keeps the sort)", got, "descending")
			}
			if got := eval[string](tb, "read the location's sort", `new URLSearchParams(location.search).get("sort")`); got != "-name" {
				t.Errorf("sort in the location after searching: got %q, want %q", got, "-name")
			}
			if got := tb.rowIDs(); len(got) != 2 || got[0] != lineage.publicID || got[1] != gateway.publicID {
				t.Errorf("rows matching %q sorted by name, Z to A: got %q, want [%q %q]", "e", got, lineage.publicID, gateway.publicID)
			}
			tb.do("go back to the list as it first was", chromedp.Navigate(app.URL+"/admin/api-keys"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="api-key-row"]`)))
			tb.setMarker()

			// Delete through the warning dialog: the row goes, the page stays.
			tb.openRowMenu(lineage.publicID)
			tb.do("open the delete dialog",
				chromedp.Click(chromedp.CSS(`[data-key-id="`+lineage.publicID+`"] [data-testid="delete-api-key"]`)),
				chromedp.WaitVisible(chromedp.CSS(`dialog[open][data-testid="delete-api-key-dialog"]`)),
			)
			dialog := tb.text(`[data-testid="delete-api-key-dialog"]`)
			for _, want := range []string{
				"Nightly lineage export",
				models.ScopeManageDocumentation.Label(),
				"will no longer be able to connect",
				"Never used",
			} {
				if !strings.Contains(dialog, want) {
					t.Errorf("delete dialog says %q, want it to mention %q", dialog, want)
				}
			}
			// Another live instance, which the proof of revocation waits for: the proof shows at
			// once, waiting, and updates in place once that instance acknowledges.
			peer := models.Instance{ID: "in_browserpeer", Address: "10.0.0.9:8080", Hostname: "peer",
				StartedAt: app.Store.Now().Add(-time.Minute), ListenerState: models.ListenerListening}
			if err := app.Store.Heartbeat(context.Background(), peer, time.Minute); err != nil {
				t.Fatal(err)
			}
			listTop := `document.querySelector("[data-testid=api-key-list]").getBoundingClientRect().top + window.scrollY`
			topBefore := eval[float64](tb, "measure where the list starts", listTop)
			tb.do("confirm the delete",
				chromedp.Click(chromedp.CSS(`[data-testid="confirm-delete"]`)),
				chromedp.WaitNotPresent(chromedp.CSS(`[data-key-id="`+lineage.publicID+`"]`)),
				chromedp.WaitNotPresent(chromedp.CSS(`[data-testid="delete-api-key-dialog"]`)),
			)
			tb.checkMarker("after deleting")
			if topAfter := eval[float64](tb, "measure where the list starts", listTop); topAfter != topBefore {
				t.Errorf("the delete's notice moved the list from %v px to %v px down the page; want it floating, the list where it was", topBefore, topAfter)
			}
			if got := tb.rowIDs(); len(got) != 1 || got[0] != gateway.publicID {
				t.Errorf("rows after deleting: got %q, want [%q]", got, gateway.publicID)
			}
			if got := tb.text(`[data-testid="flash"]`); !strings.Contains(got, "Nightly lineage export") || !strings.Contains(got, "deleted") {
				t.Errorf("flash after deleting: got %q, want it to say the key was deleted", got)
			}
			if _, err := app.Store.APIKeyByPublicID(context.Background(), lineage.publicID); !errors.Is(err, models.ErrAPIKeyNotFound) {
				t.Errorf("the deleted key is still stored: got %v, want ErrAPIKeyNotFound", err)
			}
			tb.waitFor("the proof of revocation waits for the other instance", `document.querySelector("[data-testid=revocation-proof]")?.dataset.state === "waiting"`)
			poll := eval[string](tb, "read the proof's address", `document.querySelector("[data-testid=revocation-proof]").getAttribute("hx-get")`)
			revocation, err := strconv.ParseInt(strings.TrimPrefix(poll, "/admin/revocations/"), 10, 64)
			if err != nil {
				t.Fatalf("address the proof polls: got %q, want /admin/revocations/{id}", poll)
			}
			if err := app.Store.AcknowledgeRevocations(context.Background(), []models.RevocationAck{{RevocationID: revocation, InstanceID: peer.ID, AcknowledgedAt: app.Store.Now()}}); err != nil {
				t.Fatal(err)
			}
			tb.waitFor("the proof of revocation updates in place", `document.querySelector("[data-testid=revocation-proof]")?.dataset.state === "complete"`)
			if got, want := tb.text(`[data-testid="revocation-summary"]`), "Revoked on 2 of 2 instances in "; !strings.HasPrefix(got, want) {
				t.Errorf("proof of revocation: got %q, want %q…", got, want)
			}
			tb.checkMarker("after the proof of revocation updated")
			tb.checkSecretGone(lineage.secret)
			tb.checkSecretGone(gateway.secret)
		})
	}
}

// TestBrowserAPIKeysWithoutJavaScript creates and deletes a key with JavaScript disabled: the
// plain pages, forms and redirects that htmx enhances.
func TestBrowserAPIKeysWithoutJavaScript(t *testing.T) {
	browserCtx := startBrowser(t)
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			app := apptest.New(t, target)
			app.CreateUser(t, adminEmail, models.PermissionSuperAdmin)
			tb := openTab(t, browserCtx, app, false)
			tb.allow("status of 422 (Unprocessable Entity) (at " + app.URL + "/admin/api-keys:")
			tb.login(adminEmail)

			tb.do("follow + New API Key to its page",
				chromedp.Click(chromedp.CSS(`[data-testid="new-api-key"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="new-api-key-page"]`)),
			)
			if location := get(tb, "read the location", chromedp.Location()); location != app.URL+"/admin/api-keys/new" {
				t.Errorf("location of the form: got %q, want %q", location, app.URL+"/admin/api-keys/new")
			}
			tb.do("submit the empty form",
				chromedp.Click(chromedp.CSS(`[data-testid="create-api-key"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="error-name"]`)),
			)
			if got, want := tb.text(`[data-testid="error-name"]`), "Enter a name for the key."; got != want {
				t.Errorf("message beside the empty name: got %q, want %q", got, want)
			}
			if total := storedKeys(t, app); total != 0 {
				t.Errorf("keys stored after an invalid form: got %d, want 0", total)
			}

			tb.do("fill and submit the form",
				chromedp.SendKeys(chromedp.CSS(`#api-key-name`), "Snowflake scanner"),
				chromedp.Click(chromedp.CSS(`input[name="scope"][value="scanner"]`)),
				chromedp.SetValue(chromedp.CSS(`select[name="expires_in"]`), "90d"),
				chromedp.Click(chromedp.CSS(`[data-testid="create-api-key"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="api-key-secret-page"]`)),
			)
			secret := get(tb, "read the secret", chromedp.Value(chromedp.CSS(`[data-testid="api-key-secret"]`)))
			if !secretPattern.MatchString(secret) {
				t.Fatalf("secret on the page: got %q, want it to match %s", secret, secretPattern)
			}
			formatted := get(tb, "read the formatted secret", chromedp.Value(chromedp.CSS(`[data-testid="api-key-secret-formatted"]`)))
			if want := `authentication { api-key { secret = "` + secret + `" } }`; formatted != want {
				t.Errorf("scanner configuration on the page: got %q, want %q", formatted, want)
			}
			publicID := tb.text(`[data-testid="api-key-public-id"]`)
			if n := eval[int](tb, "count visible copy buttons", `Array.from(document.querySelectorAll("[data-copy], [data-copy-text]")).filter(b => b.checkVisibility()).length`); n != 0 {
				t.Errorf("copy buttons shown without JavaScript: got %d, want 0 (they cannot work)", n)
			}
			if got := get(tb, "read the command", chromedp.Value(chromedp.CSS(`[data-testid="try-it"]`))); !strings.Contains(got, secret) || !strings.Contains(got, "/api/v1/auth/verify") {
				t.Errorf("Try it without JavaScript: got %q, want the curl command with the secret", got)
			}

			tb.do("go back to the list",
				chromedp.Click(chromedp.CSS(`[data-testid="back-to-list"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-key-id="`+publicID+`"]`)),
			)
			if html := get(tb, "read the page", chromedp.OuterHTML(chromedp.CSS(`html`))); strings.Contains(html, secret) {
				t.Errorf("the list page contains the secret")
			}
			if n := eval[int](tb, "count visible copy buttons", `Array.from(document.querySelectorAll("[data-copy-text]")).filter(b => b.checkVisibility()).length`); n != 0 {
				t.Errorf("key id copy buttons on the list without JavaScript: got %d, want 0 (they cannot work)", n)
			}
			if got, want := tb.text(`[data-testid="flash"]`), "API key “Snowflake scanner” created. It works through "; !strings.HasPrefix(got, want) {
				t.Errorf("notice on the list after the secret page: got %q, want %q…", got, want)
			}

			tb.openRowMenu(publicID)
			tb.do("follow Delete to its page",
				chromedp.Click(chromedp.CSS(`[data-key-id="`+publicID+`"] [data-testid="delete-api-key"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="delete-api-key-page"]`)),
			)
			if location := get(tb, "read the location", chromedp.Location()); !strings.HasPrefix(location, app.URL+"/admin/api-keys/"+publicID+"/delete") {
				t.Errorf("location of the delete page: got %q, want /admin/api-keys/%s/delete", location, publicID)
			}
			page := tb.text(`[data-testid="delete-api-key-page"]`)
			for _, want := range []string{"Snowflake scanner", models.ScopeScanner.Label(), "will no longer be able to connect"} {
				if !strings.Contains(page, want) {
					t.Errorf("delete page says %q, want it to mention %q", page, want)
				}
			}
			tb.do("confirm the delete",
				chromedp.Click(chromedp.CSS(`[data-testid="confirm-delete"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="flash"] .notice`)),
			)
			if location := get(tb, "read the location", chromedp.Location()); location != app.URL+"/admin/api-keys" {
				t.Errorf("location after deleting: got %q, want %q", location, app.URL+"/admin/api-keys")
			}
			if got := tb.text(`[data-testid="flash"]`); !strings.Contains(got, "Snowflake scanner") || !strings.Contains(got, "deleted") {
				t.Errorf("flash after deleting: got %q, want it to say the key was deleted", got)
			}
			if got, want := tb.text(`[data-testid="revocation-proof"][data-state="complete"] [data-testid="revocation-summary"]`), "Revoked on 1 of 1 instances in "; !strings.HasPrefix(got, want) {
				t.Errorf("proof of revocation after deleting: got %q, want %q…", got, want)
			}
			if n := tb.count(`[data-testid="api-key-row"]`); n != 0 {
				t.Errorf("rows after deleting the only key: got %d, want 0", n)
			}
			if n := tb.count(`[data-testid="api-key-empty"]`); n != 1 {
				t.Errorf("empty state after deleting the only key: got %d, want 1", n)
			}
			if _, err := app.Store.APIKeyByPublicID(context.Background(), publicID); !errors.Is(err, models.ErrAPIKeyNotFound) {
				t.Errorf("the deleted key is still stored: got %v, want ErrAPIKeyNotFound", err)
			}

			// The Scanners filter, which applies as it changes with JavaScript, has its Apply
			// button without it.
			tb.do("filter the Scanners page",
				chromedp.Click(chromedp.CSS(`[data-testid="nav-scanners"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="include-inactive"]`)),
				chromedp.Click(chromedp.CSS(`[data-testid="include-inactive"]`)),
				chromedp.Click(chromedp.CSS(`[data-testid="scanner-filter"] button`)),
				// The box comes back ticked by the server (an attribute), not only by the click.
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="include-inactive"][checked]`)),
			)
			if location := get(tb, "read the location", chromedp.Location()); location != app.URL+"/admin/scanners?include_inactive=1" {
				t.Errorf("location after Apply: got %q, want the filter in the address", location)
			}
		})
	}
}

// TestBrowserScannerKeyCopy checks that a Scanner key's copy button gives the scanner
// configuration fragment, not the header line, and that a secret copied by hand counts as
// copied.
func TestBrowserScannerKeyCopy(t *testing.T) {
	browserCtx := startBrowser(t)
	app := apptest.New(t, modelstest.Targets(t)[0])
	app.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
	tb := openTab(t, browserCtx, app, true)
	tb.grantClipboard()
	tb.login(adminEmail)

	key := tb.createKey("Snowflake scanner", models.ScopeScanner, "365d")
	if got, want := tb.text(`[data-testid="copy-formatted"]`), "Copy scanner configuration"; got != want {
		t.Errorf("copy button of a scanner key: got %q, want %q", got, want)
	}
	tb.copySecret("copy-formatted", "Copied the scanner configuration.")
	want := `authentication { api-key { secret = "` + key.secret + `" } }`
	if got := tb.clipboard(); got != want {
		t.Errorf("clipboard after copying a scanner key: got %q, want %q", got, want)
	}
	// Once copied, Done closes at once.
	tb.closeSecret()
	tb.checkSecretGone(key.secret)

	// Copied by hand, with Ctrl+C: the status says what, and the dialog closes without asking.
	other := tb.createKey("Oracle scanner", models.ScopeScanner, "365d")
	tb.do("select the secret only", chromedp.Focus(chromedp.CSS(`#secret-raw`)), chromedp.Evaluate[chromedp.Void](`document.getElementById("secret-raw").select()`))
	tb.pressCopy()
	tb.waitFor(`the copy status says "Copied the secret only."`, `document.querySelector("[data-testid=copy-status]").textContent === "Copied the secret only."`)
	if got := tb.clipboard(); got != other.secret {
		t.Errorf("clipboard after Ctrl+C on the secret: got %q, want %q", got, other.secret)
	}
	tb.do("press Escape", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotPresent(chromedp.CSS(`[data-testid="api-key-secret-dialog"]`)))
	tb.checkSecretGone(other.secret)
	tb.checkSecretGone(key.secret)
}

// createdKey is what the secret modal showed for a new key.
type createdKey struct {
	publicID, secret, formatted string
}

// setMarker puts a value on window that only survives as long as the page is not reloaded;
// from then on, checkMarker fails the test on a full reload.
func (tb *tab) setMarker() {
	tb.t.Helper()
	eval[chromedp.Void](tb, "set the page marker", `window.__marker = 1`)
	tb.marked = true
}

// checkMarker fails the test when the page was reloaded since setMarker.
func (tb *tab) checkMarker(when string) {
	tb.t.Helper()
	if !tb.marked {
		return
	}
	if !eval[bool](tb, "read the page marker", `window.__marker === 1`) {
		tb.t.Errorf("%s: the page was fully reloaded (the window marker is gone), want an in-place update", when)
	}
}

// openNewKeyDialog presses + New API Key and waits for the dialog htmx loads.
func (tb *tab) openNewKeyDialog() {
	tb.t.Helper()
	tb.do("open the New API Key dialog",
		chromedp.Click(chromedp.CSS(`[data-testid="new-api-key"]`)),
		chromedp.WaitVisible(chromedp.CSS(`dialog[open][data-testid="new-api-key-dialog"] #api-key-name`)),
	)
	if got := eval[bool](tb, "check focus", `document.activeElement === document.getElementById("api-key-name")`); !got {
		tb.t.Errorf("the New API Key dialog did not put focus on the name")
	}
	tb.checkMarker("after opening the New API Key dialog")
}

// createKey opens the New API Key dialog, fills it and returns what the secret modal shows.
func (tb *tab) createKey(name string, scope models.Scope, expiresIn string) createdKey {
	tb.t.Helper()
	tb.openNewKeyDialog()
	return tb.fillAndCreate(name, scope, expiresIn)
}

// fillAndCreate fills the open New API Key dialog, presses Create and reads the secret modal.
func (tb *tab) fillAndCreate(name string, scope models.Scope, expiresIn string) createdKey {
	tb.t.Helper()
	tb.do("type the name", chromedp.SendKeys(chromedp.CSS(`dialog[open] #api-key-name`), name))
	tb.do("choose the scope", chromedp.Click(chromedp.CSS(`dialog[open] input[name="scope"][value="`+string(scope)+`"]`)))
	tb.do("choose the expiry", chromedp.SetValue(chromedp.CSS(`dialog[open] select[name="expires_in"]`), expiresIn))
	tb.do("press Create",
		chromedp.Click(chromedp.CSS(`dialog[open] [data-testid="create-api-key"]`)),
		chromedp.WaitVisible(chromedp.CSS(`dialog[open][data-testid="api-key-secret-dialog"]`)),
	)
	tb.checkMarker("after creating a key")
	key := createdKey{
		publicID:  tb.text(`[data-testid="api-key-secret-dialog"] [data-testid="api-key-public-id"]`),
		secret:    get(tb, "read the secret", chromedp.Value(chromedp.CSS(`[data-testid="api-key-secret"]`))),
		formatted: get(tb, "read the formatted secret", chromedp.Value(chromedp.CSS(`[data-testid="api-key-secret-formatted"]`))),
	}
	if !secretPattern.MatchString(key.secret) {
		tb.t.Fatalf("secret in the modal: got %q, want it to match %s", key.secret, secretPattern)
	}
	if title := tb.text(`#secret-title`); !strings.Contains(title, name) {
		tb.t.Errorf("secret modal title: got %q, want it to name %q", title, name)
	}
	return key
}

// secretDialogOpen tells whether the secret modal is in the page and open.
func (tb *tab) secretDialogOpen() bool {
	tb.t.Helper()
	return eval[bool](tb, "check the secret modal", `(() => { const d = document.querySelector("[data-testid=api-key-secret-dialog]"); return d !== null && d.open; })()`)
}

// checkSecretGone fails the test if the secret is anywhere in the page: its markup, a form
// field's value, or the htmx history.
func (tb *tab) checkSecretGone(secret string) {
	tb.t.Helper()
	found := eval[[]string](tb, "look for the secret", fmt.Sprintf(`(() => {
		const secret = %q, found = [];
		if (document.documentElement.outerHTML.includes(secret)) found.push("markup");
		document.querySelectorAll("input, textarea").forEach(f => { if (f.value.includes(secret)) found.push("field " + (f.id || f.name)); });
		for (let i = 0; i < localStorage.length; i++) {
			if (localStorage.getItem(localStorage.key(i)).includes(secret)) found.push("localStorage " + localStorage.key(i));
		}
		for (let i = 0; i < sessionStorage.length; i++) {
			if (sessionStorage.getItem(sessionStorage.key(i)).includes(secret)) found.push("sessionStorage " + sessionStorage.key(i));
		}
		return found;
	})()`, secret))
	if len(found) > 0 {
		tb.t.Errorf("after the modal closed, the secret is still in the page: %q", found)
	}
}

// clearSearch empties the search box the way a person does, with the keyboard.
func (tb *tab) clearSearch() {
	tb.t.Helper()
	tb.do("clear the search box",
		chromedp.Focus(chromedp.CSS(`input[name="q"]`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('input[name="q"]').select()`),
		chromedp.KeyEvent(kb.Backspace),
	)
}

// settle waits past the search debounce until htmx has no request in flight, so the next
// click lands on the list as it will stay.
func (tb *tab) settle() {
	tb.t.Helper()
	tb.do("wait past the search debounce", chromedp.Sleep(400*time.Millisecond))
	tb.waitFor("no htmx request is in flight", `document.querySelector(".htmx-request") === null`)
}

// watchListRequests records the list requests the page sends from now on; the returned
// func gives their URLs so far.
func (tb *tab) watchListRequests() func() []string {
	ctx, cancel := context.WithCancel(tb.ctx)
	tb.t.Cleanup(cancel)
	events := chromedp.Events(ctx, network.RequestWillBeSent)
	var mu sync.Mutex
	var urls []string
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			u, err := url.Parse(ev.Request.URL)
			if err != nil || u.Path != "/admin/api-keys" || ev.Request.Method != "GET" {
				continue
			}
			mu.Lock()
			urls = append(urls, u.RequestURI())
			mu.Unlock()
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), urls...)
	}
}

// storedKeys counts the keys in the app's database.
func storedKeys(t *testing.T, app *apptest.App) int64 {
	t.Helper()
	page, err := app.Store.ListAPIKeys(context.Background(), models.APIKeyQuery{Page: 1, PerPage: 1})
	if err != nil {
		t.Fatalf("count keys: %v", err)
	}
	return page.Total
}

// seedRealisticKeys fills the list the way a catalog a few months into production looks:
// keys of every scope and status, some recently used. It returns the keys by name.
func seedRealisticKeys(t *testing.T, app *apptest.App, creatorID int64) map[string]*models.APIKey {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	days := func(n int) time.Time { return now.AddDate(0, 0, n) }
	seeds := []struct {
		name      string
		scope     models.Scope
		createdAt time.Time
		expiresAt *time.Time
		lastUsed  time.Duration // 0: never used
		client    string
	}{
		{"Legacy Tableau extract", models.ScopeReadOnly, days(-200), new(days(-20)), 0, ""},
		{"BI gateway", models.ScopeReadOnly, days(-120), nil, 4 * time.Minute, "envoy/1.31 ext_authz"},
		{"Snowflake scanner", models.ScopeScanner, days(-95), new(days(85)), 3 * time.Hour, "snowflake-prod"},
		{"dbt docs publisher", models.ScopeManageDocumentation, days(-87), new(days(3)), 26 * time.Hour, "dbt-cloud/1.8"},
		{"Nightly lineage export", models.ScopeManageDocumentation, days(-40), new(days(140)), 9 * time.Hour, "lineage-export/2.3 (python-requests)"},
		{"Metamodel migration", models.ScopeAdmin, days(-2), new(days(5)), 0, ""},
	}
	keys := map[string]*models.APIKey{}
	for _, seed := range seeds {
		app.Store.SetClock(func() time.Time { return seed.createdAt })
		key, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: seed.name, Scope: seed.scope, ExpiresAt: seed.expiresAt, CreatedByID: &creatorID})
		if err != nil {
			t.Fatalf("seed %q: %v", seed.name, err)
		}
		keys[seed.name] = key
		if seed.lastUsed > 0 {
			use := models.APIKeyUse{APIKeyID: key.ID, At: now.Add(-seed.lastUsed), IP: "10.20.3.14", Client: seed.client, Scanner: seed.scope == models.ScopeScanner}
			if err := app.Store.RecordAPIKeyUses(ctx, []models.APIKeyUse{use}, nil); err != nil {
				t.Fatalf("seed a use of %q: %v", seed.name, err)
			}
		}
	}
	app.Store.SetClock(time.Now)
	return keys
}
