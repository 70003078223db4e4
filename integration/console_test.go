package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/PuerkitoBio/goquery"

	"keysmith/config"
	"keysmith/handlers/handlerstest"
	"keysmith/models"
	"keysmith/models/modelstest"
	"keysmith/views"
)

const adminEmail = "admin@example.com"

var secretInPage = regexp.MustCompile(`ksk_[0-9A-Za-z]{49}`)

// eachApp runs fn against a fresh server per database, with a Connectivity admin signed in.
func eachApp(t *testing.T, fn func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client), configure ...func(*config.Config)) {
	t.Helper()
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			app := handlerstest.New(t, target, configure...)
			app.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
			admin := app.Client(t)
			admin.Login(adminEmail)
			admin.Get("/admin/api-keys")
			fn(t, app, admin)
		})
	}
}

func doc(t *testing.T, body string) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func wantStatus(t *testing.T, res *handlerstest.Response, want int) {
	t.Helper()
	if res.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body:\n%s", res.Request.Method, res.Request.URL.Path, res.StatusCode, want, res.Body)
	}
}

func rowNames(t *testing.T, body string) []string {
	t.Helper()
	var names []string
	doc(t, body).Find(`[data-testid="api-key-row"] [data-testid="api-key-name"]`).Each(func(_ int, s *goquery.Selection) {
		names = append(names, s.Text())
	})
	return names
}

func createForm(name string, scope models.Scope, expiresIn string) url.Values {
	return url.Values{"name": {name}, "scope": {string(scope)}, "expires_in": {expiresIn}}
}

func TestLoginRedirectsAndReturns(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, _ *handlerstest.Client) {
		visitor := app.Client(t)
		res := visitor.Get("/admin/api-keys?q=gate&sort=name")
		wantStatus(t, res, http.StatusSeeOther)
		if got, want := res.Header.Get("Location"), "/login?next="+url.QueryEscape("/admin/api-keys?q=gate&sort=name"); got != want {
			t.Fatalf("redirect to %q, want %q", got, want)
		}
		visitor.Get(res.Header.Get("Location"))
		login := visitor.Post("/login", url.Values{"email": {adminEmail}, "password": {handlerstest.DefaultPassword}, "next": {"/admin/api-keys?q=gate&sort=name"}})
		wantStatus(t, login, http.StatusSeeOther)
		if got := login.Header.Get("Location"); got != "/admin/api-keys?q=gate&sort=name" {
			t.Errorf("after login: redirect to %q, want the page asked for", got)
		}
		for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"} {
			other := app.Client(t)
			other.Get("/login")
			res := other.Post("/login", url.Values{"email": {adminEmail}, "password": {handlerstest.DefaultPassword}, "next": {next}})
			if got := res.Header.Get("Location"); got != "/admin/api-keys" {
				t.Errorf("next=%q: redirect to %q, want /admin/api-keys", next, got)
			}
		}
	})
}

func TestLoginFailureIsGenericAndThrottled(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, _ *handlerstest.Client) {
		visitor := app.Client(t)
		visitor.Get("/login")
		wrongPassword := visitor.Post("/login", url.Values{"email": {adminEmail}, "password": {"not the password"}})
		unknownUser := visitor.Post("/login", url.Values{"email": {"ghost@example.com"}, "password": {"not the password"}})
		wantStatus(t, wrongPassword, http.StatusUnauthorized)
		wantStatus(t, unknownUser, http.StatusUnauthorized)
		a := doc(t, wrongPassword.Body).Find(`[data-testid="login-error"]`).Text()
		b := doc(t, unknownUser.Body).Find(`[data-testid="login-error"]`).Text()
		if a == "" || a != b {
			t.Errorf("messages differ or are empty: %q vs %q", a, b)
		}
		for range 4 {
			visitor.Post("/login", url.Values{"email": {adminEmail}, "password": {"still wrong"}})
		}
		// Five failures for the account: even the right password now waits.
		res := visitor.Post("/login", url.Values{"email": {adminEmail}, "password": {handlerstest.DefaultPassword}})
		wantStatus(t, res, http.StatusTooManyRequests)
		if retry := res.Header.Get("Retry-After"); retry == "" || retry == "0" {
			t.Errorf("Retry-After = %q, want seconds to wait", retry)
		}
		if !strings.Contains(doc(t, res.Body).Find(`[data-testid="login-error"]`).Text(), "Too many failed sign-in attempts") {
			t.Errorf("429 page does not explain the wait: %s", res.Body)
		}
		// Another account from the same address still gets through.
		app.CreateUser(t, "other@example.com", models.PermissionConnectivityAdmin)
		res = visitor.Post("/login", url.Values{"email": {"other@example.com"}, "password": {handlerstest.DefaultPassword}})
		wantStatus(t, res, http.StatusSeeOther)
		// Twenty failures from one address lock it for every account.
		attacker := app.Client(t)
		attacker.Get("/login")
		for i := range 20 {
			attacker.Post("/login", url.Values{"email": {"spray" + string(rune('a'+i)) + "@example.com"}, "password": {"x"}})
		}
		app.CreateUser(t, "third@example.com", models.PermissionConnectivityAdmin)
		res = attacker.Post("/login", url.Values{"email": {"third@example.com"}, "password": {handlerstest.DefaultPassword}})
		wantStatus(t, res, http.StatusTooManyRequests)
	})
}

