package models_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

var alice = models.Actor{KeyID: "ak_alice", KeyName: "alice's script"}

func fieldOf(t *testing.T, err error) string {
	t.Helper()
	var fe *models.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("got error %v, want a FieldError", err)
	}
	return fe.Field
}

func TestItemCRUD(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		created, err := store.CreateItem(ctx, models.ItemInput{
			Type: "dataset", Name: "  Customers  ", Description: "All customers",
			Properties: map[string]any{"owner": "sales", "row_count": float64(42)},
		}, alice)
		if err != nil {
			t.Fatal(err)
		}
		if created.ID == 0 || created.Name != "Customers" || created.ChangedByKeyID != "ak_alice" || created.CreatedAt.Location() != time.UTC {
			t.Fatalf("created %+v", created)
		}
		got, err := store.ItemByID(ctx, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "Customers" || got.Properties["owner"] != "sales" || got.Properties["row_count"] != float64(42) || got.ChangedByKeyName != "alice's script" {
			t.Fatalf("read back %+v", got)
		}

		bob := models.Actor{KeyID: "ak_bob", KeyName: "bob"}
		name := "Clients"
		updated, err := store.UpdateItem(ctx, created.ID, models.ItemPatch{Name: &name}, bob)
		if err != nil {
			t.Fatal(err)
		}
		if updated.Name != "Clients" || updated.Description != "All customers" || updated.Properties["owner"] != "sales" || updated.ChangedByKeyID != "ak_bob" {
			t.Fatalf("updated %+v", updated)
		}
		got, _ = store.ItemByID(ctx, created.ID)
		if got.Name != "Clients" || got.ChangedByKeyName != "bob" || !got.CreatedAt.Equal(created.CreatedAt) {
			t.Fatalf("after update read %+v", got)
		}

		if err := store.DeleteItem(ctx, created.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := store.ItemByID(ctx, created.ID); !errors.Is(err, models.ErrItemNotFound) {
			t.Fatalf("get deleted: got %v, want ErrItemNotFound", err)
		}
		if err := store.DeleteItem(ctx, created.ID); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("delete twice: got %v, want ErrNotFound", err)
		}
		if _, err := store.UpdateItem(ctx, created.ID, models.ItemPatch{Name: &name}, bob); !errors.Is(err, models.ErrItemNotFound) {
			t.Fatalf("update deleted: got %v, want ErrItemNotFound", err)
		}
	})
}

func TestItemValidation(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		long := make([]rune, models.MaxItemNameLength+1)
		for i := range long {
			long[i] = 'x'
		}
		cases := []struct {
			name  string
			in    models.ItemInput
			field string
		}{
			{"unknown type", models.ItemInput{Type: "spaceship", Name: "x"}, "type"},
			{"empty name", models.ItemInput{Type: "dataset", Name: "   "}, "name"},
			{"long name", models.ItemInput{Type: "dataset", Name: string(long)}, "name"},
			{"control character", models.ItemInput{Type: "dataset", Name: "a\x00b"}, "name"},
			{"invalid UTF-8 in the name", models.ItemInput{Type: "dataset", Name: "a\xffb"}, "name"},
			{"NUL in the description", models.ItemInput{Type: "dataset", Name: "x", Description: "a\x00b"}, "description"},
			{"invalid UTF-8 in the description", models.ItemInput{Type: "dataset", Name: "x", Description: "caf\xe9"}, "description"},
			{"escape in the description", models.ItemInput{Type: "dataset", Name: "x", Description: "a\x1b[31mb"}, "description"},
			{"NUL in a property", models.ItemInput{Type: "dataset", Name: "x", Properties: map[string]any{"owner": "a\x00b"}}, "properties.owner"},
			{"invalid UTF-8 in a property", models.ItemInput{Type: "dataset", Name: "x", Properties: map[string]any{"owner": "\xc3"}}, "properties.owner"},
			{"unknown property", models.ItemInput{Type: "dataset", Name: "x", Properties: map[string]any{"colour": "red"}}, "properties.colour"},
			{"wrong property kind", models.ItemInput{Type: "dataset", Name: "x", Properties: map[string]any{"row_count": "many"}}, "properties.row_count"},
			{"boolean property", models.ItemInput{Type: "field", Name: "x", Properties: map[string]any{"nullable": "yes"}}, "properties.nullable"},
		}
		for _, tc := range cases {
			_, err := store.CreateItem(ctx, tc.in, alice)
			if got := fieldOf(t, err); got != tc.field {
				t.Errorf("%s: field %q, want %q", tc.name, got, tc.field)
			}
		}
		page, err := store.ListItems(ctx, models.ItemQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 0 {
			t.Fatalf("invalid items were stored: %d", page.Total)
		}
	})
}

