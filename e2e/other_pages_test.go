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

// TestBrowserEndOtherSessions: a user with the longest name and a second browser signed in
// finds End all other sessions on Your account on a laptop and a phone, with and without
// JavaScript; pressing it signs the other browser out and says so.
func TestBrowserEndOtherSessions(t *testing.T) {
	browserCtx := startBrowser(t)
	for _, javascript := range []bool{true, false} {
		t.Run(fmt.Sprintf("javascript=%v", javascript), func(t *testing.T) {
			app := apptest.New(t, modelstest.Targets(t)[0])
			name := ("ada " + strings.Repeat("Maximilian Alexander ", 5))[:100]
			if _, err := app.Store.CreateUser(context.Background(), models.NewUser{Email: adminEmail, Name: name, Password: apptest.DefaultPassword, Permission: models.PermissionSuperAdmin}); err != nil {
				t.Fatal(err)
			}
			other := app.Client(t)
			other.Login(adminEmail)
			tb := openTab(t, browserCtx, app, javascript)
			tb.login(adminEmail)
			tb.do("open Your account", chromedp.Navigate(app.URL+"/account"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="session-list"]`)))
			for _, s := range ownershipScreens {
				tb.useScreen(s)
				tb.check("Your account", s, javascript)
				if why := tb.reachable(`[data-testid="end-other-sessions"]`); why != "" {
					t.Errorf("%s: End all other sessions cannot be clicked: %s", s.name, why)
				}
			}
			tb.do("end all other sessions", chromedp.Click(chromedp.CSS(`[data-testid="end-other-sessions"]`)))
			tb.afterNavigation("the notice says one ended", `(document.querySelector('[data-testid="flash"]') || {}).textContent?.includes("1 other session ended") || false`)
			if res := other.Get("/account"); res.StatusCode != 303 {
				t.Errorf("the other browser: GET /account status %d, want 303 to the sign-in page", res.StatusCode)
			}
			if n := tb.count(`[data-testid="end-other-sessions"]`); n != 0 {
				t.Errorf("End all other sessions still offered with no other session")
			}
		})
	}
}

// TestBrowserAccessDeniedLeadsBack: on a laptop and a phone, with and without JavaScript, the
// 403 page's primary button (Go to the first page the user may open) and its secondary action
// (Sign in as someone else) are on screen and clickable, and the primary one leads there.
func TestBrowserAccessDeniedLeadsBack(t *testing.T) {
	browserCtx := startBrowser(t)
	for _, javascript := range []bool{true, false} {
		t.Run(fmt.Sprintf("javascript=%v", javascript), func(t *testing.T) {
			app := apptest.New(t, modelstest.Targets(t)[0])
			app.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
			tb := openTab(t, browserCtx, app, javascript)
			tb.login(adminEmail)
			tb.allow("status of 403 (Forbidden) (at " + app.URL + "/admin/users:")
			tb.do("open Users, which a Connectivity admin may not", chromedp.Navigate(app.URL+"/admin/users"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="error-page"]`)))
			for _, s := range ownershipScreens {
				tb.useScreen(s)
				tb.check("the 403 page", s, javascript)
				for _, control := range []string{`[data-testid="error-home"]`, `[data-testid="error-page"] [data-testid="sign-out"]`} {
					if why := tb.reachable(control); why != "" {
						t.Errorf("%s: %s cannot be clicked: %s", s.name, control, why)
					}
				}
			}
			if got := strings.TrimSpace(tb.text(`[data-testid="error-home"]`)); got != "Go to API Keys" {
				t.Errorf("the primary button says %q, want Go to API Keys", got)
			}
			tb.do("go back to work", chromedp.Click(chromedp.CSS(`[data-testid="error-home"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="new-api-key"]`)))
		})
	}
}