func TestCSRFIsRequired(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client) {
		for name, res := range map[string]*handlerstest.Response{
			"missing token": admin.Post("/admin/api-keys", url.Values{"name": {"x"}, "scope": {"manage-documentation"}, "expires_in": {"30d"}, "_csrf": {""}}),
			"wrong token":   admin.Post("/admin/api-keys", url.Values{"name": {"x"}, "scope": {"manage-documentation"}, "expires_in": {"30d"}, "_csrf": {"forged"}}),
			"cross-site": admin.Do(http.MethodPost, "/admin/api-keys", strings.NewReader(createForm("x", models.ScopeManageDocumentation, "30d").Encode()+"&_csrf="+url.QueryEscape(admin.CSRF)),
				map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site"}),
			"htmx without header": admin.Do(http.MethodDelete, "/admin/api-keys/ak_whatever", nil, map[string]string{"HX-Request": "true"}),
		} {
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("%s: status %d, want 403", name, res.StatusCode)
			}
		}
		if page, _ := app.Store.ListAPIKeys(context.Background(), models.APIKeyQuery{}); page.Total != 0 {
			t.Errorf("%d keys created without a valid CSRF token", page.Total)
		}
		visitor := app.Client(t)
		res := visitor.Post("/login", url.Values{"email": {adminEmail}, "password": {handlerstest.DefaultPassword}, "_csrf": {"nope"}})
		wantStatus(t, res, http.StatusForbidden)
		// The same token with the header works, as htmx sends it.
		res = admin.HTMX(http.MethodPost, "/admin/api-keys", "dialog-slot", createForm("via header", models.ScopeManageDocumentation, "30d"))
		wantStatus(t, res, http.StatusOK)
	})
}

func TestSessionRenewedOnLoginAndEndedByLogout(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client) {
		before := admin.Cookie("keysmith_session")
		if before == "" {
			t.Fatal("no session cookie after login")
		}
		admin.Login(adminEmail)
		after := admin.Cookie("keysmith_session")
		if after == before {
			t.Fatal("logging in again kept the same session")
		}
		replay := func(cookie string) *handlerstest.Response {
			c := app.Client(t)
			return c.Do(http.MethodGet, "/admin/api-keys", nil, map[string]string{"Cookie": "keysmith_session=" + cookie})
		}
		wantStatus(t, replay(before), http.StatusSeeOther)
		wantStatus(t, replay(after), http.StatusOK)
		admin.Get("/admin/api-keys")
		res := admin.Post("/logout", nil)
		wantStatus(t, res, http.StatusSeeOther)
		if res := replay(after); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
			t.Errorf("replayed cookie after logout: status %d to %q, want 303 to /login", res.StatusCode, res.Header.Get("Location"))
		}
	})
}

func TestSessionCookieFlags(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, _ *handlerstest.Client) {
		c := app.Client(t)
		c.Get("/login")
		res := c.Post("/login", url.Values{"email": {adminEmail}, "password": {handlerstest.DefaultPassword}})
		var found bool
		for _, cookie := range res.Cookies() {
			if cookie.Name != "__Host-keysmith_session" {
				continue
			}
			found = true
			if !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" || cookie.Domain != "" {
				t.Errorf("cookie %+v: want HttpOnly, Secure, SameSite=Strict, Path=/ and no Domain", cookie)
			}
		}
		if !found {
			t.Errorf("no __Host-keysmith_session cookie with an https base URL; got %v", res.Cookies())
		}
	}, func(cfg *config.Config) { cfg.BaseURL, _ = url.Parse("https://keys.example.com") })
}

func TestIdleAndAbsoluteTimeouts(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client) {
		start := time.Now()
		now := start
		app.Store.SetClock(func() time.Time { return now })
		admin.Login(adminEmail)
		for now = start; now.Before(start.Add(2 * time.Hour)); now = now.Add(25 * time.Minute) {
			wantStatus(t, admin.Get("/admin/api-keys"), http.StatusOK)
		}
		now = now.Add(31 * time.Minute)
		wantStatus(t, admin.Get("/admin/api-keys"), http.StatusSeeOther)

		admin.Login(adminEmail)
		start = now
		for ; now.Before(start.Add(8 * time.Hour)); now = now.Add(20 * time.Minute) {
			wantStatus(t, admin.Get("/admin/api-keys"), http.StatusOK)
		}
		now = start.Add(8*time.Hour + time.Minute)
		wantStatus(t, admin.Get("/admin/api-keys"), http.StatusSeeOther)
	})
}

func TestPermissionRequired(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, _ *handlerstest.Client) {
		app.CreateUser(t, "reader@example.com", models.PermissionNone)
		reader := app.Client(t)
		reader.Login("reader@example.com")
		for _, path := range []string{"/admin/api-keys", "/admin/api-keys/new"} {
			res := reader.Get(path)
			wantStatus(t, res, http.StatusForbidden)
			message := doc(t, res.Body).Find(`[data-testid="error-page"]`).Text()
			if !strings.Contains(message, "Connectivity administration") || !strings.Contains(message, "Super admin") {
				t.Errorf("%s: 403 page does not name the missing permission: %q", path, message)
			}
		}
		res := reader.Post("/admin/api-keys", createForm("sneaky", models.ScopeManageDocumentation, "30d"))
		wantStatus(t, res, http.StatusForbidden)
		app.CreateUser(t, "super@example.com", models.PermissionSuperAdmin)
		super := app.Client(t)
		super.Login("super@example.com")
		wantStatus(t, super.Get("/admin/api-keys"), http.StatusOK)
	})
}

// TestNavigationShowsOnlyWhatTheUserMayOpen: each page the user may open is one link of the
// navigation (Scanners too, not in a menu); a user who may open none gets no navigation, and
// the 403 page leads to none of them but offers to sign in as someone else, coming back to
// the refused page.
func TestNavigationShowsOnlyWhatTheUserMayOpen(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client) {
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
		form := d.Find(`[data-testid="error-page"] form[action="/logout"][method="post"]`)
		if got := strings.TrimSpace(form.Find(`button[type="submit"]`).Text()); got != "Sign in as someone else" {
			t.Errorf("the 403 page's action: got %q, want %q", got, "Sign in as someone else")
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
	})
}

