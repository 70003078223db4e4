package integration

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

const rootEmail = "root@example.com"

// eachSuperAdmin runs fn against a fresh server per database, with a Super admin signed in.
func eachSuperAdmin(t *testing.T, fn func(t *testing.T, app *apptest.App, root *apptest.Client, rootUser *models.User)) {
	t.Helper()
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			app := apptest.New(t, target)
			user := app.CreateUser(t, rootEmail, models.PermissionSuperAdmin)
			root := app.Client(t)
			root.Login(rootEmail)
			root.Get("/admin/users")
			fn(t, app, root, user)
		})
	}
}

// userRow returns the Users page's row of the user with that id.
func userRow(t *testing.T, body string, id int64) *goquery.Selection {
	t.Helper()
	return doc(t, body).Find(`[data-testid="user-row"][data-user-id="` + strconv.FormatInt(id, 10) + `"]`)
}

// userPath is the address of an action on a user.
func userPath(id int64, action string) string {
	return "/admin/users/" + strconv.FormatInt(id, 10) + "/" + action
}

// signedIn tells whether client is signed in: Your account opens rather than sending it to
// the sign-in page.
func signedIn(t *testing.T, client *apptest.Client) bool {
	t.Helper()
	res := client.Get("/account")
	switch res.StatusCode {
	case http.StatusOK:
		return true
	case http.StatusSeeOther:
		if !strings.HasPrefix(res.Header.Get("Location"), "/login") {
			t.Fatalf("GET /account: redirect to %q, want the sign-in page", res.Header.Get("Location"))
		}
		return false
	}
	t.Fatalf("GET /account: status %d", res.StatusCode)
	return false
}

// linkPath returns the path and query of the one-time link shown on a page, and its token.
func linkPath(t *testing.T, body string) (path, token string) {
	t.Helper()
	link, ok := doc(t, body).Find(`[data-testid="user-link"]`).Attr("value")
	if !ok {
		t.Fatalf("no one-time link on the page:\n%s", body)
	}
	u, err := url.Parse(link)
	if err != nil || u.Path != "/set-password" || u.Query().Get("token") == "" {
		t.Fatalf("one-time link %q: want /set-password?token=…", link)
	}
	return u.RequestURI(), u.Query().Get("token")
}

// signInWith signs a new client in with a password of its own, and fails the test otherwise.
func signInWith(t *testing.T, app *apptest.App, email, password string) *apptest.Client {
	t.Helper()
	client := app.Client(t)
	client.Get("/login")
	wantStatus(t, client.Post("/login", signInForm(email, password)), http.StatusSeeOther)
	return client
}

// Administration › Users is for Super admins: others get the 403 page naming the permission,
// and the navigation offers it to Super admins only.
func TestUsersPageIsForSuperAdminsOnly(t *testing.T) {
	eachSuperAdmin(t, func(t *testing.T, app *apptest.App, root *apptest.Client, rootUser *models.User) {
		res := root.Get("/admin/users")
		wantStatus(t, res, http.StatusOK)
		if n := doc(t, res.Body).Find(`[data-testid="nav-users"]`).Length(); n != 1 {
			t.Errorf("Users in a Super admin's navigation: %d, want 1", n)
		}
		row := userRow(t, res.Body, rootUser.ID)
		if row.Length() != 1 || row.Find(`[data-testid="user-self"]`).Length() != 1 {
			t.Fatalf("the Super admin's own row, marked as theirs: not found in\n%s", res.Body)
		}
		if got := strings.TrimSpace(row.Find(`[data-testid="user-last-sign-in"]`).Text()); got != "just now" {
			t.Errorf("last sign-in of the signed-in Super admin: got %q, want %q", got, "just now")
		}
		if row.Find(`form`).Length() != 0 {
			t.Errorf("the Super admin's own row offers actions; want none that could lock them out:\n%s", row.Text())
		}
		for _, permission := range []models.Permission{models.PermissionConnectivityAdmin, models.PermissionNone} {
			email := string(permission) + "@example.com"
			app.CreateUser(t, email, permission)
			client := app.Client(t)
			client.Login(email)
			for _, req := range []func() *apptest.Response{
				func() *apptest.Response { return client.Get("/admin/users") },
				func() *apptest.Response {
					return client.Post("/admin/users", url.Values{"email": {"x@example.com"}, "name": {"X"}, "permission": {"super-admin"}})
				},
				func() *apptest.Response { return client.Post(userPath(rootUser.ID, "disable"), nil) },
			} {
				res := req()
				wantStatus(t, res, http.StatusForbidden)
				if !strings.Contains(res.Body, "“Super admin” permission") {
					t.Errorf("403 of a %s user: want it to name the Super admin permission:\n%s", permission, res.Body)
				}
			}
			if n := doc(t, client.Get("/account").Body).Find(`[data-testid="nav-users"]`).Length(); n != 0 {
				t.Errorf("Users in a %s user's navigation: %d, want 0", permission, n)
			}
		}
		visitor := app.Client(t)
		if res := visitor.Get("/admin/users"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
			t.Errorf("/admin/users signed out: status %d to %q, want 303 to the sign-in page", res.StatusCode, res.Header.Get("Location"))
		}
		if n, _ := app.Store.CountUsers(t.Context()); n != 3 {
			t.Errorf("users after the refused additions: %d, want 3", n)
		}
	})
}

