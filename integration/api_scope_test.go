package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// apiRoute is one route of the catalog API with a request that succeeds for an allowed scope.
type apiRoute struct {
	method string
	// path returns the request path; routes on one item create a fresh item for each request.
	path    func(t *testing.T, app *apptest.App) string
	body    func(t *testing.T, app *apptest.App) string
	allowed []models.Scope
	// success is the status an allowed scope gets.
	success int
}

func fixedPath(p string) func(*testing.T, *apptest.App) string {
	return func(*testing.T, *apptest.App) string { return p }
}

func fixedBody(b string) func(*testing.T, *apptest.App) string {
	return func(*testing.T, *apptest.App) string { return b }
}

// freshItemPath creates an item and returns its path plus suffix.
func freshItemPath(t *testing.T, app *apptest.App) string {
	t.Helper()
	item, err := app.Store.CreateItem(context.Background(), models.ItemInput{Type: "dataset", Name: "scope target"}, models.Actor{KeyID: "ak_setup", KeyName: "setup"})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("/api/v1/items/%d", item.ID)
}

func currentMetamodel(t *testing.T, app *apptest.App) string {
	t.Helper()
	m, err := app.Store.Metamodel(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(m)
	return string(data)
}

var (
	readers  = []models.Scope{models.ScopeReadOnly, models.ScopeManageDocumentation, models.ScopeAdmin}
	writers  = []models.Scope{models.ScopeManageDocumentation, models.ScopeAdmin}
	admins   = []models.Scope{models.ScopeAdmin}
	scanners = []models.Scope{models.ScopeScanner}
)

// catalogRoutes is every /api/v1 route with the scopes DESIGN.md's matrix gives it.
var catalogRoutes = []apiRoute{
	{http.MethodGet, fixedPath("/api/v1/items?page=1&per_page=5&q=scope"), nil, readers, http.StatusOK},
	{http.MethodGet, freshItemPath, nil, readers, http.StatusOK},
	{http.MethodPost, fixedPath("/api/v1/items"), fixedBody(`{"type":"dataset","name":"created in the scope test"}`), writers, http.StatusCreated},
	{http.MethodPatch, freshItemPath, fixedBody(`{"description":"patched"}`), writers, http.StatusOK},
	{http.MethodDelete, freshItemPath, nil, writers, http.StatusNoContent},
	{http.MethodGet, fixedPath("/api/v1/users"), nil, admins, http.StatusOK},
	{http.MethodGet, fixedPath("/api/v1/metamodel"), nil, admins, http.StatusOK},
	{http.MethodPut, fixedPath("/api/v1/metamodel"), currentMetamodel, admins, http.StatusOK},
	{http.MethodGet, fixedPath("/api/v1/audit-events?limit=5"), nil, admins, http.StatusOK},
	{http.MethodPost, fixedPath("/api/v1/scanners/checkin"), fixedBody(`{"name":"scope-scanner","host":"db1","version":"1.0"}`), scanners, http.StatusOK},
	{http.MethodPost, fixedPath("/api/v1/scanners/inventory"), fixedBody(`{"items":[{"external_key":"pg://a/b","type":"dataset","name":"b"}]}`), scanners, http.StatusOK},
	{http.MethodGet, fixedPath("/api/v1/auth/verify"), nil, models.Scopes, http.StatusOK},
}

// authHeaders are the two ways a client may present a key.
var authHeaders = []struct {
	name   string
	header func(secret string) map[string]string
}{
	{"X-API-SECRET", func(s string) map[string]string { return map[string]string{"X-API-SECRET": s} }},
	{"Bearer", func(s string) map[string]string { return map[string]string{"Authorization": "Bearer " + s} }},
}

func callAPI(t *testing.T, app *apptest.App, route apiRoute, headers map[string]string) *apptest.Response {
	t.Helper()
	path := route.path(t, app)
	var body string
	if route.body != nil {
		body = route.body(t, app)
		headers["Content-Type"] = "application/json"
	}
	var reader *strings.Reader
	if body != "" {
		reader = strings.NewReader(body)
	}
	if reader == nil {
		return app.Client(t).Do(route.method, path, nil, headers)
	}
	return app.Client(t).Do(route.method, path, reader, headers)
}

func TestScopeMatrix(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			app := apptest.New(t, target)
			app.CreateUser(t, "someone@example.com", models.PermissionNone)
			secrets := map[models.Scope]string{}
			for _, scope := range models.Scopes {
				_, secret, err := app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "key " + string(scope), Scope: scope})
				if err != nil {
					t.Fatal(err)
				}
				secrets[scope] = secret
			}
			for _, route := range catalogRoutes {
				for _, scope := range models.Scopes {
					for _, how := range authHeaders {
						res := callAPI(t, app, route, how.header(secrets[scope]))
						name := fmt.Sprintf("%s %s as %s via %s", route.method, res.Request.URL.Path, scope, how.name)
						if !slices.Contains(route.allowed, scope) {
							checkForbidden(t, name, res, scope, route.allowed)
							continue
						}
						if res.StatusCode != route.success {
							t.Errorf("%s: status %d, want %d; body %s", name, res.StatusCode, route.success, res.Body)
						}
						if route.success != http.StatusNoContent && !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
							t.Errorf("%s: Content-Type %q, want JSON", name, res.Header.Get("Content-Type"))
						}
					}
				}
			}
		})
	}
}

