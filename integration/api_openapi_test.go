package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// errorStatuses are the error answers that the OpenAPI document must describe, each as a
// shared response of its components.
var errorStatuses = map[string]string{
	"400": "BadRequest",
	"401": "Unauthorized",
	"403": "Forbidden",
	"404": "NotFound",
	"413": "ContentTooLarge",
	"422": "UnprocessableContent",
	"503": "ServiceUnavailable",
}

// loadOpenAPIFile loads handlers/api/openapi.json as the tests check it.
func loadOpenAPIFile(t *testing.T) (*apptest.Contract, []byte) {
	t.Helper()
	data, err := os.ReadFile("../handlers/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	contract, err := apptest.LoadContract(data)
	if err != nil {
		t.Fatal(err)
	}
	return contract, data
}

// GET /api/v1/openapi.json serves the repository's document, without a key, and the document
// is a valid OpenAPI 3.1 document with both ways of presenting a key, the scopes of each
// operation and every error shape.
func TestOpenAPIDocumentIsServedWithoutAKey(t *testing.T) {
	contract, file := loadOpenAPIFile(t)
	app := apptest.New(t, modelstest.Targets(t)[0])
	res := app.Client(t).Get("/api/v1/openapi.json")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /api/v1/openapi.json without a key: status %d, Content-Type %q; want 200 and JSON", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if !bytes.Equal([]byte(res.Body), file) {
		t.Error("GET /api/v1/openapi.json: got a document other than handlers/api/openapi.json")
	}

	doc := contract.Doc
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi: got %q, want 3.1.0", doc.OpenAPI)
	}
	schemes := doc.Components.SecuritySchemes
	if s := schemes["apiKeyHeader"]; s == nil || s.Value.Type != "apiKey" || s.Value.In != "header" || s.Value.Name != "X-API-SECRET" {
		t.Errorf("security scheme apiKeyHeader: got %+v, want an apiKey in the X-API-SECRET header", s)
	}
	if s := schemes["bearerKey"]; s == nil || s.Value.Type != "http" || s.Value.Scheme != "bearer" {
		t.Errorf("security scheme bearerKey: got %+v, want http bearer", s)
	}
	if got := fmt.Sprint(doc.Security); got != "[map[apiKeyHeader:[]] map[bearerKey:[]]]" {
		t.Errorf("security: got %s, want either scheme", got)
	}
	for status, name := range errorStatuses {
		response := doc.Components.Responses[name]
		if response == nil || response.Value.Content.Get("application/json") == nil {
			t.Errorf("components.responses.%s (%s): missing, or without a JSON body", name, status)
		}
	}

	used := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			scopes, err := operationScopes(op.Extensions)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			keyed := op.Security == nil
			if !keyed && (len(*op.Security) != 0 || len(scopes) != 0) {
				t.Errorf("%s: security %v and x-keysmith-scopes %q; want either the document's security and scopes, or neither", name, *op.Security, scopes)
			}
			if keyed && len(scopes) == 0 {
				t.Errorf("%s: needs a key but lists no x-keysmith-scopes", name)
			}
			for _, scope := range scopes {
				if _, ok := models.ParseScope(scope); !ok {
					t.Errorf("%s: x-keysmith-scopes holds %q, not a key scope", name, scope)
				}
			}
			for status, response := range op.Responses.Map() {
				if want, isError := errorStatuses[status]; isError {
					used[status] = true
					if response.Ref != "#/components/responses/"+want {
						t.Errorf("%s: response %s is %q, want the shared #/components/responses/%s", name, status, response.Ref, want)
					}
				}
			}
			if keyed && (op.Responses.Status(http.StatusUnauthorized) == nil || op.Responses.Status(http.StatusServiceUnavailable) == nil) {
				t.Errorf("%s: needs a key but documents no 401 or no 503", name)
			}
		}
	}
	for status := range errorStatuses {
		if !used[status] {
			t.Errorf("no operation documents the %s answer", status)
		}
	}
}

