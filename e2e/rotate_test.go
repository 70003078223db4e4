package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// TestBrowserRotateAndCopy rotates a key from the list with JavaScript on: the rotate dialog,
// the new secret in the same one-time modal as creation, copied to the clipboard, and the row
// saying that the previous secret still works, all without a full page reload.
func TestBrowserRotateAndCopy(t *testing.T) {
	browserCtx := startBrowser(t)
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			app := apptest.New(t, target)
			app.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
			tb := openTab(t, browserCtx, app, true)
			tb.grantClipboard()
			tb.login(adminEmail)
			old := tb.createKey("Nightly lineage export", models.ScopeManageDocumentation, "30d")
			tb.copySecret("copy-formatted", "Copied the header line.")
			tb.closeSecret()
			tb.setMarker()

			tb.openRowMenu(old.publicID)
			tb.do("open the rotate dialog",
				chromedp.Click(chromedp.CSS(`[data-key-id="`+old.publicID+`"] [data-testid="rotate-api-key"]`)),
				chromedp.WaitVisible(chromedp.CSS(`dialog[open][data-testid="rotate-api-key-dialog"]`)),
			)
			tb.do("choose until unused and 90 days",
				chromedp.Click(chromedp.CSS(`dialog[open] input[name="grace"][value="until-unused"]`)),
				chromedp.SetValue(chromedp.CSS(`dialog[open] select[name="expires_in"]`), "90d"),
			)
			tb.do("press Rotate",
				chromedp.Click(chromedp.CSS(`dialog[open] [data-testid="confirm-rotate"]`)),
				chromedp.WaitVisible(chromedp.CSS(`dialog[open][data-testid="api-key-secret-dialog"]`)),
			)
			tb.checkMarker("after rotating")
			secret := get(tb, "read the new secret", chromedp.Value(chromedp.CSS(`[data-testid="api-key-secret"]`)))
			if !secretPattern.MatchString(secret) || secret == old.secret {
				t.Fatalf("secret in the modal: got %q, want a new secret", secret)
			}
			if got, want := tb.text(`#secret-title`), "API key “Nightly lineage export” rotated"; got != want {
				t.Errorf("modal title: got %q, want %q", got, want)
			}
			if got := tb.text(`[data-testid="api-key-public-id"]`); got != old.publicID {
				t.Errorf("key id in the modal: got %q, want %q (the key keeps its id)", got, old.publicID)
			}
			if got := tb.text(`[data-testid="rotated-grace"]`); !strings.Contains(got, "until unused for 1 hour") {
				t.Errorf("grace in the modal: got %q, want it to say until unused for 1 hour", got)
			}

			tb.copySecret("copy-formatted", "Copied the header line.")
			if got, want := tb.clipboard(), "X-API-SECRET: "+secret; got != want {
				t.Errorf("clipboard after copy: got %q, want %q", got, want)
			}
			tb.closeSecret()
			tb.checkMarker("after closing the modal")
			tb.checkSecretGone(secret)
			if got := tb.rowIDs(); len(got) != 1 || got[0] != old.publicID {
				t.Errorf("rows after rotating: got %q, want [%q]", got, old.publicID)
			}
			if got := tb.text(`[data-key-id="` + old.publicID + `"] [data-testid="rotating-note"]`); !strings.Contains(got, "rotating: previous secret works until unused for 1 hour") {
				t.Errorf("row after rotating: got %q, want it to say the previous secret works until unused for 1 hour", got)
			}
			for _, s := range []string{old.secret, secret} {
				if got := apiStatus(t, app, s); got != http.StatusOK {
					t.Errorf("secret %s after the rotation: status %d, want %d", models.SecretHint(s), got, http.StatusOK)
				}
			}
		})
	}
}

