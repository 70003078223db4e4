package models_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// Disabling and enabling are one store operation each: the key keeps everything but its
// validity, every instance is told (a notice naming the key and its secret hashes, revoking
// them or not), and repeating either changes nothing.
func TestDisableAndEnableAPIKey(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		var heard []models.KeyNotice
		store.OnKeyNotice(func(n models.KeyNotice) { heard = append(heard, n) })
		created, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "pausable", Scope: models.ScopeScanner})
		if err != nil {
			t.Fatal(err)
		}
		disabledAt := time.Date(2030, 5, 1, 9, 30, 0, 123456000, time.UTC)
		store.SetClock(func() time.Time { return disabledAt })

		key, changed, err := store.DisableAPIKey(ctx, created.PublicID)
		if err != nil || !changed {
			t.Fatalf("disable: got changed %v, %v; want true, nil", changed, err)
		}
		if key.DisabledAt == nil || !key.DisabledAt.Equal(disabledAt) {
			t.Errorf("disabled at: got %v, want %v", key.DisabledAt, disabledAt)
		}
		if key.Status(disabledAt) != models.StatusDisabled {
			t.Errorf("status: got %q, want %q", key.Status(disabledAt), models.StatusDisabled)
		}
		if key.Name != created.Name || key.SecretHash != created.SecretHash || key.Scope != created.Scope || key.CreatedAt.Sub(created.CreatedAt).Abs() >= time.Microsecond {
			t.Errorf("disabled key: got %+v, want %+v but disabled", key, created)
		}

		store.SetClock(func() time.Time { return disabledAt.Add(time.Hour) })
		again, changed, err := store.DisableAPIKey(ctx, created.PublicID)
		if err != nil || changed {
			t.Fatalf("second disable: got changed %v, %v; want false, nil", changed, err)
		}
		if again.DisabledAt == nil || !again.DisabledAt.Equal(disabledAt) {
			t.Errorf("second disable moved the time: got %v, want %v", again.DisabledAt, disabledAt)
		}
		stored, err := store.APIKeyBySecretHash(ctx, created.SecretHash)
		if err != nil || stored.DisabledAt == nil {
			t.Fatalf("stored key after disable: got %+v, %v; want it disabled", stored, err)
		}

		key, changed, err = store.EnableAPIKey(ctx, created.PublicID)
		if err != nil || !changed || key.DisabledAt != nil {
			t.Fatalf("enable: got %+v, changed %v, %v; want enabled, true, nil", key, changed, err)
		}
		if _, changed, err = store.EnableAPIKey(ctx, created.PublicID); err != nil || changed {
			t.Fatalf("second enable: got changed %v, %v; want false, nil", changed, err)
		}
		if stored, _ := store.APIKeyBySecretHash(ctx, created.SecretHash); stored.DisabledAt != nil {
			t.Errorf("stored key after enable: disabled at %v, want nil", stored.DisabledAt)
		}

		for _, id := range []string{"ak_nope", "", created.PublicID + "x", "ak_\x00", created.PublicID + "\xff"} {
			if _, _, err := store.DisableAPIKey(ctx, id); !errors.Is(err, models.ErrAPIKeyNotFound) {
				t.Errorf("disable %q: got %v, want ErrAPIKeyNotFound", id, err)
			}
			if _, _, err := store.EnableAPIKey(ctx, id); !errors.Is(err, models.ErrAPIKeyNotFound) {
				t.Errorf("enable %q: got %v, want ErrAPIKeyNotFound", id, err)
			}
		}

		// Each revocation is recorded, for its proof, under an id of its own.
		for i, notice := range heard {
			if notice.Revoked != (notice.RevocationID != 0) {
				t.Errorf("notice %d: revoked %v with revocation id %d, want an id exactly when revoked", i, notice.Revoked, notice.RevocationID)
			}
			heard[i].RevocationID = 0
		}
		revoke := models.KeyNotice{KeyID: created.ID, Hashes: []string{created.SecretHash}, Revoked: true}
		begin := models.KeyNotice{KeyID: created.ID, Hashes: []string{created.SecretHash}}
		want := []models.KeyNotice{begin, revoke, revoke, begin, begin}
		if fmt.Sprint(heard) != fmt.Sprint(want) {
			t.Errorf("notices: got %+v, want %+v", heard, want)
		}
	})
}

// Many administrators disabling one key at once: every call succeeds, exactly one disables it.
func TestParallelDisablesChangeTheKeyOnce(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "contended", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		const callers = 12
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			changes int
		)
		for range callers {
			wg.Go(func() {
				_, changed, err := store.DisableAPIKey(ctx, key.PublicID)
				if err != nil {
					t.Errorf("parallel disable: %v", err)
				}
				mu.Lock()
				defer mu.Unlock()
				if changed {
					changes++
				}
			})
		}
		wg.Wait()
		if changes != 1 {
			t.Errorf("disables that changed the key: got %d, want 1", changes)
		}
	})
}
