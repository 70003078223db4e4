package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// apiClient calls the catalog API with one key.
type apiClient struct {
	t      *testing.T
	app    *apptest.App
	key    *models.APIKey
	secret string
}

// eachAPI runs fn per database with a fresh server and a key of the given scope.
func eachAPI(t *testing.T, scope models.Scope, fn func(t *testing.T, api *apiClient)) {
	t.Helper()
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			app := apptest.New(t, target)
			key, secret, err := app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "test " + string(scope), Scope: scope})
			if err != nil {
				t.Fatal(err)
			}
			fn(t, &apiClient{t: t, app: app, key: key, secret: secret})
		})
	}
}

// do sends body (JSON, or nothing when empty) and returns the response.
func (a *apiClient) do(method, path, body string) *apptest.Response {
	a.t.Helper()
	headers := map[string]string{"X-API-SECRET": a.secret}
	if body == "" {
		return a.app.Client(a.t).Do(method, path, nil, headers)
	}
	headers["Content-Type"] = "application/json"
	return a.app.Client(a.t).Do(method, path, strings.NewReader(body), headers)
}

// expect checks the status and decodes a JSON body into out (when out is not nil).
func (a *apiClient) expect(res *apptest.Response, status int, out any) {
	a.t.Helper()
	if res.StatusCode != status {
		a.t.Fatalf("%s %s: status %d, want %d; body %s", res.Request.Method, res.Request.URL, res.StatusCode, status, res.Body)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(res.Body), out); err != nil {
			a.t.Fatalf("%s %s: body is not JSON: %v\n%s", res.Request.Method, res.Request.URL, err, res.Body)
		}
	}
}

// expectField checks a 422 answer names field.
func (a *apiClient) expectField(res *apptest.Response, field string) {
	a.t.Helper()
	var body struct{ Error, Field string }
	a.expect(res, http.StatusUnprocessableEntity, &body)
	if body.Field != field || body.Error == "" {
		a.t.Fatalf("%s %s: 422 body %s, want field %q and a message", res.Request.Method, res.Request.URL, res.Body, field)
	}
}

// expectError checks the status and that the body is the one JSON error shape: a message and
// the request id that the response's X-Request-Id (and the log line) carries.
func (a *apiClient) expectError(res *apptest.Response, status int) string {
	a.t.Helper()
	var body map[string]any
	a.expect(res, status, &body)
	message, _ := body["error"].(string)
	requestID, _ := body["request_id"].(string)
	if message == "" || len(body) != 2 || requestID == "" || requestID != res.Header.Get("X-Request-Id") {
		a.t.Fatalf("%s %s: body %s, want {\"error\": message, \"request_id\": %q}", res.Request.Method, res.Request.URL, res.Body, res.Header.Get("X-Request-Id"))
	}
	return message
}