// TestBrowserShortcuts: on the keys list, "/" puts the focus in the search box and "n" opens
// New API Key; typed in the search box or a menu, with Ctrl or Alt held, or on a page without
// them, they do nothing but what the key does there. Both controls name their key.
func TestBrowserShortcuts(t *testing.T) {
	browserCtx := startBrowser(t)
	app := apptest.New(t, modelstest.Targets(t)[0])
	app.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
	tb := openTab(t, browserCtx, app, true)
	tb.login(adminEmail)
	tb.useScreen(ownershipScreens[0])
	search := `form[role="search"] input[type="search"]`
	hints := eval[[]string](tb, "read the hints", `[
		document.querySelector('`+search+`').getAttribute("aria-keyshortcuts"), document.querySelector('`+search+`').title,
		document.querySelector('[data-testid="new-api-key"]').getAttribute("aria-keyshortcuts"), document.querySelector('[data-testid="new-api-key"]').title]`)
	if hints[0] != "/" || !strings.Contains(hints[1], "press /") || hints[2] != "n" || !strings.Contains(hints[3], "press n") {
		t.Errorf("the shortcuts' hints: got %q, want / and n named on the search box and New API Key", hints)
	}
	nothing := func(what string) {
		t.Helper()
		tb.do("give "+what+" time to act", chromedp.Sleep(300*time.Millisecond))
		if n := tb.count(`dialog[open]`); n != 0 {
			t.Errorf("%s opened a dialog", what)
		}
	}
	blur := func() { eval[chromedp.Void](tb, "leave the focus nowhere", `document.activeElement.blur()`) }

	blur()
	tb.press("press /", "/")
	if !eval[bool](tb, "check the focus", `document.activeElement.matches('`+search+`') && document.activeElement.value === ""`) {
		t.Fatalf("after /, the focus is on %s, want the empty search box", tb.focused())
	}
	tb.press("type n and / in the search box", "n/")
	nothing("n typed in the search box")
	if got := eval[string](tb, "read the search", `document.querySelector('`+search+`').value`); got != "n/" {
		t.Errorf("typed in the search box: got %q, want n/", got)
	}
	tb.do("open the list afresh", chromedp.Navigate(app.URL+"/admin/api-keys"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="new-api-key"]`)))
	eval[chromedp.Void](tb, "focus the status menu", `document.querySelector('[data-testid="status-filter"]').focus()`)
	tb.press("press n and / in the status menu", "n/")
	nothing("n in the status menu")
	if !eval[bool](tb, "check the focus", `document.activeElement.matches('[data-testid="status-filter"]')`) {
		t.Errorf("/ in the status menu moved the focus to %s", tb.focused())
	}
	blur()
	tb.press("press Alt+n", "n", chromedp.KeyModifiers(chromedp.ModifierAlt))
	tb.press("press Ctrl+n", "n", chromedp.KeyModifiers(chromedp.ModifierCtrl))
	tb.press("press Ctrl+/", "/", chromedp.KeyModifiers(chromedp.ModifierCtrl))
	nothing("n with a modifier")
	if eval[bool](tb, "check the focus", `document.activeElement.matches('`+search+`')`) {
		t.Errorf("Ctrl+/ put the focus in the search box")
	}
	tb.press("press n", "n")
	tb.waitFor("New API Key opens", `document.querySelector('[data-testid="new-api-key-dialog"][open]') !== null`)
	tb.press("press / in the dialog's name field", "/")
	if eval[bool](tb, "check the focus", `document.activeElement.matches('`+search+`')`) {
		t.Errorf("/ in the open dialog put the focus in the search box")
	}

	tb.do("open Scanners", chromedp.Navigate(app.URL+"/admin/scanners"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="scanner-list"]`)))
	blur()
	tb.press("press / and n on Scanners", "/n")
	nothing("/ and n on a page without them")
}