// TestBrowserRotateWithoutJavaScript rotates a key without a grace through the plain pages:
// the row's link to the rotate page, the new secret on a page of its own, back to the list.
func TestBrowserRotateWithoutJavaScript(t *testing.T) {
	browserCtx := startBrowser(t)
	app := apptest.New(t, modelstest.Targets(t)[0])
	app.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
	key, oldSecret, err := app.Store.CreateAPIKey(t.Context(), models.NewAPIKey{Name: "Snowflake scanner", Scope: models.ScopeScanner})
	if err != nil {
		t.Fatal(err)
	}
	tb := openTab(t, browserCtx, app, false)
	tb.login(adminEmail)
	tb.openRowMenu(key.PublicID)
	tb.do("follow Rotate to its page",
		chromedp.Click(chromedp.CSS(`[data-key-id="`+key.PublicID+`"] [data-testid="rotate-api-key"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="rotate-api-key-page"]`)),
	)
	tb.do("rotate without a grace",
		chromedp.Click(chromedp.CSS(`input[name="grace"][value="0"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="confirm-rotate"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="api-key-secret-page"]`)),
	)
	secret := get(tb, "read the new secret", chromedp.Value(chromedp.CSS(`[data-testid="api-key-secret"]`)))
	formatted := get(tb, "read the formatted secret", chromedp.Value(chromedp.CSS(`[data-testid="api-key-secret-formatted"]`)))
	if want := models.ScopeScanner.CopyFormat(secret); formatted != want {
		t.Errorf("scanner configuration on the page: got %q, want %q", formatted, want)
	}
	if got, want := tb.text(`[data-testid="rotated-grace"]`), "The previous secret is refused at once by this instance and by every instance within a second."; got != want {
		t.Errorf("grace on the page: got %q, want %q", got, want)
	}
	tb.do("go back to the list",
		chromedp.Click(chromedp.CSS(`[data-testid="back-to-list"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-key-id="`+key.PublicID+`"]`)),
	)
	if got := apiStatus(t, app, oldSecret); got != http.StatusUnauthorized {
		t.Errorf("old secret after a rotation without grace: status %d, want %d", got, http.StatusUnauthorized)
	}
	if got := apiStatus(t, app, secret); got != http.StatusOK {
		t.Errorf("new secret: status %d, want %d", got, http.StatusOK)
	}
}

// apiStatus asks the app's gateway endpoint about secret and returns the status code.
func apiStatus(t *testing.T, app *apptest.App, secret string) int {
	t.Helper()
	res := app.Client(t).Do(http.MethodGet, "/api/v1/auth/verify", nil, map[string]string{"X-API-SECRET": secret})
	return res.StatusCode
}

