package models_test

import (
	"context"
	"fmt"
	"testing"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// Creating and deleting a key tell the store's subscribers, once committed, which key and
// which secret hash changed, and a delete names the revocation it recorded; a delete that finds
// nothing tells nobody.
func TestKeyChangesAreNoticed(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		var heard []models.KeyNotice
		store.OnKeyNotice(func(n models.KeyNotice) { heard = append(heard, n) })
		key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "noticed", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.DeleteAPIKey(ctx, key.PublicID); err != nil {
			t.Fatal(err)
		}
		if _, err := store.DeleteAPIKey(ctx, key.PublicID); err == nil {
			t.Fatal("second delete: got nil, want ErrAPIKeyNotFound")
		}
		revocation, err := store.LatestKeyRevocation(ctx, key.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := []models.KeyNotice{
			{KeyID: key.ID, Hashes: []string{key.SecretHash}},
			{KeyID: key.ID, Hashes: []string{key.SecretHash}, Revoked: true, RevocationID: revocation},
		}
		if fmt.Sprint(heard) != fmt.Sprint(want) {
			t.Errorf("notices: got %+v, want %+v", heard, want)
		}
	})
}