// A Super admin adds a user; the one-time link is shown once; the new user chooses their
// password there, signs in with it, and the link works no more.
func TestAddUserWithOneTimeLink(t *testing.T) {
	eachSuperAdmin(t, func(t *testing.T, app *apptest.App, root *apptest.Client, _ *models.User) {
		res := root.Post("/admin/users", url.Values{"email": {"Ada@Example.com"}, "name": {"Ada Lovelace"}, "permission": {"connectivity-admin"}})
		wantStatus(t, res, http.StatusOK)
		if got := res.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control of the page with the link: got %q, want no-store", got)
		}
		path, token := linkPath(t, res.Body)
		ada, err := app.Store.UserByEmail(t.Context(), "ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		list := root.Get("/admin/users")
		row := userRow(t, list.Body, ada.ID)
		if status, _ := row.Attr("data-status"); status != "invited" || !strings.Contains(row.Find(`[data-testid="user-link-expiry"]`).Text(), "link expires in 23 hours") {
			t.Errorf("the invited user's row: status %q, %q; want invited, link expiring within 24 hours", status, row.Find(`[data-testid="user-status"]`).Text())
		}
		if got := strings.TrimSpace(row.Find(`[data-testid="user-last-sign-in"]`).Text()); got != "Never" {
			t.Errorf("last sign-in of the invited user: got %q, want Never", got)
		}
		if strings.Contains(list.Body, token) {
			t.Errorf("the Users page shows the link again")
		}

		newcomer := app.Client(t)
		page := newcomer.Get(path)
		wantStatus(t, page, http.StatusOK)
		if !strings.Contains(page.Body, "ada@example.com") {
			t.Errorf("the link's page does not say whose account it is:\n%s", page.Body)
		}
		mismatch := newcomer.Post("/set-password", url.Values{"token": {token}, "password": {"a long new password"}, "password_confirm": {"another password!"}})
		wantStatus(t, mismatch, http.StatusUnprocessableEntity)
		if got := doc(t, mismatch.Body).Find(`[data-testid="set-password-error"]`).Text(); !strings.Contains(got, "differ") {
			t.Errorf("message for passwords that differ: got %q", got)
		}
		short := newcomer.Post("/set-password", url.Values{"token": {token}, "password": {"short"}, "password_confirm": {"short"}})
		wantStatus(t, short, http.StatusUnprocessableEntity)
		done := newcomer.Post("/set-password", url.Values{"token": {token}, "password": {"a long new password"}, "password_confirm": {"a long new password"}})
		wantStatus(t, done, http.StatusSeeOther)
		if got := done.Header.Get("Location"); got != "/login" {
			t.Errorf("after setting the password: redirect to %q, want /login", got)
		}
		if got := doc(t, newcomer.Get("/login").Body).Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "password is set") {
			t.Errorf("notice on the sign-in page: got %q", got)
		}
		wantStatus(t, newcomer.Post("/login", signInForm("ada@example.com", "a long new password")), http.StatusSeeOther)
		wantStatus(t, newcomer.Get("/admin/api-keys"), http.StatusOK)

		again := app.Client(t)
		wantStatus(t, again.Get(path), http.StatusNotFound)
		again.Get("/login")
		wantStatus(t, again.Post("/set-password", url.Values{"token": {token}, "password": {"a third long password"}, "password_confirm": {"a third long password"}}), http.StatusNotFound)
		if status, _ := userRow(t, root.Get("/admin/users").Body, ada.ID).Attr("data-status"); status != "active" {
			t.Errorf("status after the link was used: got %q, want active", status)
		}
		for _, secret := range []string{token, "a long new password"} {
			if strings.Contains(app.Logs(), secret) {
				t.Errorf("the log holds the one-time token or the password")
			}
		}
		if actions := modelstest.AuditActions(t, app.Store); !slices.Contains(actions, "user.created") || !slices.Contains(actions, "user.activated") {
			t.Errorf("audit actions: got %q, want user.created and user.activated", actions)
		}
	})
}