// operationScopes reads an operation's x-keysmith-scopes.
func operationScopes(extensions map[string]any) ([]string, error) {
	raw, ok := extensions["x-keysmith-scopes"]
	if !ok {
		return nil, fmt.Errorf("no x-keysmith-scopes")
	}
	data, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	var scopes []string
	if err := json.Unmarshal(data, &scopes); err != nil {
		return nil, fmt.Errorf("x-keysmith-scopes %s: want a list of scopes", data)
	}
	return scopes, nil
}

// documentedOp is one operation of the OpenAPI document.
type documentedOp struct {
	// name is "METHOD /api/v1/path/{param}", as the server's routes are compared with it.
	name, method, path string
	op                 *openapi3.Operation
}

// documentedOperations lists the document's operations by name.
func documentedOperations(contract *apptest.Contract) []documentedOp {
	var ops []documentedOp
	for path, item := range contract.Doc.Paths.Map() {
		for method, op := range item.Operations() {
			full := strings.TrimSuffix(apptest.APIPrefix, "/") + path
			ops = append(ops, documentedOp{name: method + " " + full, method: method, path: full, op: op})
		}
	}
	slices.SortFunc(ops, func(a, b documentedOp) int { return strings.Compare(a.name, b.name) })
	return ops
}

// Every route that the running server registers under /api/v1 is in the document, and every
// operation of the document is a route of the server.
func TestOpenAPIDocumentCoversEveryRoute(t *testing.T) {
	contract, _ := loadOpenAPIFile(t)
	app := apptest.New(t, modelstest.Targets(t)[0])
	var registered []string
	for _, route := range app.Server.Echo.Routes() {
		if !strings.HasPrefix(route.Path, apptest.APIPrefix) {
			continue
		}
		segments := strings.Split(route.Path, "/")
		for i, segment := range segments {
			if name, ok := strings.CutPrefix(segment, ":"); ok {
				segments[i] = "{" + name + "}"
			}
		}
		registered = append(registered, route.Method+" "+strings.Join(segments, "/"))
	}
	slices.Sort(registered)
	var documented []string
	for _, op := range documentedOperations(contract) {
		documented = append(documented, op.name)
	}
	for _, route := range registered {
		if !slices.Contains(documented, route) {
			t.Errorf("route %s is not in handlers/api/openapi.json: document it", route)
		}
	}
	for _, op := range documented {
		if !slices.Contains(registered, op) {
			t.Errorf("handlers/api/openapi.json documents %s, which the server does not register", op)
		}
	}
	if len(registered) == 0 {
		t.Fatal("the server registers no /api/v1 route")
	}
}

// Each operation's x-keysmith-scopes are the scopes the server admits: a key of any other scope
// gets 403 naming exactly them, and a key of one of them is let through.
func TestOpenAPIScopesAreTheServers(t *testing.T) {
	contract, _ := loadOpenAPIFile(t)
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			app := apptest.New(t, target)
			secrets := map[models.Scope]string{}
			for _, scope := range models.Scopes {
				_, secret, err := app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "key " + string(scope), Scope: scope})
				if err != nil {
					t.Fatal(err)
				}
				secrets[scope] = secret
			}
			client := app.Client(t)
			for _, documented := range documentedOperations(contract) {
				op, method := documented.name, documented.method
				// An id no item has: a scope that is let through gets 404, not 403.
				path := strings.ReplaceAll(documented.path, "{id}", "999999")
				scopes, err := operationScopes(documented.op.Extensions)
				if err != nil {
					t.Fatalf("%s: %v", op, err)
				}
				if len(scopes) == 0 {
					if res := client.Do(method, path, nil, nil); res.StatusCode == http.StatusUnauthorized {
						t.Errorf("%s without a key: got 401, want it served without a key", op)
					}
					continue
				}
				for _, scope := range models.Scopes {
					res := client.Do(method, path, nil, map[string]string{"X-API-SECRET": secrets[scope]})
					allowed := slices.Contains(scopes, string(scope))
					switch {
					case allowed && (res.StatusCode == http.StatusForbidden || res.StatusCode == http.StatusUnauthorized):
						t.Errorf("%s as %s: got %d, want it let through (x-keysmith-scopes %q)", op, scope, res.StatusCode, scopes)
					case !allowed && res.StatusCode != http.StatusForbidden:
						t.Errorf("%s as %s: got %d, want 403 (x-keysmith-scopes %q)", op, scope, res.StatusCode, scopes)
					case !allowed:
						var body struct {
							AllowedScopes []string `json:"allowed_scopes"`
						}
						json.Unmarshal([]byte(res.Body), &body)
						if !slices.Equal(body.AllowedScopes, scopes) {
							t.Errorf("%s as %s: 403 names allowed_scopes %q, want x-keysmith-scopes %q", op, scope, body.AllowedScopes, scopes)
						}
					}
				}
			}
		})
	}
}

