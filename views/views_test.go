package views_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"

	"keysmith/models"
	"keysmith/views"
)

func render(t *testing.T, c templ.Component) (*goquery.Document, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	d, err := goquery.NewDocumentFromReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return d, buf.String()
}

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func page() views.Page {
	return views.Page{Title: "API Keys", Nonce: "n0nce", CSRFToken: "tok",
		User:   &models.User{Name: "Ada", Email: "ada@example.com", Permission: models.PermissionSuperAdmin},
		Assets: views.Assets{PicoCSS: "/static/p.css", AppCSS: "/static/a.css", HTMX: "/static/h.js", AppJS: "/static/app.js"}}
}

func keyNamed(name string) models.APIKey {
	expires := now.Add(3 * 24 * time.Hour)
	used := now.Add(-2 * time.Hour)
	return models.APIKey{PublicID: "ak_0123456789abcdef", Name: name, Scope: models.ScopeScanner, Hint: "ksk_abcd…wxyz",
		CreatedAt: now.Add(-48 * time.Hour), ExpiresAt: &expires, LastUsedAt: &used, LastUsedClient: "snowflake-scanner"}
}

func TestListEscapesHostileNames(t *testing.T) {
	hostile := `</td><script>alert(1)</script><b onmouseover="x">`
	list := views.APIKeyList{Page: models.APIKeyPage{Keys: []models.APIKey{keyNamed(hostile)}, Total: 1, Page: 1, PerPage: 25}, Now: now, Sort: models.DefaultAPIKeySort}
	d, html := render(t, views.APIKeysPage(page(), list))
	if strings.Contains(html, "<script>alert") || strings.Contains(html, "<b onmouseover") {
		t.Fatal("a hostile name is rendered as markup")
	}
	row := d.Find(`[data-testid="api-key-row"]`)
	if id, _ := row.Attr("data-key-id"); id != "ak_0123456789abcdef" {
		t.Errorf("data-key-id = %q", id)
	}
	if got := row.Find(`[data-testid="api-key-name"]`).Text(); got != hostile {
		t.Errorf("name text %q, want %q", got, hostile)
	}
	if label, _ := row.Find(`[data-testid="delete-api-key"]`).Attr("aria-label"); label != "Delete "+hostile {
		t.Errorf("delete label %q", label)
	}
}

func TestListRowShowsStatusDatesAndLastUse(t *testing.T) {
	list := views.APIKeyList{Page: models.APIKeyPage{Keys: []models.APIKey{keyNamed("Scanner")}, Total: 1, Page: 1, PerPage: 25}, Now: now, Sort: models.DefaultAPIKeySort}
	d, _ := render(t, views.APIKeyListRegion(list))
	row := d.Find(`[data-testid="api-key-row"]`)
	if status, _ := row.Find(`[data-testid="status-badge"]`).Attr("data-status"); status != "expires-soon" {
		t.Errorf("status %q, want expires-soon", status)
	}
	if got := row.Find(`[data-testid="api-key-last-used"]`).Text(); !strings.Contains(got, "2 hours ago") || !strings.Contains(got, "snowflake-scanner") {
		t.Errorf("last used %q, want 2 hours ago by snowflake-scanner", got)
	}
	if title, _ := row.Find("time").First().Attr("title"); title != "Mon 23 Nov 2026 12:00:00 UTC" {
		t.Errorf("exact time on hover %q", title)
	}
	if !strings.Contains(row.Text(), "in 3 days") {
		t.Errorf("expiry not relative: %q", row.Text())
	}
	if sort, _ := d.Find(`th[aria-sort="descending"] a`).Attr("data-testid"); sort != "sort-created" {
		t.Errorf("sorted column %q, want sort-created", sort)
	}
}