func TestListItemsPagingAndSearch(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		for i := range 7 {
			if _, err := store.CreateItem(ctx, models.ItemInput{Type: "dataset", Name: fmt.Sprintf("Orders %d", i)}, alice); err != nil {
				t.Fatal(err)
			}
		}
		for _, name := range []string{"Invoices", "100%_done", "100 done"} {
			if _, err := store.CreateItem(ctx, models.ItemInput{Type: "dataset", Name: name}, alice); err != nil {
				t.Fatal(err)
			}
		}
		page, err := store.ListItems(ctx, models.ItemQuery{Search: "ORDERS", Page: 2, PerPage: 3})
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 7 || len(page.Items) != 3 || page.Items[0].Name != "Orders 3" {
			t.Fatalf("page 2: total %d, %d items, first %q; want 7, 3, %q", page.Total, len(page.Items), page.Items[0].Name, "Orders 3")
		}
		page, _ = store.ListItems(ctx, models.ItemQuery{Search: "%_"})
		if page.Total != 1 || page.Items[0].Name != "100%_done" {
			t.Fatalf("LIKE wildcards are not escaped: %+v", page)
		}
	})
}

func TestMetamodelReplace(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		m, err := store.Metamodel(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.ItemTypes) == 0 || m.ItemTypes[0].Name != "dataset" {
			t.Fatalf("default metamodel: %+v", m)
		}
		if _, err := store.CreateItem(ctx, models.ItemInput{Type: "dataset", Name: "Customers", Properties: map[string]any{"owner": "sales"}}, alice); err != nil {
			t.Fatal(err)
		}

		withoutDataset := models.Metamodel{ItemTypes: []models.ItemType{{Name: "report", Label: "Report"}}}
		if got := fieldOf(t, store.ReplaceMetamodel(ctx, withoutDataset, alice)); got != "item_types" {
			t.Fatalf("removing a used type: field %q, want item_types", got)
		}

		next := models.Metamodel{ItemTypes: []models.ItemType{
			{Name: "dataset", Label: "Dataset", Properties: []models.PropertyDef{{Name: "domain", Label: "Domain", Type: "string", Required: true}}},
			{Name: "report", Label: "Report"},
		}}
		if err := store.ReplaceMetamodel(ctx, next, alice); err != nil {
			t.Fatal(err)
		}
		m, _ = store.Metamodel(ctx)
		if len(m.ItemTypes) != 2 || m.ItemTypes[1].Name != "report" || m.ItemTypes[1].Properties == nil {
			t.Fatalf("replaced metamodel: %+v", m)
		}
		if _, err := store.CreateItem(ctx, models.ItemInput{Type: "report", Name: "Sales"}, alice); err != nil {
			t.Fatalf("new type refused: %v", err)
		}
		if got := fieldOf(t, func() error {
			_, err := store.CreateItem(ctx, models.ItemInput{Type: "dataset", Name: "Leads"}, alice)
			return err
		}()); got != "properties.domain" {
			t.Fatalf("missing required property: field %q", got)
		}
		// The existing item lost "owner" from its type; a rename must give the required
		// "domain" and drops "owner" quietly.
		page, _ := store.ListItems(ctx, models.ItemQuery{Search: "customers"})
		id := page.Items[0].ID
		name := "Clients"
		if got := fieldOf(t, func() error {
			_, err := store.UpdateItem(ctx, id, models.ItemPatch{Name: &name}, alice)
			return err
		}()); got != "properties.domain" {
			t.Fatalf("update without required property: field %q", got)
		}
		updated, err := store.UpdateItem(ctx, id, models.ItemPatch{Name: &name, Properties: map[string]any{"domain": "sales"}}, alice)
		if err != nil {
			t.Fatal(err)
		}
		if _, kept := updated.Properties["owner"]; kept || updated.Properties["domain"] != "sales" {
			t.Fatalf("properties after update: %v", updated.Properties)
		}
	})
}

func TestMetamodelValidate(t *testing.T) {
	prop := func(name, kind string) models.PropertyDef {
		return models.PropertyDef{Name: name, Label: "L", Type: kind}
	}
	cases := []struct {
		name  string
		m     models.Metamodel
		field string
	}{
		{"no types", models.Metamodel{}, "item_types"},
		{"bad type name", models.Metamodel{ItemTypes: []models.ItemType{{Name: "Data Set", Label: "x"}}}, "item_types[0].name"},
		{"duplicate type", models.Metamodel{ItemTypes: []models.ItemType{{Name: "a", Label: "A"}, {Name: "a", Label: "A"}}}, "item_types[1].name"},
		{"missing label", models.Metamodel{ItemTypes: []models.ItemType{{Name: "a"}}}, "item_types[0].label"},
		{"bad property kind", models.Metamodel{ItemTypes: []models.ItemType{{Name: "a", Label: "A", Properties: []models.PropertyDef{prop("p", "date")}}}}, "item_types[0].properties[0].type"},
		{"duplicate property", models.Metamodel{ItemTypes: []models.ItemType{{Name: "a", Label: "A", Properties: []models.PropertyDef{prop("p", "string"), prop("p", "number")}}}}, "item_types[0].properties[1].name"},
	}
	for _, tc := range cases {
		if got := fieldOf(t, tc.m.Validate()); got != tc.field {
			t.Errorf("%s: field %q, want %q", tc.name, got, tc.field)
		}
	}
}