func TestCreateValidation(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client) {
		if _, _, err := app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "Existing", Scope: models.ScopeAdmin}); err != nil {
			t.Fatal(err)
		}
		yesterday := app.Store.Now().AddDate(0, 0, -1).Format(time.DateOnly)
		today := app.Store.Now().Format(time.DateOnly)
		for _, tc := range []struct {
			name  string
			form  url.Values
			field string
			want  string
		}{
			{"empty name", createForm("   ", models.ScopeManageDocumentation, "30d"), "name", "Enter a name"},
			{"long name", createForm(strings.Repeat("é", 101), models.ScopeManageDocumentation, "30d"), "name", "at most 100 characters"},
			{"duplicate name ignoring case", createForm(" existing ", models.ScopeManageDocumentation, "30d"), "name", "already exists"},
			{"no scope", url.Values{"name": {"a"}, "expires_in": {"30d"}}, "scope", "Choose a permission scope"},
			{"unknown scope", createForm("a", "root", "30d"), "scope", "Choose a permission scope"},
			{"unknown expiry", createForm("a", models.ScopeManageDocumentation, "45d"), "expires_in", "Choose when the key expires"},
			{"custom without date", createForm("a", models.ScopeManageDocumentation, "custom"), "expires_at", "Enter the date"},
			{"custom bad date", url.Values{"name": {"a"}, "scope": {"manage-documentation"}, "expires_in": {"custom"}, "expires_at": {"31/12/2030"}}, "expires_at", "YYYY-MM-DD"},
			{"custom in the past", url.Values{"name": {"a"}, "scope": {"manage-documentation"}, "expires_in": {"custom"}, "expires_at": {yesterday}}, "expires_at", "in the future"},
			{"custom today", url.Values{"name": {"a"}, "scope": {"manage-documentation"}, "expires_in": {"custom"}, "expires_at": {today}}, "expires_at", "in the future"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := admin.Post("/admin/api-keys", tc.form)
				wantStatus(t, res, http.StatusUnprocessableEntity)
				d := doc(t, res.Body)
				if got := d.Find(`[data-testid="error-` + tc.field + `"]`).Text(); !strings.Contains(got, tc.want) {
					t.Errorf("message beside %s: got %q, want it to contain %q", tc.field, got, tc.want)
				}
				if value, _ := d.Find(`input[name="name"]`).Attr("value"); value != tc.form.Get("name") {
					t.Errorf("typed name not kept: got %q, want %q", value, tc.form.Get("name"))
				}
				if secretInPage.MatchString(res.Body) {
					t.Error("an invalid form answered with a secret")
				}
			})
		}
		if page, _ := app.Store.ListAPIKeys(context.Background(), models.APIKeyQuery{}); page.Total != 1 {
			t.Errorf("%d keys stored, want only the existing one", page.Total)
		}
	})
}

func TestLifetimePolicy(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client) {
		form := doc(t, admin.Get("/admin/api-keys/new").Body)
		var offered []string
		form.Find(`select[name="expires_in"] option`).Each(func(_ int, s *goquery.Selection) {
			v, _ := s.Attr("value")
			offered = append(offered, v)
		})
		if got := strings.Join(offered, " "); got != "7d 30d 90d custom" {
			t.Errorf("choices %q, want only those within 90 days", got)
		}
		if selected, _ := form.Find(`select[name="expires_in"] option[selected]`).Attr("value"); selected != "90d" {
			t.Errorf("default choice %q, want the longest allowed, 90d", selected)
		}
		tooLate := app.Store.Now().AddDate(0, 0, 100).Format(time.DateOnly)
		for field, f := range map[string]url.Values{
			"expires_in": createForm("forever", models.ScopeManageDocumentation, "never"),
			"expires_at": {"name": {"late"}, "scope": {"manage-documentation"}, "expires_in": {"custom"}, "expires_at": {tooLate}},
		} {
			res := admin.Post("/admin/api-keys", f)
			wantStatus(t, res, http.StatusUnprocessableEntity)
			if got := doc(t, res.Body).Find(`[data-testid="error-` + field + `"]`).Text(); !strings.Contains(got, "90 days") {
				t.Errorf("%s: message %q does not state the 90-day policy", field, got)
			}
		}
		wantStatus(t, admin.Post("/admin/api-keys", createForm("within", models.ScopeManageDocumentation, "90d")), http.StatusOK)
	}, func(cfg *config.Config) { cfg.MaxKeyLifetime = 90 * 24 * time.Hour })
}

func TestCreateShowsSecretOnce(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client) {
		res := admin.Post("/admin/api-keys", createForm("Nightly <export>", models.ScopeReadOnly, "180d"))
		wantStatus(t, res, http.StatusOK)
		if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", cc)
		}
		d := doc(t, res.Body)
		secret, _ := d.Find(`[data-testid="api-key-secret"]`).Attr("value")
		if !secretInPage.MatchString(secret) {
			t.Fatalf("secret %q is not a ksk_ secret", secret)
		}
		if got := d.Find(`[data-testid="api-key-secret-formatted"]`).Text(); got != "X-API-SECRET: "+secret {
			t.Errorf("formatted secret %q, want the header line", got)
		}
		key, err := app.Store.APIKeyBySecretHash(context.Background(), models.HashSecret(secret))
		if err != nil || key.Name != "Nightly <export>" || key.Scope != models.ScopeReadOnly {
			t.Fatalf("stored key = %+v, %v", key, err)
		}
		if key.ExpiresAt == nil || key.ExpiresAt.Sub(app.Store.Now().AddDate(0, 0, 180)).Abs() > time.Minute {
			t.Errorf("expires at %v, want 180 days from now", key.ExpiresAt)
		}
		if got := d.Find(`[data-testid="api-key-public-id"]`).Text(); got != key.PublicID {
			t.Errorf("public id shown %q, want %q", got, key.PublicID)
		}
		list := admin.Get("/admin/api-keys")
		if strings.Contains(list.Body, secret) || strings.Contains(admin.Get("/admin/api-keys/"+key.PublicID+"/delete").Body, secret) {
			t.Error("the secret is shown again after creation")
		}
		if strings.Contains(app.Logs(), secret) || strings.Contains(app.Logs(), secret[4:20]) {
			t.Error("the secret reached the log")
		}
		if names := rowNames(t, list.Body); len(names) != 1 || names[0] != "Nightly <export>" {
			t.Errorf("list rows %q, want the new key", names)
		}

		scanner := admin.Post("/admin/api-keys", createForm("Snowflake scanner", models.ScopeScanner, "never"))
		wantStatus(t, scanner, http.StatusOK)
		sd := doc(t, scanner.Body)
		secret, _ = sd.Find(`[data-testid="api-key-secret"]`).Attr("value")
		if got, want := sd.Find(`[data-testid="api-key-secret-formatted"]`).Text(), `authentication { api-key { secret = "`+secret+`" } }`; got != want {
			t.Errorf("scanner format %q, want %q", got, want)
		}
		key, _ = app.Store.APIKeyBySecretHash(context.Background(), models.HashSecret(secret))
		if key.ExpiresAt != nil {
			t.Errorf("never-expiring key has expiry %v", key.ExpiresAt)
		}
	})
}