// What a Super admin types is checked: every refusal is a 4xx saying what is wrong, never a
// 500, and adds nobody.
func TestAddUserRefusesBadInput(t *testing.T) {
	eachSuperAdmin(t, func(t *testing.T, app *apptest.App, root *apptest.Client, _ *models.User) {
		wantStatus(t, root.Post("/admin/users", url.Values{"email": {"ops@example.com"}, "name": {"Ops"}, "permission": {"none"}}), http.StatusOK)
		root.Get("/admin/users")
		for _, tc := range []struct {
			name    string
			form    url.Values
			message string
		}{
			{"same email in another case", url.Values{"email": {"OPS@example.COM"}, "name": {"Ops 2"}, "permission": {"none"}}, "already exists"},
			{"no email", url.Values{"email": {""}, "name": {"X"}, "permission": {"none"}}, "valid email"},
			{"long name", url.Values{"email": {"x@example.com"}, "name": {strings.Repeat("x", 101)}, "permission": {"none"}}, "1 to 100 characters"},
			{"huge email", url.Values{"email": {strings.Repeat("x", 10_000) + "@example.com"}, "name": {"X"}, "permission": {"none"}}, "valid email"},
			{"unknown permission", url.Values{"email": {"x@example.com"}, "name": {"X"}, "permission": {"root"}}, "unknown permission"},
			{"NUL in name", url.Values{"email": {"x@example.com"}, "name": {"X\x00"}, "permission": {"none"}}, "NUL"},
			{"invalid UTF-8", url.Values{"email": {"x\xff@example.com"}, "name": {"X"}, "permission": {"none"}}, "UTF-8"},
			{"escape in name", url.Values{"email": {"x@example.com"}, "name": {"\x1b[31mX"}, "permission": {"none"}}, "control characters"},
		} {
			res := root.Post("/admin/users", tc.form)
			wantStatus(t, res, http.StatusUnprocessableEntity)
			if !strings.Contains(res.Body, tc.message) {
				t.Errorf("%s: the answer does not say %q:\n%s", tc.name, tc.message, res.Body)
			}
		}
		if n, _ := app.Store.CountUsers(t.Context()); n != 2 {
			t.Errorf("users after the refusals: %d, want 2", n)
		}
		for _, path := range []string{"/admin/users/0/disable", "/admin/users/x/enable", "/admin/users/99999/permission", "/admin/users/99999/reset-link", "/admin/users/-1/disable"} {
			wantStatus(t, root.Post(path, url.Values{"permission": {"none"}}), http.StatusNotFound)
		}
		wantStatus(t, app.Client(t).Get("/set-password?token=made-up"), http.StatusNotFound)
		wantStatus(t, app.Client(t).Get("/set-password?token=%FF%00"), http.StatusUnprocessableEntity)
		visitor := app.Client(t)
		visitor.Get("/login")
		wantStatus(t, visitor.Post("/set-password", url.Values{"token": {"made-up"}, "password": {"a long new password"}, "password_confirm": {"a long new password"}}), http.StatusNotFound)
		wantStatus(t, app.Client(t).Get("/set-password"), http.StatusNotFound)
	})
}

