package integration

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"keysmith/app/apptest"
	"keysmith/models"
)

// Any key holder chooses its User-Agent. Bytes the database cannot store are cleaned, so they
// neither stop the batch of uses from being written nor reach the delete dialog as they are.
func TestUsesWithABadUserAgentAreWritten(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
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