// TestBrowserUsersAddAndPermission: with the longest names, on a laptop and a phone, Add user
// sits at the top of Users and each permission menu is on screen and clickable. With
// JavaScript, Add user opens a dialog and a permission chosen from the menu asks to be
// confirmed in one (cancelled: nothing changes and the menu shows the permission the user
// has); without it, Add user is a page and the menu's Change… button opens the confirmation.
func TestBrowserUsersAddAndPermission(t *testing.T) {
	browserCtx := startBrowser(t)
	for _, javascript := range []bool{true, false} {
		t.Run(fmt.Sprintf("javascript=%v", javascript), func(t *testing.T) {
			app := apptest.New(t, modelstest.Targets(t)[0])
			app.CreateUser(t, adminEmail, models.PermissionSuperAdmin)
			name := strings.Repeat("Grace Brewster Murray Hopper ", 4)[:100]
			user, err := app.Store.CreateUser(context.Background(), models.NewUser{Email: strings.Repeat("g", 60) + "@example.com", Name: name, Password: apptest.DefaultPassword, Permission: models.PermissionConnectivityAdmin})
			if err != nil {
				t.Fatal(err)
			}
			row := fmt.Sprintf(`[data-testid="user-row"][data-user-id="%d"]`, user.ID)
			menu := row + ` [data-testid="permission-select"]`
			tb := openTab(t, browserCtx, app, javascript)
			tb.login(adminEmail)
			tb.do("open Users", chromedp.Navigate(app.URL+"/admin/users"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="add-user-button"]`)))
			for _, s := range ownershipScreens {
				tb.useScreen(s)
				tb.check("Users", s, javascript)
				controls := []string{`[data-testid="add-user-button"]`, menu}
				if !javascript {
					controls = append(controls, row+` [data-testid="change-permission"]`)
				}
				for _, control := range controls {
					if why := tb.reachable(control); why != "" {
						t.Errorf("%s: %s cannot be clicked: %s", s.name, control, why)
					}
				}
				if top := eval[bool](tb, "compare Add user with the list", `document.querySelector('[data-testid="add-user-button"]').getBoundingClientRect().top < document.querySelector('[data-testid="user-list"]').getBoundingClientRect().top`); !top {
					t.Errorf("%s: Add user is not above the list", s.name)
				}
			}
			tb.useScreen(ownershipScreens[2])
			if javascript {
				tb.do("open Add user", chromedp.Click(chromedp.CSS(`[data-testid="add-user-button"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="add-user-dialog"] #user-email`)))
				tb.check("Add user open", ownershipScreens[2], javascript)
				if why := tb.reachable(`[data-testid="add-user-submit"]`); why != "" {
					t.Errorf("Add user on a phone: the submit button cannot be clicked: %s", why)
				}
				tb.press("press Escape", "\x1b")
				tb.waitFor("the dialog closes", `document.querySelector("dialog[open]") === null`)

				tb.do("choose Super admin from the menu", chromedp.SetValue(chromedp.CSS(menu), string(models.PermissionSuperAdmin)))
				eval[chromedp.Void](tb, "tell the page the menu changed", `document.querySelector('`+menu+`').dispatchEvent(new Event("change", {bubbles: true}))`)
				tb.waitFor("the confirmation opens", `document.querySelector('[data-testid="permission-dialog"][open]') !== null`)
				tb.check("the permission confirmation", ownershipScreens[2], javascript)
				if got := eval[string](tb, "read the menu", `document.querySelector('`+menu+`').value`); got != string(models.PermissionConnectivityAdmin) {
					t.Errorf("while asking, the menu shows %q, want the permission the user has", got)
				}
				for _, control := range []string{`[data-testid="confirm-permission"]`, `[data-testid="permission-dialog"] [data-close-dialog].secondary`} {
					if why := tb.reachable(control); why != "" {
						t.Errorf("the confirmation on a phone: %s cannot be clicked: %s", control, why)
					}
				}
				tb.do("cancel", chromedp.Click(chromedp.CSS(`[data-testid="permission-dialog"] [data-close-dialog].secondary`)))
				tb.waitFor("the dialog closes", `document.querySelector("dialog[open]") === null`)
				if u, _ := app.Store.UserByID(context.Background(), user.ID); u.Permission != models.PermissionConnectivityAdmin {
					t.Errorf("a cancelled change gave %s", u.Permission)
				}
				tb.do("choose Super admin again", chromedp.SetValue(chromedp.CSS(menu), string(models.PermissionSuperAdmin)))
				eval[chromedp.Void](tb, "tell the page the menu changed", `document.querySelector('`+menu+`').dispatchEvent(new Event("change", {bubbles: true}))`)
				tb.waitFor("the confirmation opens", `document.querySelector('[data-testid="permission-dialog"][open]') !== null`)
			} else {
				tb.do("open Add user", chromedp.Click(chromedp.CSS(`[data-testid="add-user-button"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="add-user"] #user-email`)))
				tb.check("the Add user page", ownershipScreens[2], javascript)
				tb.do("back to Users", chromedp.Navigate(app.URL+"/admin/users"), chromedp.WaitVisible(chromedp.CSS(menu)))
				tb.do("choose Super admin and press Change…",
					chromedp.SetValue(chromedp.CSS(menu), string(models.PermissionSuperAdmin)),
					chromedp.Click(chromedp.CSS(row+` [data-testid="change-permission"]`)),
					chromedp.WaitVisible(chromedp.CSS(`[data-testid="permission-page"]`)),
				)
				tb.check("the confirmation page", ownershipScreens[2], javascript)
			}
			if why := tb.reachable(`[data-testid="confirm-permission"]`); why != "" {
				t.Errorf("the confirmation: Give Super admin cannot be clicked: %s", why)
			}
			tb.do("confirm", chromedp.Click(chromedp.CSS(`[data-testid="confirm-permission"]`)))
			tb.afterNavigation("the notice says it changed", `(document.querySelector('[data-testid="flash"]') || {}).textContent?.includes("now has the") || false`)
			if u, _ := app.Store.UserByID(context.Background(), user.ID); u.Permission != models.PermissionSuperAdmin {
				t.Errorf("after confirming: %s, want super-admin", u.Permission)
			}
		})
	}
}
