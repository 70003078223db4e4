package models_test

import (
	"context"
	"slices"
	"testing"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// ForEachSecretHash reads every secret hash the store holds, each once: a key's current secret,
// a previous secret in its grace, and the secrets retired by a deletion or a rotation without
// grace; and the store counts the statements it sends.
func TestForEachSecretHashReadsEverySecretTheStoreHolds(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		create := func(name string) *models.APIKey {
			key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: name, Scope: models.ScopeReadOnly})
			if err != nil {
				t.Fatal(err)
			}
			return key
		}
		current := create("current")
		graced := create("graced")
		withGrace, _, err := store.RotateAPIKey(ctx, graced.PublicID, models.Rotation{Grace: models.GraceDay})
		if err != nil {
			t.Fatal(err)
		}
		replaced := create("replaced")
		withoutGrace, _, err := store.RotateAPIKey(ctx, replaced.PublicID, models.Rotation{Grace: models.GraceNone})
		if err != nil {
			t.Fatal(err)
		}
		deleted := create("deleted")
		if _, err := store.DeleteAPIKey(ctx, deleted.PublicID); err != nil {
			t.Fatal(err)
		}
		want := []string{current.SecretHash, withGrace.SecretHash, graced.SecretHash, withoutGrace.SecretHash, replaced.SecretHash, deleted.SecretHash}
		slices.Sort(want)

		before := store.Statements()
		var got []string
		if err := store.ForEachSecretHash(ctx, func(hash []byte) { got = append(got, string(hash)) }); err != nil {
			t.Fatal(err)
		}
		if sent := store.Statements() - before; sent != 1 {
			t.Errorf("statements sent: got %d, want 1", sent)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("secret hashes:\n got %q\nwant %q", got, want)
		}
	})
}