func TestCreateOverHTMX(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client) {
		dialog := admin.HTMX(http.MethodGet, "/admin/api-keys/new", "dialog-slot", nil)
		wantStatus(t, dialog, http.StatusOK)
		if d := doc(t, dialog.Body); d.Find(`dialog[data-testid="new-api-key-dialog"]`).Length() != 1 || d.Find("html > head > title").Length() != 0 {
			t.Fatalf("new form over htmx is not a bare dialog fragment:\n%s", dialog.Body)
		}
		invalid := admin.HTMX(http.MethodPost, "/admin/api-keys", "dialog-slot", createForm("", models.ScopeManageDocumentation, "30d"))
		wantStatus(t, invalid, http.StatusUnprocessableEntity)
		if doc(t, invalid.Body).Find(`dialog [data-testid="error-name"]`).Length() != 1 {
			t.Errorf("invalid htmx create does not re-render the dialog with the message:\n%s", invalid.Body)
		}
		res := admin.HTMX(http.MethodPost, "/admin/api-keys", "dialog-slot", createForm("BI gateway", models.ScopeManageDocumentation, "30d"))
		wantStatus(t, res, http.StatusOK)
		d := doc(t, res.Body)
		secretDialog := d.Find(`dialog[data-testid="api-key-secret-dialog"]`)
		if secretDialog.Length() != 1 {
			t.Fatalf("no secret dialog in:\n%s", res.Body)
		}
		if v, _ := secretDialog.Attr("hx-history"); v != "false" {
			t.Errorf("secret dialog hx-history = %q, want false", v)
		}
		if oob, _ := d.Find(`#api-key-list`).Attr("hx-swap-oob"); oob != "true" {
			t.Errorf("list region is not swapped out of band (hx-swap-oob=%q)", oob)
		}
		if names := rowNames(t, res.Body); len(names) != 1 || names[0] != "BI gateway" {
			t.Errorf("refreshed list rows %q, want the new key", names)
		}
		// The list behind the dialog is refreshed as it was shown: sorted, searched.
		sorted := admin.Do(http.MethodPost, "/admin/api-keys", strings.NewReader(createForm("Atlas sync", models.ScopeReadOnly, "30d").Encode()), map[string]string{
			"HX-Request": "true", "HX-Target": "dialog-slot", "X-CSRF-Token": admin.CSRF, "Content-Type": "application/x-www-form-urlencoded",
			"HX-Current-URL": app.URL + "/admin/api-keys?q=a&sort=-name",
		})
		wantStatus(t, sorted, http.StatusOK)
		if names := rowNames(t, sorted.Body); !slices.Equal(names, []string{"BI gateway", "Atlas sync"}) {
			t.Errorf("list behind the secret, sorted by name Z to A: got %q, want [BI gateway Atlas sync]", names)
		}
		d = doc(t, sorted.Body)
		if got := d.Find(`#api-key-list input[name="sort"]`).AttrOr("value", ""); got != "-name" {
			t.Errorf("sort the next search sends: got %q, want %q", got, "-name")
		}
		if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", cc)
		}
	})
}

func TestListSearchSortPaging(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client) {
		empty := doc(t, admin.Get("/admin/api-keys").Body)
		if empty.Find(`[data-testid="api-key-empty"]`).Length() != 1 || !strings.Contains(empty.Find(`[data-testid="api-key-empty"]`).Text(), "script, a scanner") {
			t.Error("no empty state explaining what keys are for")
		}
		ctx := context.Background()
		start := time.Now().Add(-100 * time.Hour)
		for i := range 30 {
			app.Store.SetClock(func() time.Time { return start.Add(time.Duration(i) * time.Hour) })
			name := "service " + string(rune('A'+i%26)) + string(rune('a'+i/26))
			if _, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: name, Scope: models.ScopeReadOnly}); err != nil {
				t.Fatal(err)
			}
		}
		app.Store.SetClock(time.Now)
		page := admin.Get("/admin/api-keys")
		d := doc(t, page.Body)
		for _, column := range []string{"Name", "Scope", "Creation date", "Expiration date", "Last used"} {
			if !strings.Contains(d.Find("thead").Text(), column) {
				t.Errorf("no %q column", column)
			}
		}
		if names := rowNames(t, page.Body); len(names) != 25 || names[0] != "service Db" {
			t.Errorf("first page: %d rows starting %q, want 25 newest first (service Db)", len(names), names[0])
		}
		if got := d.Find(`[data-testid="api-key-row"] td`).Eq(3).Text(); !strings.Contains(got, "Never") {
			t.Errorf("expiration cell %q, want Never", got)
		}
		second := rowNames(t, admin.Get("/admin/api-keys?page=2").Body)
		if len(second) != 5 || second[4] != "service Aa" {
			t.Errorf("page 2 rows %q, want the 5 oldest", second)
		}
		if got := rowNames(t, admin.Get("/admin/api-keys?page=99").Body); len(got) != 5 {
			t.Errorf("page past the end shows %d rows, want the last page", len(got))
		}
		byName := rowNames(t, admin.Get("/admin/api-keys?sort=name").Body)
		if byName[0] != "service Aa" || byName[1] != "service Ab" {
			t.Errorf("sorted by name starts %q, want service Aa, service Ab", byName[:2])
		}
		region := admin.HTMX(http.MethodGet, "/admin/api-keys?q=SERVICE+C", "api-key-list", nil)
		wantStatus(t, region, http.StatusOK)
		if strings.Contains(region.Body, "<html") {
			t.Error("htmx search returned the whole page, want the list region only")
		}
		if got := rowNames(t, region.Body); strings.Join(got, ",") != "service Cb,service Ca" {
			t.Errorf("search rows %q, want service Cb, service Ca", got)
		}
		none := doc(t, admin.Get("/admin/api-keys?q=%3Cscript%3E").Body)
		if !strings.Contains(none.Find(`[data-testid="api-key-no-match"]`).Text(), "<script>") {
			t.Error("no-match message does not show the search, escaped")
		}
	})
}

