package e2e

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// TestBrowserUserLifecycle: a Super admin adds a user from Administration › Users; the new
// user opens the one-time link, chooses a password and signs in with it; the admin disables
// them, and the user's next click lands on the sign-in page.
func TestBrowserUserLifecycle(t *testing.T) {
	browserCtx := startBrowser(t)
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			app := apptest.New(t, target)
			app.CreateUser(t, adminEmail, models.PermissionSuperAdmin)
			admin := openTab(t, browserCtx, app, true)
			admin.login(adminEmail)
			admin.do("open Administration › Users from the navigation, then Add user",
				chromedp.Click(chromedp.CSS(`[data-testid="nav-users"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="add-user-button"]`)),
				chromedp.Click(chromedp.CSS(`[data-testid="add-user-button"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="add-user-dialog"] [data-testid="add-user-form"]`)),
			)
			admin.do("add a user",
				chromedp.SendKeys(chromedp.CSS(`#user-email`), "grace@example.com"),
				chromedp.SendKeys(chromedp.CSS(`#user-name`), "Grace Hopper"),
				chromedp.SetValue(chromedp.CSS(`#user-permission`), string(models.PermissionConnectivityAdmin)),
				chromedp.Click(chromedp.CSS(`[data-testid="add-user-submit"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-link"]`)),
			)
			link := get(admin, "read the one-time link", chromedp.Value(chromedp.CSS(`[data-testid="user-link"]`)))
			u, err := url.Parse(link)
			if err != nil || u.Path != "/set-password" || u.Query().Get("token") == "" {
				t.Fatalf("one-time link %q, want /set-password?token=…", link)
			}
			grace, err := app.Store.UserByEmail(t.Context(), "grace@example.com")
			if err != nil {
				t.Fatal(err)
			}
			row := `[data-testid="user-row"][data-user-id="` + strconv.FormatInt(grace.ID, 10) + `"]`

			user := openTab(t, browserCtx, app, true)
			const password = "grace's own long password"
			user.do("open the link and choose a password",
				chromedp.Navigate(app.URL+u.RequestURI()),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="set-password-form"]`)),
				chromedp.SendKeys(chromedp.CSS(`#new-password`), password),
				chromedp.SendKeys(chromedp.CSS(`#new-password-confirm`), password),
				chromedp.Click(chromedp.CSS(`[data-testid="set-password-submit"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
			)
			if got := user.text(`[data-testid="flash"]`); !strings.Contains(got, "password is set") {
				t.Errorf("notice after choosing the password: got %q", got)
			}
			user.do("sign in with it",
				chromedp.SendKeys(chromedp.CSS(`#email`), "grace@example.com"),
				chromedp.SendKeys(chromedp.CSS(`#password`), password),
				chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="new-api-key"]`)),
			)
			if got := user.text(`[data-testid="nav-account"]`); got != "Grace Hopper" {
				t.Errorf("signed-in user: got %q, want Grace Hopper", got)
			}

			admin.do("back to Users", chromedp.Click(chromedp.CSS(`[data-testid="back-to-users"]`)), chromedp.WaitVisible(chromedp.CSS(row)))
			admin.waitFor("the new user is active", `document.querySelector('`+row+`').dataset.status === "active"`)
			admin.do("disable the user",
				chromedp.Click(chromedp.CSS(row+` [data-testid="disable-user"]`)),
				chromedp.WaitVisible(chromedp.CSS(row+`[data-status="disabled"] [data-testid="enable-user"]`)),
			)
			if got := admin.text(`[data-testid="flash"]`); !strings.Contains(got, "Grace Hopper disabled") {
				t.Errorf("notice after disabling: got %q", got)
			}

			user.do("click to Your account", chromedp.Click(chromedp.CSS(`[data-testid="nav-account"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)))
			if location := get(user, "read the location", chromedp.Location()); !strings.Contains(location, "/login?next=%2Faccount") {
				t.Errorf("the disabled user's click went to %q, want the sign-in page", location)
			}

			admin.do("open the audit log filtered by the new user",
				chromedp.Click(chromedp.CSS(`[data-testid="nav-audit-log"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-log-filters"]`)),
				chromedp.SendKeys(chromedp.CSS(`#audit-log-filters input[name="user"]`), "grace@example.com"),
				chromedp.Submit(chromedp.CSS(`#audit-log-filters input[name="user"]`)),
				// The value attribute is the server's: typing sets the property alone.
				chromedp.WaitVisible(chromedp.CSS(`#audit-log-filters input[name="user"][value="grace@example.com"]`)),
			)
			actions := eval[[]string](admin, "read the audit log's actions",
				`[...document.querySelectorAll('[data-testid="audit-event"]')].map(row => row.dataset.action)`)
			want := []string{models.AuditSessionEnded, models.AuditUserDisabled, models.AuditSignedIn, models.AuditUserActivated, models.AuditUserCreated}
			if !slices.Equal(actions, want) {
				t.Errorf("the audit log of grace@example.com, newest first: got %q, want %q", actions, want)
			}
		})
	}
}
