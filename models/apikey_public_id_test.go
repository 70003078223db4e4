package models_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// A string that is not a public id is not found without a query: even a closed store answers
// it. A well-formed id is looked up.
func TestAPIKeyByPublicIDAsksNothingForMalformedIDs(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "found", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := store.APIKeyByPublicID(ctx, key.PublicID); err != nil || got.ID != key.ID {
			t.Fatalf("APIKeyByPublicID(%q): got %v, %v; want the key", key.PublicID, got, err)
		}
		if _, err := store.APIKeyByPublicID(ctx, "ak_0000000000000000"); !errors.Is(err, models.ErrAPIKeyNotFound) {
			t.Errorf("a well-formed unknown id: got %v, want ErrAPIKeyNotFound", err)
		}
		store.Close()
		if _, err := store.APIKeyByPublicID(ctx, key.PublicID); errors.Is(err, models.ErrAPIKeyNotFound) {
			t.Fatal("the closed store answered a well-formed id without asking the database: the test below proves nothing")
		}
		for _, id := range []string{
			"", "ak_", "ak_000000000000000", "ak_00000000000000000", "AK_0000000000000000",
			"ak_000000000000000!", "ak_00000000000000é", "ak_000000000000000\x00", "ak_000000000000000\xff",
			"../../etc/passwd", strings.Repeat("ak_", 10_000), key.PublicID + " ", " " + key.PublicID[1:],
		} {
			if _, err := store.APIKeyByPublicID(ctx, id); !errors.Is(err, models.ErrAPIKeyNotFound) {
				t.Errorf("APIKeyByPublicID(%q): got %v, want ErrAPIKeyNotFound", id, err)
			}
		}
	})
}
