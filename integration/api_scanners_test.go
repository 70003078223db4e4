package integration

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"keysmith/app/apptest"
	"keysmith/models"
)

func TestScannerCheckInAPI(t *testing.T) {
	eachAPI(t, models.ScopeScanner, func(t *testing.T, api *apiClient) {
		var first, second struct {
			ID             int64  `json:"id"`
			Name           string `json:"name"`
			Host           string `json:"host"`
			Version        string `json:"version"`
			FirstCheckInAt string `json:"first_check_in_at"`
			LastCheckInAt  string `json:"last_check_in_at"`
		}
		api.expect(api.do(http.MethodPost, "/api/v1/scanners/checkin", `{"name":"pg-scanner","host":"db1.internal","version":"2.4.0"}`), http.StatusOK, &first)
		if first.ID == 0 || first.Name != "pg-scanner" || first.Host != "db1.internal" || first.Version != "2.4.0" || first.FirstCheckInAt == "" {
			t.Fatalf("check-in: %+v", first)
		}
		api.expect(api.do(http.MethodPost, "/api/v1/scanners/checkin", `{"name":"pg-scanner","host":"db1.internal","version":"2.5.0"}`), http.StatusOK, &second)
		if second.ID != first.ID || second.Version != "2.5.0" || second.FirstCheckInAt != first.FirstCheckInAt {
			t.Fatalf("second check-in: %+v, first %+v", second, first)
		}

		// From now on the key's uses are shown under the scanner's name, not its User-Agent.
		res := api.app.Client(t).Do(http.MethodGet, "/api/v1/auth/verify", nil, map[string]string{"X-API-SECRET": api.secret, "User-Agent": "curl/8.0"})
		api.expect(res, http.StatusOK, nil)
		ctx := context.Background()
		if err := api.app.Keys.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		key, err := api.app.Store.APIKeyByPublicID(ctx, api.key.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if key.LastUsedClient != "pg-scanner" {
			t.Fatalf("last used client %q, want the scanner's name", key.LastUsedClient)
		}

		for _, tc := range []struct{ body, field string }{
			{`{"host":"h","version":"1"}`, "name"},
			{`{"name":"n","host":"","version":"1"}`, "host"},
			{`{"name":"n","host":"h"}`, "version"},
			{`{"name":"n","host":"h","version":1}`, "version"},
		} {
			api.expectField(api.do(http.MethodPost, "/api/v1/scanners/checkin", tc.body), tc.field)
		}
		api.expectError(api.do(http.MethodPost, "/api/v1/scanners/checkin", `{"name":"n","host":"h","version":"1","os":"linux"}`), http.StatusBadRequest)
		api.expectError(api.do(http.MethodPost, "/api/v1/scanners/checkin", `{"name":"n"`), http.StatusBadRequest)
	})
}

func TestScannerInventoryUpsertsByExternalKey(t *testing.T) {
	eachAPI(t, models.ScopeScanner, func(t *testing.T, api *apiClient) {
		var result struct{ Created, Updated int }
		first := `{"items":[
			{"external_key":"pg://db1/sales/customers","type":"dataset","name":"customers","properties":{"row_count":10}},
			{"external_key":"pg://db1/sales/orders","type":"dataset","name":"orders"}
		]}`
		api.expect(api.do(http.MethodPost, "/api/v1/scanners/inventory", first), http.StatusOK, &result)
		if result.Created != 2 || result.Updated != 0 {
			t.Fatalf("first upload: %+v", result)
		}
		second := `{"items":[
			{"external_key":"pg://db1/sales/customers","type":"dataset","name":"customers","description":"found again","properties":{"row_count":11}},
			{"external_key":"pg://db1/sales/invoices","type":"dataset","name":"invoices"}
		]}`
		api.expect(api.do(http.MethodPost, "/api/v1/scanners/inventory", second), http.StatusOK, &result)
		if result.Created != 1 || result.Updated != 1 {
			t.Fatalf("second upload: %+v", result)
		}

		page, err := api.app.Store.ListItems(context.Background(), models.ItemQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 3 {
			t.Fatalf("got %d items after two uploads, want 3 (updated, not duplicated)", page.Total)
		}
		customers := page.Items[0]
		if customers.Name != "customers" || customers.Description != "found again" || customers.Properties["row_count"] != float64(11) ||
			customers.ChangedByKeyID != api.key.PublicID || *customers.ExternalKey != "pg://db1/sales/customers" {
			t.Fatalf("customers after the second upload: %+v", customers)
		}

		for _, tc := range []struct{ body, field string }{
			{`{}`, "items"},
			{`{"items":[{"external_key":"a","type":"dataset","name":"a"},{"external_key":"b","type":"nope","name":"b"}]}`, "items[1].type"},
			{`{"items":[{"type":"dataset","name":"a"}]}`, "items[0].external_key"},
			{`{"items":[{"external_key":"a","type":"dataset","name":"a"},{"external_key":"a","type":"dataset","name":"b"}]}`, "items[1].external_key"},
			{`{"items":[{"external_key":"a","type":"dataset","name":"a","properties":{"row_count":"x"}}]}`, "items[0].properties.row_count"},
			{`{"items":[{"external_key":"a","type":"dataset","name":7}]}`, "items[0].name"},
			{`{"items":[{"external_key":"a","type":"dataset","name":"a"},"not an item"]}`, "items[1]"},
			{`{"items":"all of them"}`, "items"},
		} {
			api.expectField(api.do(http.MethodPost, "/api/v1/scanners/inventory", tc.body), tc.field)
		}
		message := api.expectError(api.do(http.MethodPost, "/api/v1/scanners/inventory", `{"items":[{"external_key":"a","kind":"dataset"}]}`), http.StatusBadRequest)
		if want := `Unknown field "kind" in items[0].`; message != want {
			t.Errorf("unknown field in an item: message %q, want %q", message, want)
		}
		if page, _ := api.app.Store.ListItems(context.Background(), models.ItemQuery{}); page.Total != 3 {
			t.Fatalf("refused uploads changed the catalog: %d items", page.Total)
		}
	})
}

func TestScannerNameKnownToInstancesThatMissedTheCheckIn(t *testing.T) {
	eachAPI(t, models.ScopeScanner, func(t *testing.T, api *apiClient) {
		api.expect(api.do(http.MethodPost, "/api/v1/scanners/checkin", `{"name":"pg-scanner","host":"db1.internal","version":"2.4.0"}`), http.StatusOK, nil)
		// A second instance on the same database, or this one after a restart.
		other := apptest.NewOnStore(t, api.app.Store)
		res := other.Client(t).Do(http.MethodGet, "/api/v1/auth/verify", nil, map[string]string{"X-API-SECRET": api.secret, "User-Agent": "scanner-http/1.0"})
		api.expect(res, http.StatusOK, nil)
		ctx := context.Background()
		if err := other.Keys.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		list, err := api.app.Store.APIKeyClients(ctx, api.key.ID, api.app.Store.Now().Add(-time.Hour), 10)
		if err != nil {
			t.Fatal(err)
		}
		clients := list.Clients
		for _, c := range clients {
			if c.Client != "pg-scanner" || !c.Scanner {
				t.Errorf("client %+v, want the scanner pg-scanner", c)
			}
		}
		if len(clients) == 0 {
			t.Error("no use recorded")
		}
	})
}

func TestScannerCheckInWithAnotherKeyKeepsBothScanners(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		owner, ownerSecret, _ := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "warehouse scanner", Scope: models.ScopeScanner})
		other, otherSecret, _ := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "another scanner", Scope: models.ScopeScanner})
		checkIn := func(secret, version string) {
			t.Helper()
			res := app.Client(t).Do(http.MethodPost, "/api/v1/scanners/checkin",
				strings.NewReader(`{"name":"pg-scanner","host":"db1.internal","version":"`+version+`"}`),
				map[string]string{"X-API-SECRET": secret, "Content-Type": "application/json"})
			wantStatus(t, res, http.StatusOK)
		}
		checkIn(ownerSecret, "2.4.0")
		checkIn(otherSecret, "9.9.9")

		rows := scannerRows(t, admin.Get("/admin/scanners").Body)
		want := map[string]string{
			"warehouse scanner " + owner.PublicID: "2.4.0",
			"another scanner " + other.PublicID:   "9.9.9",
		}
		if len(rows) != 2 {
			t.Fatalf("scanners %+v, want one per key", rows)
		}
		for _, row := range rows {
			if row.name != "pg-scanner @ db1.internal" || want[row.key] != row.version {
				t.Errorf("row %+v; want pg-scanner @ db1.internal with each key's own version %v", row, want)
			}
		}
	})
}