// Disabling a user signs them out at once: their next request lands on the sign-in page, and
// their password no longer opens a session. Enabling them brings no old session back.
func TestDisableSignsOutAndEnableBringsNoSessionBack(t *testing.T) {
	eachSuperAdmin(t, func(t *testing.T, app *apptest.App, root *apptest.Client, _ *models.User) {
		user := app.CreateUser(t, "u@example.com", models.PermissionConnectivityAdmin)
		first, second := app.Client(t), app.Client(t)
		first.Login("u@example.com")
		second.Login("u@example.com")
		res := root.Post(userPath(user.ID, "disable"), nil)
		wantStatus(t, res, http.StatusSeeOther)
		list := root.Get("/admin/users")
		if got := doc(t, list.Body).Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "disabled") || !strings.Contains(got, "2 sessions ended") {
			t.Errorf("notice after disabling: got %q, want it to say 2 sessions ended", got)
		}
		row := userRow(t, list.Body, user.ID)
		if status, _ := row.Attr("data-status"); status != "disabled" || row.Find(`[data-testid="enable-user"]`).Length() != 1 {
			t.Errorf("the disabled user's row: status %q, want disabled with an Enable button", status)
		}
		for _, client := range []*apptest.Client{first, second} {
			if res := client.Get("/admin/api-keys"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
				t.Errorf("the disabled user's next request: status %d to %q, want the sign-in page", res.StatusCode, res.Header.Get("Location"))
			}
		}
		denied := app.Client(t)
		denied.Get("/login")
		wantStatus(t, denied.Post("/login", signInForm("u@example.com", apptest.DefaultPassword)), http.StatusUnauthorized)

		wantStatus(t, root.Post(userPath(user.ID, "enable"), nil), http.StatusSeeOther)
		for _, client := range []*apptest.Client{first, second} {
			if signedIn(t, client) {
				t.Errorf("a session from before the disable works again after the enable")
			}
		}
		signInWith(t, app, "u@example.com", apptest.DefaultPassword)
		actions := modelstest.AuditActions(t, app.Store)
		for _, want := range []string{"user.disabled", "session.ended", "user.enabled"} {
			if !slices.Contains(actions, want) {
				t.Errorf("audit actions: got %q, want %s among them", actions, want)
			}
		}
	})
}