func TestHostileNameIsEscaped(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client) {
		hostile := `<img src=x onerror=alert(1)>"'`
		wantStatus(t, admin.Post("/admin/api-keys", createForm(hostile, models.ScopeManageDocumentation, "30d")), http.StatusOK)
		res := admin.Get("/admin/api-keys")
		if strings.Contains(res.Body, "<img src=x") {
			t.Fatal("the key name is rendered as HTML")
		}
		if names := rowNames(t, res.Body); len(names) != 1 || names[0] != hostile {
			t.Errorf("name shown %q, want %q as text", names, hostile)
		}
	})
}

func TestDelete(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client) {
		ctx := context.Background()
		plain, _, _ := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Plain", Scope: models.ScopeManageDocumentation})
		viaHTMX, _, _ := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Via htmx", Scope: models.ScopeAdmin})

		confirm := admin.Get("/admin/api-keys/" + plain.PublicID + "/delete?return=" + url.QueryEscape("/admin/api-keys?sort=name"))
		wantStatus(t, confirm, http.StatusOK)
		d := doc(t, confirm.Body)
		if !strings.Contains(d.Find("h1").Text(), "Plain") || d.Find(`[data-testid="delete-scope"]`).Text() != "Manage documentation" ||
			!strings.Contains(d.Find(`[data-testid="delete-warning"]`).Text(), "will no longer be able to connect") ||
			!strings.Contains(d.Find(`[data-testid="delete-last-used"]`).Text(), "Never used") {
			t.Errorf("confirmation does not name the key, scope, last use and the warning:\n%s", confirm.Body)
		}
		res := admin.Post("/admin/api-keys/"+plain.PublicID+"/delete", url.Values{"return": {"/admin/api-keys?sort=name"}})
		wantStatus(t, res, http.StatusSeeOther)
		if got := res.Header.Get("Location"); got != "/admin/api-keys?sort=name" {
			t.Errorf("redirect to %q, want back to the list as it was", got)
		}
		list := admin.Get("/admin/api-keys?sort=name")
		if !strings.Contains(doc(t, list.Body).Find(`[data-testid="flash"]`).Text(), "“Plain” deleted") {
			t.Error("no notice after the delete")
		}
		if names := rowNames(t, list.Body); strings.Join(names, ",") != "Via htmx" {
			t.Errorf("rows after delete %q, want only Via htmx", names)
		}
		if strings.Contains(doc(t, admin.Get("/admin/api-keys").Body).Find(`[data-testid="flash"]`).Text(), "deleted") {
			t.Error("the notice shows twice")
		}

		dialog := admin.HTMX(http.MethodGet, "/admin/api-keys/"+viaHTMX.PublicID+"/delete", "dialog-slot", nil)
		if doc(t, dialog.Body).Find(`dialog[data-testid="delete-api-key-dialog"]`).Length() != 1 {
			t.Fatalf("no delete dialog over htmx:\n%s", dialog.Body)
		}
		res = admin.HTMX(http.MethodDelete, "/admin/api-keys/"+viaHTMX.PublicID, "dialog-slot", nil)
		wantStatus(t, res, http.StatusOK)
		removed := doc(t, res.Body)
		if oob, _ := removed.Find(`#api-key-list`).Attr("hx-swap-oob"); oob != "true" || removed.Find(`[data-testid="api-key-empty"]`).Length() != 1 {
			t.Errorf("htmx delete of the last key does not refresh the list to its empty state out of band:\n%s", res.Body)
		}
		if !strings.Contains(removed.Find(`#flash[hx-swap-oob]`).Text(), "“Via htmx” deleted") {
			t.Errorf("htmx delete does not say what was deleted:\n%s", res.Body)
		}
		for _, r := range []*handlerstest.Response{
			admin.HTMX(http.MethodDelete, "/admin/api-keys/"+viaHTMX.PublicID, "dialog-slot", nil),
			admin.Post("/admin/api-keys/"+viaHTMX.PublicID+"/delete", nil),
			admin.Get("/admin/api-keys/ak_doesnotexist0000/delete"),
		} {
			wantStatus(t, r, http.StatusNotFound)
			if !strings.Contains(r.Body, "no longer exists") {
				t.Errorf("404 without a clear message:\n%s", r.Body)
			}
		}
		if page, _ := app.Store.ListAPIKeys(ctx, models.APIKeyQuery{}); page.Total != 0 {
			t.Errorf("%d keys left, want 0", page.Total)
		}
	})
}

