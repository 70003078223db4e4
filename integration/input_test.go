package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"keysmith/app/apptest"
	"keysmith/models"
)

// Bad bytes in any query parameter, form field or path of a page are refused before they
// reach a handler or the database: 422 naming the parameter (400 for the path), never 500 on
// PostgreSQL, and nothing stored.
func TestBadBytesInPagesAreRefused(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		form := func(name, scope string) url.Values {
			return url.Values{"name": {name}, "scope": {scope}, "expires_in": {"30d"}}
		}
		for _, tc := range []struct {
			name   string
			send   func() *apptest.Response
			status int
			want   string // in the message
		}{
			{"NUL in the key name", func() *apptest.Response { return admin.Post("/admin/api-keys", form("a\x00b", "admin")) }, 422, "name must not contain NUL"},
			{"invalid UTF-8 in the key name", func() *apptest.Response { return admin.Post("/admin/api-keys", form("caf\xe9", "admin")) }, 422, "name must be valid UTF-8"},
			{"escape in the scope", func() *apptest.Response { return admin.Post("/admin/api-keys", form("ok", "admin\x1b")) }, 422, "scope must not contain control characters"},
			{"NUL in a field's name", func() *apptest.Response {
				return admin.Post("/admin/api-keys", url.Values{"name": {"ok"}, "scope": {"manage-documentation"}, "expires_in": {"30d"}, "x\x00": {"1"}})
			}, 422, "parameter names must not contain NUL"},
			{"NUL in the key name over htmx", func() *apptest.Response {
				return admin.HTMX(http.MethodPost, "/admin/api-keys", "dialog-slot", form("a\x00b", "admin"))
			}, 422, "name must not contain NUL"},
			{"NUL in the search", func() *apptest.Response { return admin.Get("/admin/api-keys?q=a%00b") }, 422, "q must not contain NUL"},
			{"invalid UTF-8 in the search", func() *apptest.Response { return admin.Get("/admin/api-keys?q=%FF") }, 422, "q must be valid UTF-8"},
			{"NUL in the search over htmx", func() *apptest.Response {
				return admin.HTMX(http.MethodGet, "/admin/api-keys?q=%00", "api-key-list", nil)
			}, 422, "q must not contain NUL"},
			{"line feed in the sort", func() *apptest.Response { return admin.Get("/admin/api-keys?sort=name%0A") }, 422, "sort must not contain control characters"},
			{"NUL in the setup token", func() *apptest.Response { return app.Client(t).Get("/setup?token=%00") }, 422, "token must not contain NUL"},
			{"NUL in a key's address", func() *apptest.Response { return admin.Get("/admin/api-keys/ak_%00/delete") }, 400, "The address holds characters"},
			{"invalid UTF-8 in a key's address", func() *apptest.Response { return admin.Get("/admin/api-keys/%FF/delete") }, 400, "The address holds characters"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := tc.send()
				wantStatus(t, res, tc.status)
				if got := doc(t, res.Body).Text(); !strings.Contains(got, tc.want) {
					t.Errorf("message: got %q, want it to contain %q", got, tc.want)
				}
			})
		}
		if page, _ := app.Store.ListAPIKeys(context.Background(), models.APIKeyQuery{}); page.Total != 0 {
			t.Errorf("keys stored: got %d, want 0", page.Total)
		}
		// The refusals left the session and its CSRF token as they were.
		wantStatus(t, admin.Post("/admin/api-keys", form("Fine", "manage-documentation")), http.StatusOK)
	})
}

// Every string of a JSON body, at any depth and in keys too, is checked before it is decoded:
// a NUL, a control character, invalid UTF-8 or a lone surrogate is 422 naming where it is.
func TestBadBytesInTheAPIAreRefused(t *testing.T) {
	eachAPI(t, models.ScopeAdmin, func(t *testing.T, api *apiClient) {
		for _, tc := range []struct{ method, path, body, field string }{
			{http.MethodGet, "/api/v1/items?q=a%00b", "", "q"},
			{http.MethodGet, "/api/v1/items?q=%C3", "", "q"},
			{http.MethodGet, "/api/v1/items?page=1%00", "", "page"},
			{http.MethodPost, "/api/v1/items", `{"type":"dataset","name":"a\u0000b"}`, "name"},
			{http.MethodPost, "/api/v1/items", "{\"type\":\"dataset\",\"name\":\"caf\xe9\"}", "name"},
			{http.MethodPost, "/api/v1/items", `{"type":"dataset","name":"x","description":"a\ud800b"}`, "description"},
			{http.MethodPost, "/api/v1/items", `{"type":"dataset","name":"x","description":"\\ufffd\udc00"}`, "description"},
			{http.MethodPost, "/api/v1/items", `{"type":"dataset","name":"x","description":"a\u001b[2Jb"}`, "description"},
			{http.MethodPost, "/api/v1/items", `{"type":"dataset","name":"x","properties":{"owner":"a\u0000"}}`, "properties.owner"},
			{http.MethodPost, "/api/v1/items", `{"type":"dataset","name":"x","properties":{"own\u0000er":"a"}}`, "properties"},
			{http.MethodPost, "/api/v1/items", "{\"type\xff\":\"dataset\"}", "body"},
			{http.MethodPut, "/api/v1/metamodel", `{"item_types":[{"name":"dataset","label":"Data\u0007set"}]}`, "item_types[0].label"},
		} {
			res := api.do(tc.method, tc.path, tc.body)
			api.expectField(res, tc.field)
			var body map[string]any
			json.Unmarshal([]byte(res.Body), &body)
			if len(body) != 3 || body["request_id"] != res.Header.Get("X-Request-Id") {
				t.Errorf("%s %s: body %s, want the one error shape: error, field and request_id", tc.method, tc.path, res.Body)
			}
		}
		if page, _ := api.app.Store.ListItems(context.Background(), models.ItemQuery{}); page.Total != 0 {
			t.Fatalf("items stored: got %d, want 0", page.Total)
		}
		// Text that only looks odd is accepted as sent: line breaks in a paragraph, U+FFFD
		// written out or escaped, and a character escaped as a surrogate pair.
		var created itemBody
		api.expect(api.do(http.MethodPost, "/api/v1/items", `{"type":"dataset","name":"key \ud83d\udd11","description":"one\r\n\ttwo \ufffd �"}`), http.StatusCreated, &created)
		if created.Name != "key 🔑" || created.Description != "one\r\n\ttwo \uFFFD \uFFFD" {
			t.Errorf("created: got name %q, description %q", created.Name, created.Description)
		}
	})
}