// Add user is a button at the top of Users: htmx gets the form as a dialog, a browser without
// JavaScript a page of its own; a refused form comes back on that page saying why, with what
// was typed, and adds nobody.
func TestAddUserFromTheTop(t *testing.T) {
	eachSuperAdmin(t, func(t *testing.T, app *apptest.App, root *apptest.Client, _ *models.User) {
		page := doc(t, root.Get("/admin/users").Body)
		button := page.Find(`[data-testid="add-user-button"]`)
		if button.AttrOr("href", "") != "/admin/users/new" || button.AttrOr("hx-get", "") != "/admin/users/new" || button.AttrOr("hx-target", "") != "#dialog-slot" {
			t.Fatalf("Add user: href %q, hx-get %q, hx-target %q; want /admin/users/new opening a dialog", button.AttrOr("href", ""), button.AttrOr("hx-get", ""), button.AttrOr("hx-target", ""))
		}
		if !strings.Contains(button.Text(), "Add user") {
			t.Errorf("the button says %q, want Add user", button.Text())
		}
		if button.Parents().Filter(`[data-testid="user-list"]`).Length() != 0 || page.Find(`[data-testid="add-user-form"]`).Length() != 0 {
			t.Errorf("the Users page still holds the form, or the button is not above the list")
		}
		dialog := root.HTMX(http.MethodGet, "/admin/users/new", "dialog-slot", nil)
		wantStatus(t, dialog, http.StatusOK)
		d := doc(t, dialog.Body)
		if d.Find(`dialog[data-testid="add-user-dialog"] form[data-testid="add-user-form"][action="/admin/users"]`).Length() != 1 || d.Find(`[data-testid="flash"]`).Length() != 0 {
			t.Errorf("htmx: want the dialog alone with the form:\n%s", dialog.Body)
		}
		if got := d.Find(`#user-permission option[selected]`).AttrOr("value", ""); got != string(models.PermissionConnectivityAdmin) {
			t.Errorf("the permission chosen at first: %q, want connectivity-admin", got)
		}
		res := root.Get("/admin/users/new")
		wantStatus(t, res, http.StatusOK)
		d = doc(t, res.Body)
		if d.Find(`[data-testid="add-user"] form[data-testid="add-user-form"]`).Length() != 1 || d.Find(`dialog`).Length() != 0 {
			t.Errorf("without JavaScript: want the form on a page")
		}
		if got, _ := d.Find(`nav a[href="/admin/users"]`).Attr("aria-current"); got != "page" {
			t.Errorf("the Add user page does not mark Users as current: %q", got)
		}

		res = root.Post("/admin/users", url.Values{"email": {"taken@example.com"}, "name": {"Grace Hopper"}, "permission": {"none"}})
		wantStatus(t, res, http.StatusOK)
		root.Get("/admin/users/new")
		res = root.Post("/admin/users", url.Values{"email": {"TAKEN@example.com"}, "name": {"Grace Again"}, "permission": {"super-admin"}})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		d = doc(t, res.Body)
		if got := d.Find(`[data-testid="add-user-error"]`).Text(); !strings.Contains(got, "already exists") {
			t.Errorf("refusal: got %q, want it to say the user already exists", got)
		}
		if d.Find(`#user-name`).AttrOr("value", "") != "Grace Again" || d.Find(`#user-permission option[selected]`).AttrOr("value", "") != "super-admin" {
			t.Errorf("the refused form lost what was typed")
		}
		if n, _ := app.Store.CountUsers(t.Context()); n != 2 {
			t.Errorf("users: %d, want 2", n)
		}
		nobody := app.Client(t)
		app.CreateUser(t, "conn@example.com", models.PermissionConnectivityAdmin)
		nobody.Login("conn@example.com")
		wantStatus(t, nobody.Get("/admin/users/new"), http.StatusForbidden)
	})
}