func TestDeleteRecentlyUsedKeyNeedsItsName(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client) {
		ctx := context.Background()
		key, _, _ := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Lineage export", Scope: models.ScopeReadOnly})
		now := app.Store.Now()
		err := app.Store.RecordAPIKeyUses(ctx, []models.APIKeyUse{
			{APIKeyID: key.ID, At: now.Add(-2 * time.Hour), IP: "10.0.0.7", Client: "lineage-cron/2.1"},
			{APIKeyID: key.ID, At: now.Add(-40 * 24 * time.Hour), IP: "10.0.0.9", Client: "old-script/0.1"},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		d := doc(t, admin.Get("/admin/api-keys/"+key.PublicID+"/delete").Body)
		clients := d.Find(`[data-testid="delete-client"]`)
		if clients.Length() != 1 || !strings.Contains(clients.Text(), "lineage-cron/2.1") || !strings.Contains(clients.Text(), "2 hours ago") {
			t.Errorf("clients in the last 30 days: %q, want lineage-cron/2.1 seen 2 hours ago only", clients.Text())
		}
		if d.Find(`[data-testid="confirm-name"]`).Length() != 1 {
			t.Fatal("a key used in the last 7 days does not ask for its name")
		}
		for _, typed := range []string{"", "lineage export", "Lineage"} {
			res := admin.Post("/admin/api-keys/"+key.PublicID+"/delete", url.Values{"confirm_name": {typed}})
			wantStatus(t, res, http.StatusUnprocessableEntity)
			d := doc(t, res.Body)
			if d.Find(`[data-testid="error-confirm_name"]`).Length() != 1 {
				t.Errorf("typed %q: no message beside the name field", typed)
			}
			if got := d.Find(`[data-testid="confirm-name"]`).AttrOr("value", ""); got != typed {
				t.Errorf("typed %q: the field shows %q after the error, want what was typed", typed, got)
			}
		}
		if _, err := app.Store.APIKeyByPublicID(ctx, key.PublicID); err != nil {
			t.Fatalf("a wrong name deleted the key: %v", err)
		}
		// htmx sends a DELETE's fields in the query string, the CSRF token in its header.
		wrong := admin.HTMX(http.MethodDelete, "/admin/api-keys/"+key.PublicID+"?confirm_name=lineage", "dialog-slot", nil)
		wantStatus(t, wrong, http.StatusUnprocessableEntity)
		if doc(t, wrong.Body).Find(`dialog [data-testid="error-confirm_name"]`).Length() != 1 {
			t.Errorf("wrong name over htmx does not re-render the dialog with the message:\n%s", wrong.Body)
		}
		right := admin.HTMX(http.MethodDelete, "/admin/api-keys/"+key.PublicID+"?confirm_name="+url.QueryEscape("Lineage export"), "dialog-slot", nil)
		wantStatus(t, right, http.StatusOK)
		if _, err := app.Store.APIKeyByPublicID(ctx, key.PublicID); !errors.Is(err, models.ErrAPIKeyNotFound) {
			t.Errorf("after typing the right name over htmx: %v, want the key gone", err)
		}
	})
}

func TestSecurityHeaders(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client) {
		for _, path := range []string{"/admin/api-keys", "/login", "/no-such-page"} {
			res := admin.Get(path)
			csp := res.Header.Get("Content-Security-Policy")
			nonce := regexp.MustCompile(`'nonce-([^']+)'`).FindStringSubmatch(csp)
			if nonce == nil || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("%s: CSP %q, want a nonce, frame-ancestors 'none' and no unsafe-inline", path, csp)
				continue
			}
			doc(t, res.Body).Find("script").Each(func(_ int, s *goquery.Selection) {
				if got, _ := s.Attr("nonce"); got != nonce[1] {
					t.Errorf("%s: script nonce %q, want %q", path, got, nonce[1])
				}
			})
			if strings.Contains(res.Body, " style=") || strings.Contains(res.Body, "<style") {
				t.Errorf("%s: inline style in the page", path)
			}
			for header, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
				if got := res.Header.Get(header); got != want {
					t.Errorf("%s: %s = %q, want %q", path, header, got, want)
				}
			}
		}
		if cc := admin.Get("/admin/api-keys").Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("authenticated page Cache-Control %q, want no-store", cc)
		}
		big := admin.Post("/admin/api-keys", url.Values{"name": {strings.Repeat("x", 100_000)}})
		wantStatus(t, big, http.StatusRequestEntityTooLarge)
	})
}

func TestSetupLink(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			app := handlerstest.New(t, target)
			token, err := app.Store.CreateSetupToken(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			visitor := app.Client(t)
			wantStatus(t, visitor.Get("/setup?token=wrong"), http.StatusNotFound)
			wantStatus(t, visitor.Get("/setup?token="+url.QueryEscape(token)), http.StatusOK)
			short := visitor.Post("/setup", url.Values{"token": {token}, "name": {"Root"}, "email": {"root@example.com"}, "password": {"short"}})
			wantStatus(t, short, http.StatusUnprocessableEntity)
			res := visitor.Post("/setup", url.Values{"token": {token}, "name": {"Root"}, "email": {"root@example.com"}, "password": {"a long enough password"}})
			wantStatus(t, res, http.StatusSeeOther)
			wantStatus(t, visitor.Get("/admin/api-keys"), http.StatusOK)
			// Once the first Super admin exists, the link says that setup is done.
			again := app.Client(t)
			wantSetupDone(t, again.Get("/setup?token="+url.QueryEscape(token)))
			if strings.Contains(app.Logs(), token) {
				t.Error("the setup token reached the access log")
			}
		})
	}
}

func TestHealth(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			app := handlerstest.New(t, target)
			c := app.Client(t)
			wantStatus(t, c.Get("/healthz"), http.StatusOK)
			wantStatus(t, c.Get("/readyz"), http.StatusOK)
			app.Store.Close()
			wantStatus(t, c.Get("/healthz"), http.StatusOK)
			wantStatus(t, c.Get("/readyz"), http.StatusServiceUnavailable)
		})
	}
}