func TestUpsertInventory(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		scanner := models.Actor{KeyID: "ak_scan", KeyName: "warehouse scanner"}
		first := []models.InventoryItem{
			{ExternalKey: "pg://sales/customers", ItemInput: models.ItemInput{Type: "dataset", Name: "customers"}},
			{ExternalKey: "pg://sales/orders", ItemInput: models.ItemInput{Type: "dataset", Name: "orders"}},
		}
		res, err := store.UpsertInventory(ctx, first, scanner)
		if err != nil {
			t.Fatal(err)
		}
		if res != (models.InventoryResult{Created: 2}) {
			t.Fatalf("first upload: %+v", res)
		}
		second := []models.InventoryItem{
			{ExternalKey: "pg://sales/customers", ItemInput: models.ItemInput{Type: "dataset", Name: "customers", Description: "now documented"}},
			{ExternalKey: "pg://sales/invoices", ItemInput: models.ItemInput{Type: "dataset", Name: "invoices"}},
		}
		res, err = store.UpsertInventory(ctx, second, scanner)
		if err != nil {
			t.Fatal(err)
		}
		if res != (models.InventoryResult{Created: 1, Updated: 1}) {
			t.Fatalf("second upload: %+v", res)
		}
		page, _ := store.ListItems(ctx, models.ItemQuery{})
		if page.Total != 3 {
			t.Fatalf("got %d items, want 3", page.Total)
		}
		customers := page.Items[0]
		if customers.Name != "customers" || customers.Description != "now documented" || customers.ExternalKey == nil || *customers.ExternalKey != "pg://sales/customers" {
			t.Fatalf("customers after second upload: %+v", customers)
		}

		bad := []models.InventoryItem{
			{ExternalKey: "k1", ItemInput: models.ItemInput{Type: "dataset", Name: "fine"}},
			{ExternalKey: "k2", ItemInput: models.ItemInput{Type: "nope", Name: "wrong"}},
		}
		if got := fieldOf(t, func() error { _, err := store.UpsertInventory(ctx, bad, scanner); return err }()); got != "items[1].type" {
			t.Fatalf("invalid inventory: field %q", got)
		}
		dup := []models.InventoryItem{
			{ExternalKey: "k1", ItemInput: models.ItemInput{Type: "dataset", Name: "a"}},
			{ExternalKey: "k1", ItemInput: models.ItemInput{Type: "dataset", Name: "b"}},
		}
		if got := fieldOf(t, func() error { _, err := store.UpsertInventory(ctx, dup, scanner); return err }()); got != "items[1].external_key" {
			t.Fatalf("duplicate key: field %q", got)
		}
		badBytes := []models.InventoryItem{
			{ExternalKey: "k1", ItemInput: models.ItemInput{Type: "dataset", Name: "fine"}},
			{ExternalKey: "k2", ItemInput: models.ItemInput{Type: "dataset", Name: "fine too", Description: "a\x00b"}},
		}
		if got := fieldOf(t, func() error { _, err := store.UpsertInventory(ctx, badBytes, scanner); return err }()); got != "items[1].description" {
			t.Fatalf("NUL in an item: field %q, want %q", got, "items[1].description")
		}
		if page, _ := store.ListItems(ctx, models.ItemQuery{}); page.Total != 3 {
			t.Fatalf("a refused upload wrote items: %d", page.Total)
		}
	})
}

// Paragraphs keep their line breaks; a search for bytes that are not text is refused, not
// sent to the database.
func TestItemTextOnBothDatabases(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		description := "First line.\r\n\tSecond line."
		item, err := store.CreateItem(ctx, models.ItemInput{Type: "dataset", Name: "x", Description: description, Properties: map[string]any{"owner": "a\nb"}}, alice)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := store.ItemByID(ctx, item.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Description != description {
			t.Errorf("description: got %q, want %q", stored.Description, description)
		}
		for _, q := range []string{"a\x00", "\xff", "a\nb"} {
			if got := fieldOf(t, func() error { _, err := store.ListItems(ctx, models.ItemQuery{Search: q}); return err }()); got != "q" {
				t.Errorf("search %q: field %q, want %q", q, got, "q")
			}
		}
	})
}