// A permission is chosen from the user's menu, which asks to confirm it before anything
// changes (a GET that changes nothing): a dialog for htmx, a page without JavaScript, through
// a form that needs no Change button with JavaScript and keeps one in <noscript>.
func TestPermissionChangeIsConfirmed(t *testing.T) {
	eachSuperAdmin(t, func(t *testing.T, app *apptest.App, root *apptest.Client, rootUser *models.User) {
		name := strings.Repeat("Grace Brewster Murray Hopper ", 4)[:100]
		user, err := app.Store.CreateUser(t.Context(), models.NewUser{Email: "g@example.com", Name: name, Password: apptest.DefaultPassword, Permission: models.PermissionConnectivityAdmin})
		if err != nil {
			t.Fatal(err)
		}
		row := userRow(t, root.Get("/admin/users").Body, user.ID)
		form := row.Find(`form[data-testid="permission-form"]`)
		selectMenu := form.Find(`select[name="permission"]`)
		if form.AttrOr("method", "") != "get" || form.AttrOr("action", "") != userPath(user.ID, "permission") {
			t.Fatalf("the permission form: method %q, action %q; want a GET to the confirmation", form.AttrOr("method", ""), form.AttrOr("action", ""))
		}
		if selectMenu.AttrOr("hx-get", "") != userPath(user.ID, "permission") || selectMenu.AttrOr("hx-trigger", "") != "change" || selectMenu.AttrOr("hx-target", "") != "#dialog-slot" {
			t.Errorf("the menu does not open the confirmation as it changes")
		}
		if form.Find(`button`).Length() != 0 || !strings.Contains(form.Find(`noscript`).Text(), "Change") {
			t.Errorf("want no Change button but one inside <noscript>")
		}

		dialog := root.HTMX(http.MethodGet, userPath(user.ID, "permission")+"?permission=super-admin", "dialog-slot", nil)
		wantStatus(t, dialog, http.StatusOK)
		d := doc(t, dialog.Body)
		if got := d.Find(`dialog[data-testid="permission-dialog"]`).AttrOr("data-reset-form", ""); got != "permission-form-"+strconv.FormatInt(user.ID, 10) {
			t.Errorf("the dialog resets %q, want the row's form", got)
		}
		change := strings.Join(strings.Fields(d.Find(`[data-testid="permission-change"]`).Text()), " ")
		if !strings.Contains(change, "has the Connectivity administration permission") || !strings.Contains(change, "will have the Super admin permission") {
			t.Errorf("the confirmation says %q, want the permission they have and the one chosen", change)
		}
		confirm := d.Find(`form[data-testid="permission-confirm-form"]`)
		if confirm.AttrOr("method", "") != "post" || confirm.Find(`input[name="permission"]`).AttrOr("value", "") != "super-admin" {
			t.Errorf("the confirmation form does not post the chosen permission")
		}
		page := root.Get(userPath(user.ID, "permission") + "?permission=super-admin")
		wantStatus(t, page, http.StatusOK)
		if doc(t, page.Body).Find(`[data-testid="permission-page"] form[data-testid="permission-confirm-form"]`).Length() != 1 {
			t.Errorf("without JavaScript: no confirmation page")
		}
		if u, _ := app.Store.UserByID(t.Context(), user.ID); u.Permission != models.PermissionConnectivityAdmin {
			t.Fatalf("asking to confirm changed the permission to %s", u.Permission)
		}
		for _, tc := range []struct {
			path   string
			status int
		}{
			{userPath(user.ID, "permission") + "?permission=root", http.StatusUnprocessableEntity},
			{userPath(user.ID, "permission") + "?permission=", http.StatusUnprocessableEntity},
			{userPath(user.ID, "permission") + "?permission=none%00", http.StatusUnprocessableEntity},
			{userPath(user.ID, "permission") + "?permission=%FF", http.StatusUnprocessableEntity},
			{userPath(user.ID, "permission") + "?permission=" + strings.Repeat("x", 10_000), http.StatusUnprocessableEntity},
			{userPath(99999, "permission") + "?permission=none", http.StatusNotFound},
			{"/admin/users/x/permission?permission=none", http.StatusNotFound},
		} {
			wantStatus(t, root.Get(tc.path), tc.status)
		}

		root.Get(userPath(user.ID, "permission") + "?permission=super-admin")
		wantStatus(t, root.Post(userPath(user.ID, "permission"), url.Values{"permission": {"super-admin"}}), http.StatusSeeOther)
		if u, _ := app.Store.UserByID(t.Context(), user.ID); u.Permission != models.PermissionSuperAdmin {
			t.Errorf("after confirming: %s, want super-admin", u.Permission)
		}
		if n := userRow(t, root.Get("/admin/users").Body, rootUser.ID).Find(`[data-testid="permission-form"]`).Length(); n != 0 {
			t.Errorf("the Super admin's own row offers a permission menu")
		}
	})
}