// The check that every client of the handler tests applies finds answers the document does
// not describe: a body of the wrong shape, a status it does not list, a missing required
// header, and an answer to a route it does not have that is not an error.
func TestOpenAPICheckFindsAnswersTheDocumentDoesNotDescribe(t *testing.T) {
	contract, _ := loadOpenAPIFile(t)
	answer := func(method, path string, status int, header http.Header, body string) error {
		req, err := http.NewRequest(method, "http://keysmith.test"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if header == nil {
			header = http.Header{}
		}
		header.Set("Content-Type", "application/json")
		res := &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(strings.NewReader(body)), Request: req}
		return contract.Check(req, res, []byte(body))
	}
	requestID := func(extra ...string) http.Header {
		h := http.Header{"X-Request-Id": {"abc"}}
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		return h
	}
	page := `{"items":[],"page":1,"per_page":25,"total":0}`
	for _, tc := range []struct {
		name, method, path string
		status             int
		header             http.Header
		body               string
		valid              bool
	}{
		{"a page of items", "GET", "/api/v1/items", 200, nil, page, true},
		{"a page without its total", "GET", "/api/v1/items", 200, nil, `{"items":[],"page":1,"per_page":25}`, false},
		{"a page with a field the document lacks", "GET", "/api/v1/items", 200, nil, `{"items":[],"page":1,"per_page":25,"total":0,"next":2}`, false},
		{"a status the operation does not list", "GET", "/api/v1/items", 418, nil, `{}`, false},
		{"a 404 where no item is named", "GET", "/api/v1/users", 404, requestID(), `{"error":"x","request_id":"abc"}`, false},
		{"a 401 with WWW-Authenticate", "GET", "/api/v1/users", 401, requestID("WWW-Authenticate", `Bearer realm="keysmith"`), `{"error":"x","request_id":"abc"}`, true},
		{"a 401 without WWW-Authenticate", "GET", "/api/v1/users", 401, requestID(), `{"error":"x","request_id":"abc"}`, false},
		{"a 503 without Retry-After", "GET", "/api/v1/users", 503, requestID(), `{"error":"x","request_id":"abc"}`, false},
		{"a 422 without its field", "POST", "/api/v1/items", 422, requestID(), `{"error":"x","request_id":"abc"}`, false},
		{"a 403 naming the scopes", "DELETE", "/api/v1/items/3", 403, requestID(), `{"error":"x","request_id":"abc","key_scope":"read-only","allowed_scopes":["admin"]}`, true},
		{"a 403 naming no scope", "DELETE", "/api/v1/items/3", 403, requestID(), `{"error":"x","request_id":"abc","key_scope":"read-only","allowed_scopes":[]}`, false},
		{"Echo's 404 for an unknown route", "GET", "/api/v1/nothing", 404, nil, `{"error":"x","request_id":"abc"}`, true},
		{"a 200 for an unknown route", "GET", "/api/v1/nothing", 200, nil, `{}`, false},
	} {
		err := answer(tc.method, tc.path, tc.status, tc.header, tc.body)
		if tc.valid && err != nil {
			t.Errorf("%s: got %v, want it valid", tc.name, err)
		}
		if !tc.valid && err == nil {
			t.Errorf("%s: got no error, want the check to refuse it", tc.name)
		}
	}
}