func TestDeleteOverHTMXKeepsTheListAsShown(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client) {
		ctx := context.Background()
		for _, name := range []string{"Alpha one", "Alpha two", "Beta"} {
			if _, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: name, Scope: models.ScopeReadOnly}); err != nil {
				t.Fatal(err)
			}
		}
		page, _ := app.Store.ListAPIKeys(ctx, models.APIKeyQuery{Search: "alpha one"})
		res := admin.Do(http.MethodDelete, "/admin/api-keys/"+page.Keys[0].PublicID, nil, map[string]string{
			"HX-Request": "true", "HX-Target": "dialog-slot", "X-CSRF-Token": admin.CSRF,
			"HX-Current-URL": app.URL + "/admin/api-keys?q=alpha&sort=name",
		})
		wantStatus(t, res, http.StatusOK)
		if got := strings.Join(rowNames(t, res.Body), ","); got != "Alpha two" {
			t.Errorf("refreshed rows %q, want the search kept: Alpha two", got)
		}
	})
}

func TestParallelGuessesAreThrottledToo(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, _ *handlerstest.Client) {
		// One browser each (a client remembers the CSRF token of each answer, so it is not
		// shared between goroutines), all from the same address.
		attackers := make([]*handlerstest.Client, 12)
		for i := range attackers {
			attackers[i] = app.Client(t)
			attackers[i].Get("/login")
		}
		statuses := make(chan int, len(attackers))
		var wg sync.WaitGroup
		for _, attacker := range attackers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := attacker.Post("/login", url.Values{"email": {adminEmail}, "password": {"guess"}})
				statuses <- res.StatusCode
			}()
		}
		wg.Wait()
		close(statuses)
		counts := map[int]int{}
		for status := range statuses {
			counts[status]++
		}
		if counts[http.StatusUnauthorized] != 5 || counts[http.StatusTooManyRequests] != 7 {
			t.Errorf("12 parallel guesses: %v, want exactly 5 checked (401) and 7 refused (429)", counts)
		}
		// A successful sign-in gives its attempt back: the account is not locked by its owner.
		owner := app.Client(t)
		other := app.CreateUser(t, "owner@example.com", models.PermissionConnectivityAdmin)
		for range 8 {
			owner.Login(other.Email)
		}
	})
}

func TestDeleteCountsUsesNotYetWritten(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client) {
		key, secret, err := app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "Just used", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, app.Client(t).Do(http.MethodGet, "/api/v1/auth/verify", nil, map[string]string{"X-API-SECRET": secret, "User-Agent": "cron/1"}), http.StatusOK)
		d := doc(t, admin.Get("/admin/api-keys/"+key.PublicID+"/delete").Body)
		if d.Find(`[data-testid="confirm-name"]`).Length() != 1 || !strings.Contains(d.Find(`[data-testid="delete-clients"]`).Text(), "cron/1") {
			t.Error("a key used a moment ago, not yet written, can be deleted without typing its name")
		}
	})
}

func TestCustomDateKeyWorksThroughThatDay(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client) {
		day := app.Store.Now().AddDate(0, 0, 10)
		form := url.Values{"name": {"until the tenth"}, "scope": {"manage-documentation"}, "expires_in": {"custom"}, "expires_at": {day.Format(time.DateOnly)}}
		res := admin.Post("/admin/api-keys", form)
		wantStatus(t, res, http.StatusOK)
		secret, _ := doc(t, res.Body).Find(`[data-testid="api-key-secret"]`).Attr("value")
		key, err := app.Store.APIKeyBySecretHash(context.Background(), models.HashSecret(secret))
		if err != nil {
			t.Fatal(err)
		}
		want := time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, time.UTC)
		if key.ExpiresAt == nil || !key.ExpiresAt.Equal(want) {
			t.Errorf("expires at %v, want the end of %s UTC (%v)", key.ExpiresAt, day.Format(time.DateOnly), want)
		}
		// The list shows the day that was picked, not the first day the key no longer works,
		// under the notice of the key created.
		list := doc(t, admin.Get("/admin/api-keys").Body)
		if got, want := list.Find(`[data-testid="flash"]`).Text(), "API key “until the tenth” created. It works through "+day.UTC().Format("Mon, 2 Jan 2006")+" (UTC)."; !strings.Contains(got, want) {
			t.Errorf("notice after the secret page: got %q, want %q", got, want)
		}
		row := list.Find(`[data-key-id="` + key.PublicID + `"]`)
		if got, want := row.Find(`[data-testid="expiry-date"]`).Text(), day.UTC().Format("2 Jan 2006"); got != want {
			t.Errorf("expiry in the list: got %q, want the picked day %q", got, want)
		}
	})
}

func TestForwardedForIsBelievedOnlyFromTrustedProxies(t *testing.T) {
	guess := func(c *handlerstest.Client, email, forwardedFor string) int {
		form := url.Values{"email": {email}, "password": {"wrong"}, "_csrf": {c.CSRF}}
		return c.Do(http.MethodPost, "/login", strings.NewReader(form.Encode()), map[string]string{
			"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": forwardedFor,
		}).StatusCode
	}
	// Without a trusted proxy, a forged header does not make each guess a new address.
	eachApp(t, func(t *testing.T, app *handlerstest.App, _ *handlerstest.Client) {
		attacker := app.Client(t)
		attacker.Get("/login")
		for i := range 20 {
			guess(attacker, fmt.Sprintf("spray%d@example.com", i), fmt.Sprintf("203.0.113.%d", i))
		}
		if got := guess(attacker, "one.more@example.com", "203.0.113.99"); got != http.StatusTooManyRequests {
			t.Errorf("21st guess with a forged X-Forwarded-For: status %d, want 429", got)
		}
	})
	// Behind a trusted proxy, clients are told apart by the address it forwards.
	eachApp(t, func(t *testing.T, app *handlerstest.App, _ *handlerstest.Client) {
		attacker := app.Client(t)
		attacker.Get("/login")
		for i := range 20 {
			guess(attacker, fmt.Sprintf("spray%d@example.com", i), "203.0.113.7")
		}
		if got := guess(attacker, "one.more@example.com", "203.0.113.7"); got != http.StatusTooManyRequests {
			t.Errorf("21st guess from one forwarded address: status %d, want 429", got)
		}
		if got := guess(attacker, "colleague@example.com", "198.51.100.20"); got != http.StatusUnauthorized {
			t.Errorf("a guess from another client behind the proxy: status %d, want 401", got)
		}
	}, behindLoopbackProxy)
}