// A permission change applies from the user's next request: a Connectivity admin made
// Super admin opens Users, and once demoted to none loses API keys.
func TestPermissionChangeAppliesOnTheNextRequest(t *testing.T) {
	eachSuperAdmin(t, func(t *testing.T, app *apptest.App, root *apptest.Client, _ *models.User) {
		user := app.CreateUser(t, "u@example.com", models.PermissionConnectivityAdmin)
		client := app.Client(t)
		client.Login("u@example.com")
		wantStatus(t, client.Get("/admin/users"), http.StatusForbidden)
		form := userRow(t, root.Get("/admin/users").Body, user.ID).Find(`form[action="` + userPath(user.ID, "permission") + `"]`)
		if form.Find(`select[name="permission"]`).Length() != 1 {
			t.Fatalf("no permission form in the user's row")
		}
		wantStatus(t, root.Post(userPath(user.ID, "permission"), url.Values{"permission": {"super-admin"}}), http.StatusSeeOther)
		if got := doc(t, root.Get("/admin/users").Body).Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "now has the “Super admin” permission") {
			t.Errorf("notice: got %q", got)
		}
		wantStatus(t, client.Get("/admin/users"), http.StatusOK)
		wantStatus(t, root.Post(userPath(user.ID, "permission"), url.Values{"permission": {"none"}}), http.StatusSeeOther)
		wantStatus(t, client.Get("/admin/api-keys"), http.StatusForbidden)
		wantStatus(t, client.Get("/account"), http.StatusOK)
		res := root.Post(userPath(user.ID, "permission"), url.Values{"permission": {"root"}})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		records := modelstest.AuditRecords(t, app.Store)
		var details []string
		for _, r := range records {
			if r.Action == "user.permission_changed" {
				details = append(details, r.Detail)
			}
		}
		if want := []string{"from connectivity-admin to super-admin", "from super-admin to none"}; !slices.Equal(details, want) {
			t.Errorf("user.permission_changed details: got %q, want %q", details, want)
		}
	})
}

// The guard rails, through the console: a Super admin cannot disable, demote or reset
// themselves, and two Super admins demoting each other at once cannot both succeed.
func TestUserGuardRailsThroughTheConsole(t *testing.T) {
	eachSuperAdmin(t, func(t *testing.T, app *apptest.App, root *apptest.Client, rootUser *models.User) {
		for _, tc := range []struct {
			action string
			form   url.Values
		}{{"disable", nil}, {"permission", url.Values{"permission": {"none"}}}, {"reset-link", nil}} {
			res := root.Post(userPath(rootUser.ID, tc.action), tc.form)
			wantStatus(t, res, http.StatusConflict)
			if got := doc(t, res.Body).Find(`[data-testid="user-error"]`).Text(); !strings.Contains(got, "your own account") {
				t.Errorf("%s oneself: message %q, want one about your own account", tc.action, got)
			}
		}
		if !signedIn(t, root) {
			t.Fatalf("the Super admin was signed out by a refused change")
		}

		for round := range 4 {
			email := "second" + strconv.Itoa(round) + "@example.com"
			second := app.CreateUser(t, email, models.PermissionSuperAdmin)
			other := app.Client(t)
			other.Login(email)
			other.Get("/admin/users")
			root.Get("/admin/users")
			action, form := "permission", url.Values{"permission": {"connectivity-admin"}}
			if round%2 == 1 {
				action, form = "disable", nil
			}
			var byRoot, bySecond *apptest.Response
			start := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() { <-start; byRoot = root.Post(userPath(second.ID, action), form) })
			wg.Go(func() { <-start; bySecond = other.Post(userPath(rootUser.ID, action), form) })
			close(start)
			wg.Wait()
			// The loser is refused by the guard rail (409), or finds itself no longer a Super
			// admin (403), or, disabled, no longer signed in (its CSRF token, bound to the
			// ended session, is refused with 403).
			done := func(res *apptest.Response) bool {
				return res.StatusCode == http.StatusSeeOther && res.Header.Get("Location") == "/admin/users"
			}
			refused := func(res *apptest.Response) bool {
				return res.StatusCode == http.StatusConflict || res.StatusCode == http.StatusForbidden
			}
			if !(done(byRoot) && refused(bySecond) || done(bySecond) && refused(byRoot)) {
				t.Fatalf("round %d: statuses %d and %d, want one change done (303 to the list) and one refused (403 or 409)", round, byRoot.StatusCode, bySecond.StatusCode)
			}
			if done(bySecond) {
				t.Logf("round %d: the second Super admin won", round)
				// Put the first back, for the next round.
				wantStatus(t, other.Post(userPath(rootUser.ID, "enable"), nil), http.StatusSeeOther)
				wantStatus(t, other.Post(userPath(rootUser.ID, "permission"), url.Values{"permission": {"super-admin"}}), http.StatusSeeOther)
				root.Login(rootEmail)
				root.Get("/admin/users")
				wantStatus(t, root.Post(userPath(second.ID, "disable"), nil), http.StatusSeeOther)
			}
			entries, err := app.Store.ListUsers(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			enabled := 0
			for _, e := range entries {
				if e.Permission == models.PermissionSuperAdmin && !e.Disabled {
					enabled++
				}
			}
			if enabled != 1 {
				t.Fatalf("round %d: %d enabled Super admins, want 1", round, enabled)
			}
		}
	})
}

