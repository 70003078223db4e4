package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"keysmith/app/apptest"
	"keysmith/models"
)

func TestAuthVerifyAnswersWithTheKey(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, _ *apptest.Client) {
		key, secret, err := app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "Gateway", Scope: models.ScopeManageDocumentation})
		if err != nil {
			t.Fatal(err)
		}
		// New names may not hold U+2028 any more, but a key made before may: its JSON must
		// still escape it, with the quotes, angle brackets and backslash.
		key.Name = "Gateway \"prod\" <é> \\ \u2028 end"
		if err := app.Store.Exec(context.Background(), "UPDATE api_keys SET name = ? WHERE id = ?", key.Name, key.ID); err != nil {
			t.Fatal(err)
		}
		for _, header := range []map[string]string{{"X-API-SECRET": secret}, {"Authorization": "Bearer " + secret}} {
			res := app.Client(t).Do(http.MethodGet, "/api/v1/auth/verify", nil, header)
			wantStatus(t, res, http.StatusOK)
			var got struct{ ID, Name, Scope string }
			if err := json.Unmarshal([]byte(res.Body), &got); err != nil {
				t.Fatalf("body %q is not JSON: %v", res.Body, err)
			}
			if got.ID != key.PublicID || got.Name != key.Name || got.Scope != "manage-documentation" {
				t.Errorf("answer %+v, want id %s, name %q, scope manage-documentation", got, key.PublicID, key.Name)
			}
			if res.Header.Get("X-Keysmith-Key-Id") != key.PublicID || res.Header.Get("X-Keysmith-Scope") != "manage-documentation" {
				t.Errorf("headers %v", res.Header)
			}
			if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Cache-Control %q, Content-Type %q", res.Header.Get("Cache-Control"), res.Header.Get("Content-Type"))
			}
		}
	})
}