func TestSecretAppearsOnlyInTheModal(t *testing.T) {
	secret := models.GenerateSecret()
	key := keyNamed("Scanner")
	d, html := render(t, views.SecretDialog(views.CreatedKey{Key: key, Secret: secret}))
	if got := d.Find(`[data-testid="api-key-secret"]`).Text(); got != secret {
		t.Errorf("raw secret %q, want %q", got, secret)
	}
	if n := strings.Count(html, secret); n != 3 {
		t.Errorf("secret appears %d times in the modal, want three times (formatted, raw and in the curl command)", n)
	}
	if d.Find(`dialog[hx-history="false"] [data-testid="secret-done"]`).Length() != 1 {
		t.Error("no \"Done\" in a history-free dialog")
	}
	if !strings.Contains(d.Text(), "will not be shown again") {
		t.Error("no warning that the secret is shown once")
	}
	list := views.APIKeyList{Page: models.APIKeyPage{Keys: []models.APIKey{key}, Total: 1, Page: 1, PerPage: 25}, Now: now}
	_, listHTML := render(t, views.APIKeysPage(page(), list))
	_, deleteHTML := render(t, views.DeleteDialog(views.DeleteKey{Key: key, Now: now, ReturnTo: "/admin/api-keys"}, "tok"))
	for name, html := range map[string]string{"list": listHTML, "delete": deleteHTML} {
		if strings.Contains(html, secret) || strings.Contains(html, secret[4:24]) {
			t.Errorf("the %s view shows the secret", name)
		}
	}
}

func TestNewFormMarksWrongFields(t *testing.T) {
	form := views.APIKeyForm{Name: `"><script>`, Scope: "admin", ExpiresIn: "custom",
		Errors:  models.FieldErrors{"name": "Enter a name for the key.", "expires_at": "Choose a date in the future."},
		Choices: []views.ExpiryChoice{{Value: "180d", Label: "180 days"}, {Value: "custom", Label: "Custom date"}}}
	d, html := render(t, views.NewAPIKeyPage(page(), form))
	if strings.Contains(html, `"><script>`) {
		t.Error("typed name not escaped")
	}
	if got := d.Find(`[data-testid="error-name"]`).Text(); got != "Enter a name for the key." {
		t.Errorf("name error %q", got)
	}
	if v, _ := d.Find(`#api-key-name`).Attr("aria-invalid"); v != "true" {
		t.Error("name field not marked invalid")
	}
	if d.Find(`[data-testid="error-scope"]`).Length() != 0 {
		t.Error("a correct field shows an error")
	}
	if d.Find(`input[name="scope"][value="admin"][checked]`).Length() != 1 {
		t.Error("chosen scope not kept")
	}
	var descriptions []string
	d.Find(`input[name="scope"]`).Each(func(_ int, s *goquery.Selection) {
		descriptions = append(descriptions, s.Parent().Find("small").Text())
	})
	if len(descriptions) != 4 || !strings.Contains(descriptions[2], "users and the metamodel") {
		t.Errorf("scope descriptions %q", descriptions)
	}
}

func TestRelative(t *testing.T) {
	for _, tc := range []struct {
		offset time.Duration
		want   string
	}{
		{-30 * time.Second, "just now"},
		{-5 * time.Minute, "5 minutes ago"},
		{-time.Hour, "1 hour ago"},
		{3*24*time.Hour + time.Minute, "in 3 days"},
		{-90 * 24 * time.Hour, "3 months ago"},
		{400 * 24 * time.Hour, "in 1 year"},
	} {
		if got := views.Relative(now.Add(tc.offset), now); got != tc.want {
			t.Errorf("Relative(%v) = %q, want %q", tc.offset, got, tc.want)
		}
	}
}

func TestDeleteOverHTMXKeepsTheCSRFTokenOutOfTheURL(t *testing.T) {
	d, _ := render(t, views.DeleteDialog(views.DeleteKey{Key: keyNamed("k"), Now: now, ReturnTo: "/admin/api-keys"}, "tok"))
	form := d.Find(`form[hx-delete]`)
	// htmx sends a DELETE's parameters in the query string; the token goes in the
	// X-CSRF-Token header instead (hx-headers on the body).
	if params, _ := form.Attr("hx-params"); params != "not _csrf" {
		t.Errorf("hx-params = %q, want \"not _csrf\"", params)
	}
}

