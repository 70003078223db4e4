package integration

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"keysmith/handlers/handlerstest"
	"keysmith/models"
)

// A name that reads like an existing key's is refused beside the name field, naming the key
// it looks like; invisible characters are refused too.
func TestCreateRefusesLookAlikeNames(t *testing.T) {
	eachApp(t, func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client) {
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
	eachApp(t, func(t *testing.T, app *handlerstest.App, admin *handlerstest.Client) {
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
		secret, _ := doc(t, res.Body).Find(`[data-testid="api-key-secret"]`).Attr("value")
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