// behindLoopbackProxy configures an app that believes 127.0.0.1, the tests' clients but for
// those of handlerstest.App.ClientFrom, as a reverse proxy: its X-Forwarded-For and
// X-Request-Id.
func behindLoopbackProxy(cfg *config.Config) {
	_, loopback, _ := net.ParseCIDR("127.0.0.1/32")
	cfg.TrustedProxies = []*net.IPNet{loopback}
}

// Any key holder chooses its User-Agent. Bytes the database cannot store are cleaned, so they
// neither stop the batch of uses from being written nor reach the delete dialog as they are.
func TestUsesWithABadUserAgentAreWritten(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client) {
		ctx := context.Background()
		key, secret, _ := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Odd client", Scope: models.ScopeReadOnly})
		other, otherSecret, _ := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Plain client", Scope: models.ScopeReadOnly})
		wantStatus(t, app.Client(t).Do(http.MethodGet, "/api/v1/auth/verify", nil, map[string]string{"X-API-SECRET": secret, "User-Agent": "odd/1 \xff\xfe" + strings.Repeat("é", 300)}), http.StatusOK)
		wantStatus(t, app.Client(t).Do(http.MethodGet, "/api/v1/auth/verify", nil, map[string]string{"X-API-SECRET": otherSecret, "User-Agent": "cron/1"}), http.StatusOK)
		if err := app.Keys.FlushUsage(ctx); err != nil {
			t.Fatalf("uses with a bad User-Agent were not written: %v", err)
		}
		for _, k := range []*models.APIKey{key, other} {
			stored, err := app.Store.APIKeyByPublicID(ctx, k.PublicID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.LastUsedAt == nil || !utf8.ValidString(stored.LastUsedClient) {
				t.Errorf("%s: last used %v by %q", k.Name, stored.LastUsedAt, stored.LastUsedClient)
			}
		}
		clients := doc(t, admin.Get("/admin/api-keys/"+key.PublicID+"/delete").Body).Find(`[data-testid="delete-clients"]`).Text()
		if !strings.Contains(clients, "odd/1 \uFFFD") {
			t.Errorf("delete dialog clients %q, want the cleaned User-Agent", clients)
		}
	})
}

// The delete warning names the scanners first and the most recent other clients, and counts
// the ones it does not name.
func TestDeleteWarningNamesScannersFirstAndCountsTheRest(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client) {
		ctx := context.Background()
		key, _, _ := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Shared widely", Scope: models.ScopeScanner})
		now := app.Store.Now()
		uses := []models.APIKeyUse{{APIKeyID: key.ID, At: now.Add(-20 * 24 * time.Hour), IP: "192.0.2.1", Client: "pg-scanner", Scanner: true}}
		for i := range 25 {
			uses = append(uses, models.APIKeyUse{APIKeyID: key.ID, At: now.Add(-time.Duration(25-i) * time.Minute), IP: "192.0.2.2", Client: fmt.Sprintf("script/%d", i)})
		}
		if err := app.Store.RecordAPIKeyUses(ctx, uses, nil); err != nil {
			t.Fatal(err)
		}
		d := doc(t, admin.Get("/admin/api-keys/"+key.PublicID+"/delete").Body)
		items := d.Find(`[data-testid="delete-client"]`)
		if items.Length() != 20 {
			t.Fatalf("%d clients named, want 20", items.Length())
		}
		if first := items.First().Text(); !strings.Contains(first, "Scanner") || !strings.Contains(first, "pg-scanner") {
			t.Errorf("first named %q, want the scanner", first)
		}
		if second := items.Eq(1).Text(); !strings.Contains(second, "script/24") {
			t.Errorf("second named %q, want the most recent script", second)
		}
		if more := strings.TrimSpace(d.Find(`[data-testid="delete-more-clients"]`).Text()); more != "…and 6 more clients." {
			t.Errorf("count of the others %q, want %q", more, "…and 6 more clients.")
		}
	})
}

// Only a use in the last 7 days asks for the name: a key last used 8 days ago is deleted with
// its clients named but no name typed.
func TestKeyUsedMoreThanAWeekAgoIsDeletedWithoutItsName(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client) {
		ctx := context.Background()
		key, _, _ := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Last month's export", Scope: models.ScopeReadOnly})
		use := models.APIKeyUse{APIKeyID: key.ID, At: app.Store.Now().Add(-8 * 24 * time.Hour), IP: "192.0.2.1", Client: "export/2"}
		if err := app.Store.RecordAPIKeyUses(ctx, []models.APIKeyUse{use}, nil); err != nil {
			t.Fatal(err)
		}
		d := doc(t, admin.Get("/admin/api-keys/"+key.PublicID+"/delete").Body)
		if d.Find(`[data-testid="confirm-name"]`).Length() != 0 || !strings.Contains(d.Find(`[data-testid="delete-clients"]`).Text(), "export/2") {
			t.Fatal("a key last used 8 days ago asks for its name, or its client is not named")
		}
		wantStatus(t, admin.Post("/admin/api-keys/"+key.PublicID+"/delete", url.Values{}), http.StatusSeeOther)
		if _, err := app.Store.APIKeyByPublicID(ctx, key.PublicID); !errors.Is(err, models.ErrAPIKeyNotFound) {
			t.Fatalf("after delete: %v, want ErrAPIKeyNotFound", err)
		}
	})
}