// TestSecretDialogOffersOneCopyFirst: one primary copy button, in the scope's format; the raw
// secret is the secondary one; no button copies and closes at once, which would overwrite what
// was copied before. Each field says what copying it copies.
func TestSecretDialogOffersOneCopyFirst(t *testing.T) {
	for _, tc := range []struct {
		scope      models.Scope
		label, did string
	}{
		{models.ScopeReadOnly, "Copy header line", "the header line"},
		{models.ScopeScanner, "Copy scanner configuration", "the scanner configuration"},
	} {
		key := keyNamed("Scanner")
		key.Scope = tc.scope
		d, _ := render(t, views.SecretDialog(views.CreatedKey{Key: key, Secret: models.GenerateSecret()}))
		copies := d.Find(`[data-copy]`)
		if copies.Length() != 3 {
			t.Fatalf("%s: copy buttons: got %d, want 3 (formatted, raw, curl command)", tc.scope, copies.Length())
		}
		primary := copies.Not(".secondary")
		if primary.Length() != 1 || primary.AttrOr("data-testid", "") != "copy-formatted" {
			t.Errorf("%s: primary copy buttons: got %d (%q), want copy-formatted alone", tc.scope, primary.Length(), primary.AttrOr("data-testid", ""))
		}
		if got := strings.TrimSpace(primary.Text()); got != tc.label {
			t.Errorf("%s: primary copy button: got %q, want %q", tc.scope, got, tc.label)
		}
		if got := d.Find(`#secret-formatted`).AttrOr("data-copied", ""); got != tc.did {
			t.Errorf("%s: what copying the formatted secret copies: got %q, want %q", tc.scope, got, tc.did)
		}
		if got := d.Find(`#secret-raw`).AttrOr("data-copied", ""); got != "the secret only" {
			t.Errorf("%s: what copying the raw secret copies: got %q, want %q", tc.scope, got, "the secret only")
		}
		if got := d.Find(`#secret-try`).AttrOr("data-copied", ""); got != "the curl command" {
			t.Errorf("%s: what copying the command copies: got %q, want %q", tc.scope, got, "the curl command")
		}
		if n := d.Find(`[data-close-after-copy], [data-testid="copy-and-close"]`).Length(); n != 0 {
			t.Errorf("%s: buttons that copy and close: got %d, want 0", tc.scope, n)
		}
	}
}

// TestExpiryShowsTheLastDayTheKeyWorks: a custom date, stored as the first instant after the
// picked day, is shown as the picked day; a preset as the day it ends, the exact time on hover.
func TestExpiryShowsTheLastDayTheKeyWorks(t *testing.T) {
	for _, tc := range []struct {
		name             string
		expiresAt        time.Time
		date, day, hover string
	}{
		{"custom date 29 May", time.Date(2027, 5, 30, 0, 0, 0, 0, time.UTC), "29 May 2027", "29 May 2027", "Works through the end of 29 May 2027 (UTC)"},
		{"preset ending at 14:23", time.Date(2027, 5, 29, 14, 23, 5, 0, time.UTC), "29 May 2027", "29 May 2027", "Works until Sat 29 May 2027 14:23:05 UTC"},
	} {
		key := keyNamed("Nightly export")
		key.ExpiresAt = &tc.expiresAt
		list := views.APIKeyList{Page: models.APIKeyPage{Keys: []models.APIKey{key}, Total: 1, Page: 1, PerPage: 25}, Now: now, Sort: models.DefaultAPIKeySort}
		d, _ := render(t, views.APIKeyListRegion(list))
		shown := d.Find(`[data-testid="api-key-expires"] [data-testid="expiry-date"]`)
		if got := shown.Text(); got != tc.date {
			t.Errorf("%s: list shows %q, want %q", tc.name, got, tc.date)
		}
		if got := shown.AttrOr("title", ""); got != tc.hover {
			t.Errorf("%s: hover says %q, want %q", tc.name, got, tc.hover)
		}
		if got := views.ExpiresOnLine(tc.expiresAt); got != "This key will expire on "+tc.day+"." {
			t.Errorf("%s: line under the choice: got %q, want %q", tc.name, got, "This key will expire on "+tc.day+".")
		}
		d, _ = render(t, views.SecretDialog(views.CreatedKey{Key: key, Secret: models.GenerateSecret()}))
		if got := d.Find(`[data-testid="secret-expires"]`).Text(); strings.TrimSpace(got) != tc.date {
			t.Errorf("%s: secret dialog says it expires %q, want %q", tc.name, strings.TrimSpace(got), tc.date)
		}
		if got, want := d.Find(`dialog`).AttrOr("data-done", ""), "API key “Nightly export” created. It works through "+tc.day+" (UTC)."; got != want {
			t.Errorf("%s: notice after the secret closes: got %q, want %q", tc.name, got, want)
		}
	}
}