func checkForbidden(t *testing.T, name string, res *apptest.Response, scope models.Scope, allowed []models.Scope) {
	t.Helper()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("%s: status %d, want 403; body %s", name, res.StatusCode, res.Body)
		return
	}
	var body struct {
		Error         string   `json:"error"`
		KeyScope      string   `json:"key_scope"`
		AllowedScopes []string `json:"allowed_scopes"`
	}
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil {
		t.Errorf("%s: 403 body is not JSON: %q", name, res.Body)
		return
	}
	want := make([]string, len(allowed))
	for i, s := range allowed {
		want[i] = string(s)
	}
	if body.KeyScope != string(scope) || !slices.Equal(body.AllowedScopes, want) || body.Error == "" {
		t.Errorf("%s: 403 body %+v, want key_scope %q and allowed_scopes %v", name, body, scope, want)
	}
}

func TestRefusedKeysGetOneIdentical401(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			app := apptest.New(t, target)
			ctx := context.Background()
			past := time.Now().Add(-time.Second)
			_, expired, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "expired", Scope: models.ScopeAdmin, ExpiresAt: &past})
			if err != nil {
				t.Fatal(err)
			}
			deletedKey, deleted, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "deleted", Scope: models.ScopeAdmin})
			if err != nil {
				t.Fatal(err)
			}
			// Use it once so it sits in the verifier's cache, then delete it as the console does.
			if res := app.Client(t).Do(http.MethodGet, "/api/v1/users", nil, map[string]string{"X-API-SECRET": deleted}); res.StatusCode != http.StatusOK {
				t.Fatalf("key before deletion: status %d", res.StatusCode)
			}
			if _, err := app.Store.DeleteAPIKey(ctx, deletedKey.PublicID); err != nil {
				t.Fatal(err)
			}
			disabledKey, disabled, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "disabled", Scope: models.ScopeAdmin})
			if err != nil {
				t.Fatal(err)
			}
			if res := app.Client(t).Do(http.MethodGet, "/api/v1/users", nil, map[string]string{"X-API-SECRET": disabled}); res.StatusCode != http.StatusOK {
				t.Fatalf("key before it is disabled: status %d", res.StatusCode)
			}
			if _, _, err := app.Store.DisableAPIKey(ctx, disabledKey.PublicID); err != nil {
				t.Fatal(err)
			}
			_, valid, _ := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "valid", Scope: models.ScopeAdmin})
			last := valid[len(valid)-1]
			wrongChecksum := valid[:len(valid)-1] + string("AB"[boolIndex(last == 'A')])

			credentials := []struct {
				name    string
				headers map[string]string
			}{
				{"missing", map[string]string{}},
				{"empty bearer", map[string]string{"Authorization": "Bearer "}},
				{"other auth scheme", map[string]string{"Authorization": "Basic " + valid}},
				{"malformed", map[string]string{"X-API-SECRET": "not-a-key"}},
				{"malformed bearer", map[string]string{"Authorization": "Bearer ksk_short"}},
				{"wrong checksum", map[string]string{"X-API-SECRET": wrongChecksum}},
				{"wrong checksum bearer", map[string]string{"Authorization": "Bearer " + wrongChecksum}},
				{"unknown", map[string]string{"X-API-SECRET": models.GenerateSecret()}},
				{"unknown bearer", map[string]string{"Authorization": "Bearer " + models.GenerateSecret()}},
				{"expired", map[string]string{"X-API-SECRET": expired}},
				{"expired bearer", map[string]string{"Authorization": "Bearer " + expired}},
				{"deleted", map[string]string{"X-API-SECRET": deleted}},
				{"deleted bearer", map[string]string{"Authorization": "Bearer " + deleted}},
				{"disabled", map[string]string{"X-API-SECRET": disabled}},
				{"disabled bearer", map[string]string{"Authorization": "Bearer " + disabled}},
			}
			var firstBody string
			for _, route := range catalogRoutes {
				for _, cred := range credentials {
					headers := map[string]string{}
					for k, v := range cred.headers {
						headers[k] = v
					}
					res := callAPI(t, app, route, headers)
					name := fmt.Sprintf("%s %s with %s key", route.method, res.Request.URL.Path, cred.name)
					if res.StatusCode != http.StatusUnauthorized {
						t.Errorf("%s: status %d, want 401; body %s", name, res.StatusCode, res.Body)
						continue
					}
					if got := res.Header.Get("WWW-Authenticate"); got != `Bearer realm="keysmith"` {
						t.Errorf("%s: WWW-Authenticate %q", name, got)
					}
					// Every refusal has the same body but for the request's own id.
					body := strings.Replace(res.Body, res.Header.Get("X-Request-Id"), "<request id>", 1)
					if firstBody == "" {
						firstBody = body
					}
					if body != firstBody || !strings.Contains(body, `"request_id":"<request id>"`) {
						t.Errorf("%s: body %q, want the same as every refusal: %q", name, body, firstBody)
					}
				}
			}
			if !strings.Contains(firstBody, `"error"`) {
				t.Errorf("401 body is not a JSON error: %q", firstBody)
			}
		})
	}
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestKeyExpiresToTheSecond moves the store's clock past a key's expiry: the cached key is
// refused on the next request.
func TestKeyExpiresToTheSecond(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			app := apptest.New(t, target)
			ctx := context.Background()
			clock := setClock(time.Now(), app.Store)
			expiresAt := clock.now().Add(time.Hour)
			_, secret, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "soon", Scope: models.ScopeReadOnly, ExpiresAt: &expiresAt})
			if err != nil {
				t.Fatal(err)
			}
			get := func() int {
				return app.Client(t).Do(http.MethodGet, "/api/v1/items", nil, map[string]string{"Authorization": "Bearer " + secret}).StatusCode
			}
			clock.move(time.Hour - time.Second)
			if got := get(); got != http.StatusOK {
				t.Fatalf("a second before expiry: status %d, want 200", got)
			}
			clock.move(time.Hour)
			if got := get(); got != http.StatusUnauthorized {
				t.Fatalf("at expiry: status %d, want 401", got)
			}
		})
	}
}
