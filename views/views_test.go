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
	if got, _ := d.Find(`[data-testid="api-key-secret"]`).Attr("value"); got != secret {
		t.Errorf("raw secret %q, want %q", got, secret)
	}
	if n := strings.Count(html, secret); n != 2 {
		t.Errorf("secret appears %d times in the modal, want twice (formatted and raw)", n)
	}
	if d.Find(`dialog[hx-history="false"] [data-testid="copy-and-close"]`).Length() != 1 {
		t.Error("no \"Copy and go back to list\" in a history-free dialog")
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
		Errors:  map[string]string{"name": "Enter a name for the key.", "expires_at": "Choose a date in the future."},
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