// TestExpiryLineFollowsTheChoice: the line under the expiry choice names the date of the
// chosen preset, of the picked custom date, or says the key never expires.
func TestExpiryLineFollowsTheChoice(t *testing.T) {
	choices := []views.ExpiryChoice{
		{Value: "30d", Label: "30 days", Line: views.ExpiresOnLine(now.AddDate(0, 0, 30))},
		{Value: "custom", Label: "Custom date", Line: views.CustomDateHint},
		{Value: "never", Label: "Never", Line: views.NeverExpiresLine},
	}
	for _, tc := range []struct{ expiresIn, expiresAt, want string }{
		{"30d", "", "This key will expire on 25 Dec 2026."},
		{"custom", "2027-05-29", "This key will expire on 29 May 2027."},
		{"custom", "", views.CustomDateHint},
		{"custom", "29/05/2027", views.CustomDateHint},
		{"never", "", "This key will never expire."},
	} {
		form := views.APIKeyForm{ExpiresIn: tc.expiresIn, ExpiresAt: tc.expiresAt, Choices: choices, Errors: models.FieldErrors{}}
		d, _ := render(t, views.NewAPIKeyDialog(form, "tok"))
		if got := strings.TrimSpace(d.Find(`[data-testid="expiry-line"]`).Text()); got != tc.want {
			t.Errorf("%s %q: line %q, want %q", tc.expiresIn, tc.expiresAt, got, tc.want)
		}
		if got := d.Find(`option[value="30d"]`).AttrOr("data-line", ""); got != choices[0].Line {
			t.Errorf("the 30 days option carries the line %q, want %q", got, choices[0].Line)
		}
	}
}

// TestErrorPageLeadsOnlyWhereTheUserMayGo: the primary button leads to the first page the user
// may open (Your account when they may open none of the console), and none to a page they may
// not; a refused user, or one with no page to open, is offered to sign in as someone else as
// the secondary action.
func TestErrorPageLeadsOnlyWhereTheUserMayGo(t *testing.T) {
	for _, tc := range []struct {
		name       string
		permission models.Permission
		status     int
		signOut    bool
		home       string
	}{
		{"admin, not found", models.PermissionConnectivityAdmin, 404, false, "/admin/api-keys"},
		{"admin, refused", models.PermissionConnectivityAdmin, 403, true, "/admin/api-keys"},
		{"no permission, refused", models.PermissionNone, 403, true, "/account"},
		{"no permission, not found", models.PermissionNone, 404, true, "/account"},
	} {
		p := page()
		p.User.Permission = tc.permission
		d, _ := render(t, views.ErrorPage(p, views.ErrorView{Status: tc.status, Title: "T", Message: "M", Retry: "/admin/scanners"}))
		form := d.Find(`[data-testid="error-page"] form[action="/logout"]`)
		if got := form.Length() == 1; got != tc.signOut {
			t.Errorf("%s: offers to sign in as someone else: got %v, want %v", tc.name, got, tc.signOut)
		}
		if got := d.Find(`[data-testid="error-home"]`).AttrOr("href", ""); got != tc.home {
			t.Errorf("%s: link to a page: got %q, want %q", tc.name, got, tc.home)
		}
		actions := d.Find(`.error-actions`).Children()
		if !actions.First().Is(`[data-testid="error-home"]:not(.secondary)`) {
			t.Errorf("%s: the primary action is not the link to the first page the user may open", tc.name)
		}
		if tc.signOut && !form.Find(`button`).HasClass("secondary") {
			t.Errorf("%s: Sign in as someone else is not the secondary action", tc.name)
		}
		if tc.permission == models.PermissionNone && d.Find(`a[href^="/admin/"]`).Length() != 0 {
			t.Errorf("%s: the page links to a page the user may not open", tc.name)
		}
	}
}
