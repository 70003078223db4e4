package web

import (
	"encoding/json"
	"testing"
)

// An API error's body is the JSON of its message, its request id and its fields, the same
// bytes whether written by hand (no fields) or encoded from a map.
func TestAPIErrorBody(t *testing.T) {
	for _, tc := range []struct {
		message string
		fields  map[string]any
	}{
		{"A valid API key is required. Send it as X-API-SECRET: <secret> or Authorization: Bearer <secret>.", nil},
		{`quotes " and \ backslashes, <html> & ampersands`, nil},
		{"línea\u2028separada, \x01 control, 📦", map[string]any{}},
		{"name must be at most 100 characters.", map[string]any{"field": "name"}},
		{"This API key's scope does not allow this request.", map[string]any{"key_scope": "read-only", "allowed_scopes": []string{"admin"}}},
	} {
		const requestID = "kY3-req_1.a:b"
		want := map[string]any{"error": tc.message, "request_id": requestID}
		for name, value := range tc.fields {
			want[name] = value
		}
		wantJSON, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if got := apiErrorBody(tc.message, tc.fields, requestID); string(got) != string(wantJSON) {
			t.Errorf("apiErrorBody(%q, %v):\n got %s\nwant %s", tc.message, tc.fields, got, wantJSON)
		}
	}
}
