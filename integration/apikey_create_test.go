package integration

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keysmith/app/apptest"
	"keysmith/config"
	"keysmith/models"
)

// A name that reads like an existing key's is refused beside the name field, naming the key
// it looks like; invisible characters are refused too.
func TestCreateRefusesLookAlikeNames(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		for _, name := range []string{"Cafe\u0301", "Straße"} {
			wantStatus(t, admin.Post("/admin/api-keys", createForm(name, models.ScopeReadOnly, "30d")), http.StatusOK)
		}
		for _, tc := range []struct{ name, typed, want string }{
			{"NFC of the NFD name", "Caf\u00e9", "An API key named “Café” already exists"},
			{"other case", "CAFÉ", "An API key named “Café” already exists"},
			{"full-width", "Ｃａｆé", "An API key named “Café” already exists"},
			{"SS for ß", "STRASSE", "An API key named “Straße” already exists"},
			{"zero-width space", "Ca\u200bfé 2", "The name must not contain invisible or formatting characters (found U+200B)."},
			{"bidi overrides only", "\u202e\u202d", "The name must not contain invisible or formatting characters (found U+202E)."},
			{"marks only", "\u0301\u0301", "The name must contain a letter, digit, symbol or punctuation mark"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := admin.Post("/admin/api-keys", createForm(tc.typed, models.ScopeReadOnly, "30d"))
				wantStatus(t, res, http.StatusUnprocessableEntity)
				if got := doc(t, res.Body).Find(`[data-testid="error-name"]`).Text(); !strings.Contains(got, tc.want) {
					t.Errorf("message beside the name: got %q, want it to contain %q", got, tc.want)
				}
			})
		}
		res := admin.Post("/admin/api-keys", createForm("\x01\x02", models.ScopeReadOnly, "30d"))
		wantStatus(t, res, http.StatusUnprocessableEntity)
		page, _ := app.Store.ListAPIKeys(context.Background(), models.APIKeyQuery{Sort: models.SortNameAsc})
		if page.Total != 2 || page.Keys[0].Name != "Caf\u00e9" {
			t.Errorf("keys stored: got %d, first %q; want 2, the NFD name stored as NFC", page.Total, page.Keys[0].Name)
		}
	})
}

// A custom expiry is a day after today and no later than 9999-12-30; the latest one is
// stored, listed, and its key works, on both databases.
func TestCustomExpiryBounds(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		now := app.Store.Now()
		custom := func(name, date string) url.Values {
			return url.Values{"name": {name}, "scope": {"manage-documentation"}, "expires_in": {"custom"}, "expires_at": {date}}
		}
		if max, _ := doc(t, admin.Get("/admin/api-keys/new").Body).Find(`input[name="expires_at"]`).Attr("max"); max != "9999-12-30" {
			t.Errorf("date field max: got %q, want %q", max, "9999-12-30")
		}
		for _, tc := range []struct{ name, date, want string }{
			{"today", now.Format(time.DateOnly), "Choose a date in the future."},
			{"9999-12-31", "9999-12-31", "Choose a date no later than 9999-12-30."},
			{"year 10000", "10000-01-01", "Enter the date as YYYY-MM-DD."},
			{"far beyond", "99999-12-31", "Enter the date as YYYY-MM-DD."},
		} {
			res := admin.Post("/admin/api-keys", custom(tc.name, tc.date))
			wantStatus(t, res, http.StatusUnprocessableEntity)
			if got := doc(t, res.Body).Find(`[data-testid="error-expires_at"]`).Text(); got != tc.want {
				t.Errorf("%s: message beside the date: got %q, want %q", tc.name, got, tc.want)
			}
		}
		tomorrow := now.AddDate(0, 0, 1).Format(time.DateOnly)
		wantStatus(t, admin.Post("/admin/api-keys", custom("tomorrow", tomorrow)), http.StatusOK)
		res := admin.Post("/admin/api-keys", custom("latest", "9999-12-30"))
		wantStatus(t, res, http.StatusOK)
		secret := doc(t, res.Body).Find(`[data-testid="api-key-secret"]`).Text()
		key, err := app.Store.APIKeyBySecretHash(context.Background(), models.HashSecret(secret))
		if err != nil {
			t.Fatal(err)
		}
		if key.ExpiresAt == nil || !key.ExpiresAt.Equal(models.LatestExpiry) {
			t.Errorf("stored expiry: got %v, want %v", key.ExpiresAt, models.LatestExpiry)
		}

		for _, sort := range []string{"expires", "-expires", "name"} {
			list := admin.Get("/admin/api-keys?sort=" + sort)
			wantStatus(t, list, http.StatusOK)
			if got := strings.Join(rowNames(t, list.Body), ","); !strings.Contains(got, "latest") || !strings.Contains(got, "tomorrow") {
				t.Errorf("list by %s: got rows %q, want both keys", sort, got)
			}
		}
		if expires := doc(t, admin.Get("/admin/api-keys?q=latest").Body).Find(`[data-testid="api-key-expires"] time`).AttrOr("datetime", ""); expires != "9999-12-31T00:00:00Z" {
			t.Errorf("listed expiry: got %q, want %q", expires, "9999-12-31T00:00:00Z")
		}
		wantStatus(t, admin.Get("/admin/api-keys/"+key.PublicID+"/delete"), http.StatusOK)
		for _, path := range []string{"/api/v1/auth/verify", "/api/v1/items"} {
			wantStatus(t, app.Client(t).Do(http.MethodGet, path, nil, map[string]string{"X-API-SECRET": secret}), http.StatusOK)
		}
	})
}

func TestCreateValidation(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
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
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
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
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		res := admin.Post("/admin/api-keys", createForm("Nightly <export>", models.ScopeReadOnly, "180d"))
		wantStatus(t, res, http.StatusOK)
		if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", cc)
		}
		d := doc(t, res.Body)
		secret := d.Find(`[data-testid="api-key-secret"]`).Text()
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
		secret = sd.Find(`[data-testid="api-key-secret"]`).Text()
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
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
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

func TestCustomDateKeyWorksThroughThatDay(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		day := app.Store.Now().AddDate(0, 0, 10)
		form := url.Values{"name": {"until the tenth"}, "scope": {"manage-documentation"}, "expires_in": {"custom"}, "expires_at": {day.Format(time.DateOnly)}}
		res := admin.Post("/admin/api-keys", form)
		wantStatus(t, res, http.StatusOK)
		secret := doc(t, res.Body).Find(`[data-testid="api-key-secret"]`).Text()
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
		if got, want := list.Find(`[data-testid="flash"]`).Text(), "API key “until the tenth” created. It works through "+day.UTC().Format("2 Jan 2006")+" (UTC)."; !strings.Contains(got, want) {
			t.Errorf("notice after the secret page: got %q, want %q", got, want)
		}
		row := list.Find(`[data-key-id="` + key.PublicID + `"]`)
		if got, want := row.Find(`[data-testid="expiry-date"]`).Text(), day.UTC().Format("2 Jan 2006"); got != want {
			t.Errorf("expiry in the list: got %q, want the picked day %q", got, want)
		}
	})
}