// A reset link replaces the password and any earlier link, and ends the user's sessions; the
// user chooses a new password with it.
func TestResetLinkThroughTheConsole(t *testing.T) {
	eachSuperAdmin(t, func(t *testing.T, app *apptest.App, root *apptest.Client, _ *models.User) {
		user := app.CreateUser(t, "u@example.com", models.PermissionConnectivityAdmin)
		client := app.Client(t)
		client.Login("u@example.com")
		first := root.Post(userPath(user.ID, "reset-link"), nil)
		wantStatus(t, first, http.StatusOK)
		firstPath, _ := linkPath(t, first.Body)
		if got := doc(t, first.Body).Find(`[data-testid="user-reset-effect"]`).Text(); !strings.Contains(got, "1 session ended") {
			t.Errorf("the reset page: got %q, want it to say 1 session ended", got)
		}
		if signedIn(t, client) {
			t.Errorf("the user is still signed in after a reset")
		}
		client.Get("/login")
		wantStatus(t, client.Post("/login", signInForm("u@example.com", apptest.DefaultPassword)), http.StatusUnauthorized)
		if status, _ := userRow(t, root.Get("/admin/users").Body, user.ID).Attr("data-status"); status != "reset-pending" {
			t.Errorf("status after a reset: got %q, want reset-pending", status)
		}
		second := root.Post(userPath(user.ID, "reset-link"), nil)
		wantStatus(t, second, http.StatusOK)
		secondPath, token := linkPath(t, second.Body)
		wantStatus(t, app.Client(t).Get(firstPath), http.StatusNotFound)
		holder := app.Client(t)
		wantStatus(t, holder.Get(secondPath), http.StatusOK)
		wantStatus(t, holder.Post("/set-password", url.Values{"token": {token}, "password": {"the reset password"}, "password_confirm": {"the reset password"}}), http.StatusSeeOther)
		signInWith(t, app, "u@example.com", "the reset password")
	})
}

// With two instances on one PostgreSQL, the other instance refuses a disabled user's session
// on their next request, and applies a permission change on the next request.
func TestUserChangesReachEveryInstance(t *testing.T) {
	target := modelstest.Postgres(t, "the user changes seen by two instances")
	first := apptest.New(t, target)
	second := apptest.NewOnStore(t, modelstest.Open(t, target))
	first.CreateUser(t, rootEmail, models.PermissionSuperAdmin)
	user := first.CreateUser(t, "u@example.com", models.PermissionConnectivityAdmin)
	root := first.Client(t)
	root.Login(rootEmail)
	root.Get("/admin/users")
	client := second.Client(t)
	client.Login("u@example.com")
	wantStatus(t, client.Get("/admin/api-keys"), http.StatusOK)
	wantStatus(t, client.Get("/admin/users"), http.StatusForbidden)

	wantStatus(t, root.Post(userPath(user.ID, "permission"), url.Values{"permission": {"super-admin"}}), http.StatusSeeOther)
	wantStatus(t, client.Get("/admin/users"), http.StatusOK)
	wantStatus(t, root.Post(userPath(user.ID, "permission"), url.Values{"permission": {"none"}}), http.StatusSeeOther)
	wantStatus(t, client.Get("/admin/api-keys"), http.StatusForbidden)

	wantStatus(t, root.Post(userPath(user.ID, "disable"), nil), http.StatusSeeOther)
	res := client.Get("/account")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Errorf("the other instance, on the disabled user's next request: status %d to %q, want the sign-in page", res.StatusCode, res.Header.Get("Location"))
	}
	wantStatus(t, root.Post(userPath(user.ID, "enable"), nil), http.StatusSeeOther)
	if signedIn(t, client) {
		t.Errorf("the other instance lets the session from before the disable back in after the enable")
	}
}
