package integration

import (
	"net/http"
	"testing"

	"keysmith/models"
)

func TestMetamodelAPI(t *testing.T) {
	eachAPI(t, models.ScopeAdmin, func(t *testing.T, api *apiClient) {
		var m models.Metamodel
		api.expect(api.do(http.MethodGet, "/api/v1/metamodel", ""), http.StatusOK, &m)
		if len(m.ItemTypes) < 2 || m.ItemTypes[0].Name != "dataset" || len(m.ItemTypes[0].Properties) == 0 {
			t.Fatalf("default metamodel: %+v", m)
		}
		api.expect(api.do(http.MethodPost, "/api/v1/items", `{"type":"dataset","name":"Customers"}`), http.StatusCreated, nil)

		for _, tc := range []struct{ body, field string }{
			{`{"item_types":[]}`, "item_types"},
			{`{}`, "item_types"},
			{`{"item_types":[{"name":"Data Set","label":"x"}]}`, "item_types[0].name"},
			{`{"item_types":[{"name":"dataset","label":""}]}`, "item_types[0].label"},
			{`{"item_types":[{"name":"dataset","label":"D","properties":[{"name":"when","label":"When","type":"date"}]}]}`, "item_types[0].properties[0].type"},
			{`{"item_types":[{"name":"dataset","label":"D"},{"name":"dataset","label":"D"}]}`, "item_types[1].name"},
			{`{"item_types":[{"name":"report","label":"Report"}]}`, "item_types"}, // dataset is in use
			{`{"item_types":"dataset"}`, "item_types"},
		} {
			api.expectField(api.do(http.MethodPut, "/api/v1/metamodel", tc.body), tc.field)
		}
		api.expectError(api.do(http.MethodPut, "/api/v1/metamodel", `{"item_types":[{"name":"dataset","label":"D","colour":"red"}]}`), http.StatusBadRequest)
		api.expectError(api.do(http.MethodPut, "/api/v1/metamodel", `{"item_types":[`), http.StatusBadRequest)

		next := `{"item_types":[
			{"name":"dataset","label":"Dataset","properties":[{"name":"domain","label":"Domain","type":"string","required":true}]},
			{"name":"report","label":"Report"}
		]}`
		var replaced models.Metamodel
		api.expect(api.do(http.MethodPut, "/api/v1/metamodel", next), http.StatusOK, &replaced)
		api.expect(api.do(http.MethodGet, "/api/v1/metamodel", ""), http.StatusOK, &m)
		if len(m.ItemTypes) != 2 || m.ItemTypes[1].Name != "report" || m.ItemTypes[1].Properties == nil || !m.ItemTypes[0].Properties[0].Required {
			t.Fatalf("metamodel after PUT: %+v", m)
		}

		// Items now follow the new metamodel.
		api.expect(api.do(http.MethodPost, "/api/v1/items", `{"type":"report","name":"Quarterly"}`), http.StatusCreated, nil)
		api.expectField(api.do(http.MethodPost, "/api/v1/items", `{"type":"dataset","name":"Leads"}`), "properties.domain")
		api.expectField(api.do(http.MethodPost, "/api/v1/items", `{"type":"field","name":"id"}`), "type")
	})
}
