package integration

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/views"
)

// TestNavigationShowsOnlyWhatTheUserMayOpen: each page the user may open is one link of the
// navigation (Scanners too, not in a menu); a user who may open none gets no navigation, and
// the 403 page leads to none of them but offers to sign in as someone else, coming back to
// the refused page.
func TestNavigationShowsOnlyWhatTheUserMayOpen(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		d := doc(t, admin.Get("/admin/scanners").Body)
		var links []string
		d.Find(`nav[aria-label="Main"] [data-testid="nav-sections"] a`).Each(func(_ int, a *goquery.Selection) {
			links = append(links, a.AttrOr("href", "")+" "+strings.TrimSpace(a.Text()))
		})
		if want := []string{"/admin/api-keys API Keys", "/admin/scanners Scanners", "/admin/instances Instances"}; !slices.Equal(links[:min(3, len(links))], want) {
			t.Errorf("navigation of a Connectivity admin: got %q, want it to start with %q", links, want)
		}
		if current := d.Find(`nav[aria-label="Main"] a[aria-current="page"]`).Text(); current != "Scanners" {
			t.Errorf("current page in the navigation: got %q, want %q", current, "Scanners")
		}
		if n := d.Find(`nav[aria-label="Main"] details`).Length(); n != 0 {
			t.Errorf("menus in the navigation: got %d, want 0 (every page a link)", n)
		}
		// For every permission, the navigation links exactly the pages that open.
		app.CreateUser(t, "super@example.com", models.PermissionSuperAdmin)
		app.CreateUser(t, "nobody@example.com", models.PermissionNone)
		for _, email := range []string{adminEmail, "super@example.com", "nobody@example.com"} {
			user := app.Client(t)
			user.Login(email)
			nav := doc(t, user.Get("/admin/api-keys").Body).Find(`nav[aria-label="Main"] [data-testid="nav-sections"]`)
			for _, item := range views.Nav {
				status := user.Get(item.Href).StatusCode
				if shown := nav.Find(`a[href="`+item.Href+`"]`).Length() == 1; shown != (status == http.StatusOK) {
					t.Errorf("%s: %s answers %d, and the navigation links it: %v", email, item.Href, status, shown)
				}
			}
		}

		app.CreateUser(t, "reader@example.com", models.PermissionNone)
		reader := app.Client(t)
		reader.Login("reader@example.com")
		res := reader.Get("/admin/scanners?include_inactive=1")
		wantStatus(t, res, http.StatusForbidden)
		d = doc(t, res.Body)
		if n := d.Find(`nav[aria-label="Main"] a[href^="/admin/"]`).Length(); n != 0 {
			t.Errorf("links to administration pages in the navigation of a user without permission: got %d, want 0", n)
		}
		if n := d.Find(`a[href^="/admin/"]`).Length(); n != 0 {
			t.Errorf("links to pages the user may not open on the 403 page: got %d, want 0", n)
		}
		// The primary button goes to the first page the user may open (Your account, for one who
		// may open none of the console); signing in as someone else is the secondary action.
		actions := d.Find(`[data-testid="error-page"] .error-actions`).Children()
		primary := actions.First()
		if got, href := strings.TrimSpace(primary.Text()), primary.AttrOr("href", ""); got != "Go to Your account" || href != "/account" || primary.HasClass("secondary") {
			t.Errorf("the 403 page's primary action: got %q to %q (class %q), want a primary Go to Your account to /account", got, href, primary.AttrOr("class", ""))
		}
		form := d.Find(`[data-testid="error-page"] form[action="/logout"][method="post"]`)
		if got := strings.TrimSpace(form.Find(`button[type="submit"]`).Text()); got != "Sign in as someone else" {
			t.Errorf("the 403 page's secondary action: got %q, want %q", got, "Sign in as someone else")
		}
		if !form.Find(`button[type="submit"]`).HasClass("secondary") || actions.Length() != 2 || !actions.Eq(1).Is(`form[action="/logout"]`) {
			t.Errorf("Sign in as someone else is not the secondary action after Go to Your account")
		}
		if form.Find(`input[name="_csrf"]`).AttrOr("value", "") == "" {
			t.Error("the sign-out form of the 403 page carries no CSRF token")
		}
		next := form.Find(`input[name="next"]`).AttrOr("value", "")
		if next != "/admin/scanners?include_inactive=1" {
			t.Errorf("page to come back to: got %q, want %q", next, "/admin/scanners?include_inactive=1")
		}
		out := reader.Post("/logout", url.Values{"next": {next}})
		wantStatus(t, out, http.StatusSeeOther)
		if got, want := out.Header.Get("Location"), "/login?next="+url.QueryEscape(next); got != want {
			t.Errorf("after signing out from the 403 page: got %q, want %q", got, want)
		}
		if got := reader.Get("/admin/api-keys").Header.Get("Location"); !strings.HasPrefix(got, "/login?next=") {
			t.Errorf("after signing out, the console sent to %q, want the sign-in page", got)
		}
		for _, next := range []string{"https://evil.example/", "//evil.example/x", ""} {
			reader.Login("reader@example.com")
			reader.Get("/admin/api-keys")
			out := reader.Post("/logout", url.Values{"next": {next}})
			if got := out.Header.Get("Location"); got != "/login" {
				t.Errorf("signing out with next %q went to %q, want /login", next, got)
			}
		}
		reader.Login("reader@example.com")
		reader.Get("/admin/api-keys")
		wantStatus(t, reader.Post("/logout", url.Values{"next": {"/admin/api-keys\x00"}}), http.StatusUnprocessableEntity)

		// A Connectivity admin refused Users is led back to API Keys, the first page they may open.
		res = admin.Get("/admin/users")
		wantStatus(t, res, http.StatusForbidden)
		primary = doc(t, res.Body).Find(`[data-testid="error-page"] .error-actions`).Children().First()
		if got, href := strings.TrimSpace(primary.Text()), primary.AttrOr("href", ""); got != "Go to API Keys" || href != "/admin/api-keys" {
			t.Errorf("a Connectivity admin's 403 page: primary action %q to %q, want Go to API Keys to /admin/api-keys", got, href)
		}
	})
}