type itemBody struct {
	ID            int64          `json:"id"`
	Type          string         `json:"type"`
	Name          string         `json:"name"`
	Description   string         `json:"description"`
	Properties    map[string]any `json:"properties"`
	ExternalKey   *string        `json:"external_key"`
	LastChangedBy struct {
		KeyID   string `json:"key_id"`
		KeyName string `json:"key_name"`
	} `json:"last_changed_by"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

type itemListBody struct {
	Items   []itemBody `json:"items"`
	Page    int        `json:"page"`
	PerPage int        `json:"per_page"`
	Total   int64      `json:"total"`
}

func TestItemsCRUD(t *testing.T) {
	eachAPI(t, models.ScopeManageDocumentation, func(t *testing.T, api *apiClient) {
		res := api.do(http.MethodPost, "/api/v1/items", `{"type":"dataset","name":" Customers ","description":"Everyone who bought","properties":{"owner":"sales","row_count":12}}`)
		var created itemBody
		api.expect(res, http.StatusCreated, &created)
		if created.ID == 0 || created.Name != "Customers" || created.Type != "dataset" || created.Properties["row_count"] != float64(12) ||
			created.LastChangedBy.KeyID != api.key.PublicID || created.LastChangedBy.KeyName != api.key.Name || created.ExternalKey != nil ||
			!strings.HasSuffix(created.CreatedAt, "Z") {
			t.Fatalf("created: %+v", created)
		}
		path := fmt.Sprintf("/api/v1/items/%d", created.ID)
		if got := res.Header.Get("Location"); got != path {
			t.Errorf("Location %q, want %q", got, path)
		}

		var got itemBody
		api.expect(api.do(http.MethodGet, path, ""), http.StatusOK, &got)
		if got.Name != "Customers" || got.Description != "Everyone who bought" || got.Properties["owner"] != "sales" {
			t.Fatalf("get: %+v", got)
		}

		// Another key edits it: last_changed_by follows.
		_, editor, _ := api.app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "editor", Scope: models.ScopeAdmin})
		other := &apiClient{t: t, app: api.app, secret: editor}
		var patched itemBody
		other.expect(other.do(http.MethodPatch, path, `{"description":"Paying customers"}`), http.StatusOK, &patched)
		if patched.Description != "Paying customers" || patched.Name != "Customers" || patched.Properties["owner"] != "sales" || patched.LastChangedBy.KeyName != "editor" {
			t.Fatalf("patched: %+v", patched)
		}
		api.expect(api.do(http.MethodGet, path, ""), http.StatusOK, &got)
		if got.Description != "Paying customers" || got.LastChangedBy.KeyName != "editor" || got.CreatedAt != created.CreatedAt {
			t.Fatalf("after patch: %+v", got)
		}

		api.expect(api.do(http.MethodDelete, path, ""), http.StatusNoContent, nil)
		api.expectError(api.do(http.MethodGet, path, ""), http.StatusNotFound)
		api.expectError(api.do(http.MethodDelete, path, ""), http.StatusNotFound)
		api.expectError(api.do(http.MethodPatch, path, `{"name":"x"}`), http.StatusNotFound)
	})
}

func TestItemsUnknownIDs(t *testing.T) {
	eachAPI(t, models.ScopeAdmin, func(t *testing.T, api *apiClient) {
		for _, id := range []string{"999999", "0", "-1", "abc", "1.5", "99999999999999999999"} {
			path := "/api/v1/items/" + id
			api.expectError(api.do(http.MethodGet, path, ""), http.StatusNotFound)
			api.expectError(api.do(http.MethodPatch, path, `{"name":"x"}`), http.StatusNotFound)
			api.expectError(api.do(http.MethodDelete, path, ""), http.StatusNotFound)
		}
	})
}

func TestItemsPagingAndFilter(t *testing.T) {
	eachAPI(t, models.ScopeManageDocumentation, func(t *testing.T, api *apiClient) {
		for i := range 7 {
			api.expect(api.do(http.MethodPost, "/api/v1/items", fmt.Sprintf(`{"type":"dataset","name":"Orders %d"}`, i)), http.StatusCreated, nil)
		}
		api.expect(api.do(http.MethodPost, "/api/v1/items", `{"type":"field","name":"Invoice id"}`), http.StatusCreated, nil)

		var list itemListBody
		api.expect(api.do(http.MethodGet, "/api/v1/items?q=ORDERS&page=2&per_page=3", ""), http.StatusOK, &list)
		if list.Total != 7 || list.Page != 2 || list.PerPage != 3 || len(list.Items) != 3 || list.Items[0].Name != "Orders 3" {
			t.Fatalf("page 2 of orders: %+v", list)
		}
		api.expect(api.do(http.MethodGet, "/api/v1/items?page=3&per_page=3&q=orders", ""), http.StatusOK, &list)
		if len(list.Items) != 1 || list.Items[0].Name != "Orders 6" {
			t.Fatalf("last page: %+v", list)
		}
		api.expect(api.do(http.MethodGet, "/api/v1/items", ""), http.StatusOK, &list)
		if list.Total != 8 || list.PerPage != 25 || list.Page != 1 || list.Items[0].Name != "Invoice id" {
			t.Fatalf("default page: %+v", list)
		}
		api.expect(api.do(http.MethodGet, "/api/v1/items?q=nothing+like+this", ""), http.StatusOK, &list)
		if list.Total != 0 || list.Items == nil {
			t.Fatalf("no match must be an empty array: %+v", list)
		}

		for _, tc := range []struct{ query, field string }{
			{"page=0", "page"}, {"page=x", "page"}, {"per_page=0", "per_page"}, {"per_page=101", "per_page"},
			{"q=" + strings.Repeat("a", 201), "q"},
		} {
			api.expectField(api.do(http.MethodGet, "/api/v1/items?"+tc.query, ""), tc.field)
		}
	})
}

func TestItemsBadBodies(t *testing.T) {
	eachAPI(t, models.ScopeAdmin, func(t *testing.T, api *apiClient) {
		for _, body := range []string{
			`{"type":"dataset","name":`, // cut short
			`{"type":"dataset" "name":"x"}`,
			`not json`,
			`{"type":"dataset","name":"x"} {"again":1}`,
			`["dataset"]`,
		} {
			api.expectError(api.do(http.MethodPost, "/api/v1/items", body), http.StatusBadRequest)
		}
		api.expectError(api.do(http.MethodPost, "/api/v1/items", ""), http.StatusBadRequest)
		message := api.expectError(api.do(http.MethodPost, "/api/v1/items", `{"type":"dataset","name":"x","owner":"me"}`), http.StatusBadRequest)
		if !strings.Contains(message, `"owner"`) {
			t.Errorf("unknown field message %q does not name the field", message)
		}
		api.expectError(api.do(http.MethodPost, "/api/v1/items", `{"type":"dataset","name":"x","external_key":"k"}`), http.StatusBadRequest)

		for _, tc := range []struct{ body, field string }{
			{`{"type":"dataset","name":""}`, "name"},
			{`{"type":"dataset","name":5}`, "name"},
			{`{"type":"dataset"}`, "name"},
			{`{"type":"spaceship","name":"x"}`, "type"},
			{`{"name":"x"}`, "type"},
			{`{"type":"dataset","name":"x","description":["a"]}`, "description"},
			{`{"type":"dataset","name":"x","properties":{"colour":"red"}}`, "properties.colour"},
			{`{"type":"dataset","name":"x","properties":{"row_count":"lots"}}`, "properties.row_count"},
			{`{"type":"dataset","name":"x","properties":[1]}`, "properties"},
		} {
			api.expectField(api.do(http.MethodPost, "/api/v1/items", tc.body), tc.field)
		}

		var created itemBody
		api.expect(api.do(http.MethodPost, "/api/v1/items", `{"type":"dataset","name":"x"}`), http.StatusCreated, &created)
		path := fmt.Sprintf("/api/v1/items/%d", created.ID)
		api.expectField(api.do(http.MethodPatch, path, `{"name":"  "}`), "name")
		api.expectField(api.do(http.MethodPatch, path, `{"type":"nope"}`), "type")
		api.expectError(api.do(http.MethodPatch, path, `{"nme":"typo"}`), http.StatusBadRequest)
		api.expectError(api.do(http.MethodPatch, path, `{"name":`), http.StatusBadRequest)
		var got itemBody
		api.expect(api.do(http.MethodGet, path, ""), http.StatusOK, &got)
		if got.Name != "x" || got.Type != "dataset" {
			t.Fatalf("refused patches changed the item: %+v", got)
		}
	})
}

// chunked hides a reader's length, so the request is sent without Content-Length and the
// limit must be enforced while reading.
type chunked struct{ io.Reader }

func TestItemsOversizedBody(t *testing.T) {
	eachAPI(t, models.ScopeAdmin, func(t *testing.T, api *apiClient) {
		big := `{"type":"dataset","name":"x","description":"` + strings.Repeat("a", 2<<20) + `"}`
		headers := map[string]string{"X-API-SECRET": api.secret, "Content-Type": "application/json"}
		api.expectError(api.app.Client(t).Do(http.MethodPost, "/api/v1/items", strings.NewReader(big), headers), http.StatusRequestEntityTooLarge)
		api.expectError(api.app.Client(t).Do(http.MethodPost, "/api/v1/items", chunked{strings.NewReader(big)}, headers), http.StatusRequestEntityTooLarge)
		inventory := `{"items":[` + strings.Repeat(`{"external_key":"k","type":"dataset","name":"x"},`, 30_000) + `{}]}`
		_, scannerSecret, _ := api.app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "scanner", Scope: models.ScopeScanner})
		headers["X-API-SECRET"] = scannerSecret
		api.expectError(api.app.Client(t).Do(http.MethodPost, "/api/v1/scanners/inventory", chunked{strings.NewReader(inventory)}, headers), http.StatusRequestEntityTooLarge)
		var list itemListBody
		api.expect(api.do(http.MethodGet, "/api/v1/items", ""), http.StatusOK, &list)
		if list.Total != 0 {
			t.Fatalf("an oversized body created %d items", list.Total)
		}
	})
}

// An oversized body tells nothing to a request without a valid key, nor to a key of the wrong
// scope: they get the 401 and the 403 any such request gets, whatever the body's size.
func TestOversizedBodyIsRefusedByKeyFirst(t *testing.T) {
	eachAPI(t, models.ScopeReadOnly, func(t *testing.T, api *apiClient) {
		big := `{"type":"dataset","name":"x","description":"` + strings.Repeat("a", 2<<20) + `"}`
		for _, tc := range []struct {
			secret string
			status int
		}{
			{"", http.StatusUnauthorized},
			{"ksk_not-a-key", http.StatusUnauthorized},
			{api.secret, http.StatusForbidden},
		} {
			headers := map[string]string{"Content-Type": "application/json"}
			if tc.secret != "" {
				headers["X-API-SECRET"] = tc.secret
			}
			for _, body := range []io.Reader{strings.NewReader(big), chunked{strings.NewReader(big)}} {
				wantStatus(t, api.app.Client(t).Do(http.MethodPost, "/api/v1/items", body, headers), tc.status)
			}
		}
	})
}