// A scanner's inventory with one bad item is refused whole, naming the item and its field.
func TestBadBytesInAScannersRequestsAreRefused(t *testing.T) {
	eachAPI(t, models.ScopeScanner, func(t *testing.T, api *apiClient) {
		fine := `{"external_key":"k0","type":"dataset","name":"fine"}`
		for _, tc := range []struct{ path, body, field string }{
			{"/api/v1/scanners/inventory", `{"items":[` + fine + `,{"external_key":"k1","type":"dataset","name":"b","description":"a\u0000b"}]}`, "items[1].description"},
			{"/api/v1/scanners/inventory", `{"items":[` + fine + `,{"external_key":"k1","type":"dataset","name":"` + "\xc3" + `"}]}`, "items[1].name"},
			{"/api/v1/scanners/inventory", `{"items":[` + fine + `,` + fine + `,{"external_key":"k\u0000","type":"dataset","name":"c"}]}`, "items[2].external_key"},
			{"/api/v1/scanners/inventory", `{"items":[{"external_key":"k1","type":"dataset","name":"b","properties":{"owner":"\udfff"}}]}`, "items[0].properties.owner"},
			{"/api/v1/scanners/checkin", `{"name":"scan\u0000ner","host":"h","version":"1"}`, "name"},
			{"/api/v1/scanners/checkin", `{"name":"scanner","host":"` + "h\xff" + `","version":"1"}`, "host"},
		} {
			api.expectField(api.do(http.MethodPost, tc.path, tc.body), tc.field)
		}
		if page, _ := api.app.Store.ListItems(context.Background(), models.ItemQuery{}); page.Total != 0 {
			t.Fatalf("items stored by refused uploads: got %d, want 0", page.Total)
		}
		if list, _ := api.app.Store.ListScanners(context.Background(), true); len(list.Scanners) != 0 {
			t.Fatalf("scanners stored by refused check-ins: got %d, want 0", len(list.Scanners))
		}
	})
}

// Values taken from headers are cleaned or ignored, never stored or echoed as sent: the
// request id every error repeats, which only a trusted proxy may choose (here the tests'
// loopback clients, 127.0.0.1, are the proxy; 127.0.0.9 is not), and the address of the list a
// delete over htmx reloads.
func TestBadBytesInHeadersAreNotPassedOn(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		for _, tc := range []struct {
			name, sent, from string
			kept             bool
		}{
			{"a tracer's id", "trace-0af7651916cd43dd:8448eb21", "127.0.0.1", true},
			{"a tracer's id from a client that is no proxy", "trace-0af7651916cd43dd:8448eb21", "127.0.0.9", false},
			{"invalid UTF-8", "id-\xff\xfe", "127.0.0.1", false},
			{"a tab", "id\tx", "127.0.0.1", false},
			{"too long", strings.Repeat("a", 129), "127.0.0.1", false},
		} {
			res := app.ClientFrom(t, tc.from).Do(http.MethodGet, "/api/v1/items", nil, map[string]string{"X-Request-Id": tc.sent})
			var body struct {
				RequestID string `json:"request_id"`
			}
			json.Unmarshal([]byte(res.Body), &body)
			got := res.Header.Get("X-Request-Id")
			if (got == tc.sent) != tc.kept || got == "" || body.RequestID != got || !utf8.ValidString(got) {
				t.Errorf("%s: sent %q, got header %q and body %q; want it kept: %v", tc.name, tc.sent, got, body.RequestID, tc.kept)
			}
		}

		ctx := context.Background()
		for _, name := range []string{"Alpha", "Beta"} {
			if _, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: name, Scope: models.ScopeReadOnly}); err != nil {
				t.Fatal(err)
			}
		}
		page, _ := app.Store.ListAPIKeys(ctx, models.APIKeyQuery{Search: "alpha"})
		res := admin.Do(http.MethodDelete, "/admin/api-keys/"+page.Keys[0].PublicID, nil, map[string]string{
			"HX-Request": "true", "HX-Target": "dialog-slot", "X-CSRF-Token": admin.CSRF,
			"HX-Current-URL": app.URL + "/admin/api-keys?q=b%00&sort=name",
		})
		wantStatus(t, res, http.StatusOK)
		if got := strings.Join(rowNames(t, res.Body), ","); got != "Beta" {
			t.Errorf("list reloaded from a search with NUL: got rows %q, want %q (the search dropped)", got, "Beta")
		}
	}, behindLoopbackProxy)
}