// TestBrowserRotatedMeanwhile opens the rotate dialog, lets another administrator rotate the
// key first, then presses Rotate: the dialog gives way to one saying who rotated the key, with
// no secret, and the other administrator's secret keeps working.
func TestBrowserRotatedMeanwhile(t *testing.T) {
	browserCtx := startBrowser(t)
	app := apptest.New(t, modelstest.Targets(t)[0])
	app.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
	key, _, err := app.Store.CreateAPIKey(t.Context(), models.NewAPIKey{Name: "Shared export", Scope: models.ScopeReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	tb := openTab(t, browserCtx, app, true)
	// The browser logs the 409 with which htmx gets the dialog that explains it.
	tb.allow("status of 409")
	tb.login(adminEmail)
	tb.openRowMenu(key.PublicID)
	tb.do("open the rotate dialog",
		chromedp.Click(chromedp.CSS(`[data-key-id="`+key.PublicID+`"] [data-testid="rotate-api-key"]`)),
		chromedp.WaitVisible(chromedp.CSS(`dialog[open][data-testid="rotate-api-key-dialog"]`)),
	)
	other := models.WithAuditActor(t.Context(), models.AuditActor{Type: models.ActorCLI, Label: "ops"})
	_, winner, err := app.Store.RotateAPIKey(other, key.PublicID, models.Rotation{Grace: models.GraceNone})
	if err != nil {
		t.Fatal(err)
	}
	tb.do("press Rotate",
		chromedp.Click(chromedp.CSS(`dialog[open] input[name="grace"][value="0"]`)),
		chromedp.Click(chromedp.CSS(`dialog[open] [data-testid="confirm-rotate"]`)),
		chromedp.WaitVisible(chromedp.CSS(`dialog[open][data-testid="rotated-meanwhile-dialog"]`)),
	)
	if got := tb.text(`[data-testid="rotated-by"]`); got != "the command line (ops)" {
		t.Errorf("rotated by: got %q, want %q", got, "the command line (ops)")
	}
	if n := eval[int](tb, "count secrets on the page", `document.querySelectorAll("[data-testid=api-key-secret]").length`); n != 0 {
		t.Errorf("secrets shown after the refused rotation: %d, want none", n)
	}
	if got := apiStatus(t, app, winner); got != http.StatusOK {
		t.Errorf("the other rotation's secret: status %d, want %d", got, http.StatusOK)
	}
}

// TestBrowserRotateFromTheKeyPage opens the one rotate dialog from the key page: the same as
// the list's, until unused chosen first and None last, on a laptop and a phone; without
// JavaScript its page, whose Cancel comes back to the key page.
func TestBrowserRotateFromTheKeyPage(t *testing.T) {
	browserCtx := startBrowser(t)
	app := apptest.New(t, modelstest.Targets(t)[0])
	app.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
	key, oldSecret, err := app.Store.CreateAPIKey(t.Context(), models.NewAPIKey{Name: "Nightly lineage export", Scope: models.ScopeReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	keyPage := app.URL + "/admin/api-keys/" + key.PublicID
	rotate := `[data-testid="api-key-page"] [data-testid="rotate-api-key"]`

	tb := openTab(t, browserCtx, app, true)
	tb.grantClipboard()
	tb.login(adminEmail)
	tb.do("open the key page", chromedp.Navigate(keyPage), chromedp.WaitVisible(chromedp.CSS(`[data-testid="api-key-page"]`)))
	for _, s := range []screen{{name: "laptop", width: 1280, height: 860}, {name: "phone", width: 390, height: 844, phone: true}} {
		tb.useScreen(s)
		tb.checkClickable(s.name, rotate)
	}
	tb.useScreen(screens[0])
	tb.do("press Rotate secret", chromedp.Click(chromedp.CSS(rotate)), chromedp.WaitVisible(chromedp.CSS(`dialog[open][data-testid="rotate-api-key-dialog"]`)))
	graces := eval[string](tb, "read the graces", `Array.from(document.querySelectorAll("dialog[open] input[name=grace]"), g => g.value + (g.checked ? "*" : "")).join(" ")`)
	if want := "until-unused* 1h 24h 7d 0"; graces != want {
		t.Errorf("grace choices (* chosen): got %q, want %q", graces, want)
	}
	if got := tb.text(`dialog[open] [data-testid="confirm-rotate"]`); got != "Rotate secret" {
		t.Errorf("the dialog's button: got %q, want %q", got, "Rotate secret")
	}
	tb.do("press Rotate secret in the dialog",
		chromedp.Click(chromedp.CSS(`dialog[open] [data-testid="confirm-rotate"]`)),
		chromedp.WaitVisible(chromedp.CSS(`dialog[open][data-testid="api-key-secret-dialog"]`)),
	)
	if got := tb.text(`[data-testid="rotated-grace"]`); !strings.Contains(got, "until unused for 1 hour") {
		t.Errorf("grace in the modal: got %q, want it to say until unused for 1 hour", got)
	}
	if got := apiStatus(t, app, oldSecret); got != http.StatusOK {
		t.Errorf("the current secret during the grace: status %d, want %d", got, http.StatusOK)
	}
	tb.copySecret("copy-formatted", "Copied the header line.")
	tb.closeSecret()
	tb.waitFor("the key page shows the key rotating", `document.querySelector("[data-testid=api-key-page] [data-testid=status-badge]")?.dataset.status === "rotating"`)

	plain := openTab(t, browserCtx, app, false)
	plain.login(adminEmail)
	plain.do("open the key page", chromedp.Navigate(keyPage), chromedp.WaitVisible(chromedp.CSS(`[data-testid="api-key-page"]`)))
	plain.do("follow Rotate secret", chromedp.Click(chromedp.CSS(rotate)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="rotate-api-key-page"]`)))
	plain.do("press Cancel", chromedp.Click(chromedp.CSS(`[data-testid="rotate-api-key-page"] a.secondary[role="button"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="api-key-page"]`)))
	if location := get(plain, "read the location", chromedp.Location()); location != keyPage {
		t.Errorf("Cancel on the rotate page opened from the key page went to %q, want %q", location, keyPage)
	}
}
