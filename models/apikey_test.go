package models_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

var secretPattern = regexp.MustCompile(`^ksk_[0-9A-Za-z]{43}[0-9A-Za-z]{6}$`)

func TestGenerateSecretFormat(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		secret := models.GenerateSecret()
		if !secretPattern.MatchString(secret) {
			t.Fatalf("secret %q does not match %s", secret, secretPattern)
		}
		if err := models.ParseSecret(secret); err != nil {
			t.Fatalf("ParseSecret(generated) = %v, want nil", err)
		}
		if seen[secret] {
			t.Fatal("duplicate secret generated")
		}
		seen[secret] = true
	}
}

func TestParseSecretRejects(t *testing.T) {
	valid := models.GenerateSecret()
	flipped := []byte(valid)
	flipped[10] = map[bool]byte{true: 'B', false: 'A'}[flipped[10] == 'A']
	for name, secret := range map[string]string{
		"empty":          "",
		"no prefix":      strings.TrimPrefix(valid, "ksk_"),
		"other prefix":   "ghp_" + valid[4:],
		"truncated":      valid[:len(valid)-1],
		"too long":       valid + "A",
		"bad character":  valid[:20] + "-" + valid[21:],
		"wrong checksum": string(flipped),
	} {
		if err := models.ParseSecret(secret); !errors.Is(err, models.ErrMalformedSecret) {
			t.Errorf("%s: ParseSecret(%q) = %v, want ErrMalformedSecret", name, secret, err)
		}
	}
}

func TestCreateAPIKeyStoresOnlyHashAndHint(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		expires := store.Now().Add(48 * time.Hour)
		key, secret, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "  Nightly export ", Scope: models.ScopeReadOnly, ExpiresAt: &expires})
		if err != nil {
			t.Fatal(err)
		}
		if key.Name != "Nightly export" {
			t.Errorf("name = %q, want trimmed %q", key.Name, "Nightly export")
		}
		if !strings.HasPrefix(key.PublicID, "ak_") || len(key.PublicID) != 19 {
			t.Errorf("public id = %q, want ak_ and 16 characters", key.PublicID)
		}
		stored, err := store.APIKeyByPublicID(ctx, key.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.SecretHash != models.HashSecret(secret) {
			t.Errorf("secret hash = %q, want SHA-256 of the secret", stored.SecretHash)
		}
		if strings.Contains(stored.SecretHash+stored.Hint+stored.Name+stored.PublicID, secret) {
			t.Error("the secret is stored in clear")
		}
		if want := secret[:8] + "…" + secret[len(secret)-4:]; stored.Hint != want {
			t.Errorf("hint = %q, want %q", stored.Hint, want)
		}
		if stored.ExpiresAt == nil || !stored.ExpiresAt.Equal(expires.Truncate(time.Microsecond)) && stored.ExpiresAt.Sub(expires).Abs() > time.Millisecond {
			t.Errorf("expires at = %v, want %v", stored.ExpiresAt, expires)
		}
		byHash, err := store.APIKeyBySecretHash(ctx, models.HashSecret(secret))
		if err != nil || byHash.PublicID != key.PublicID {
			t.Errorf("APIKeyBySecretHash = %v, %v; want key %s", byHash, err, key.PublicID)
		}
	})
}

func TestCreateAPIKeyDuplicateNameIgnoresCase(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		if _, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "BI Gateway", Scope: models.ScopeAdmin}); err != nil {
			t.Fatal(err)
		}
		_, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "bi gateway ", Scope: models.ScopeReadOnly})
		if !errors.Is(err, models.ErrDuplicateName) {
			t.Fatalf("second create: got %v, want ErrDuplicateName", err)
		}
		holder, err := store.APIKeyNameTakenBy(ctx, " BI GATEWAY")
		if err != nil || holder != "BI Gateway" {
			t.Errorf("APIKeyNameTakenBy: got %q, %v; want %q", holder, err, "BI Gateway")
		}
		page, err := store.ListAPIKeys(ctx, models.APIKeyQuery{})
		if err != nil || page.Total != 1 {
			t.Errorf("total = %d, %v; want 1 (nothing half-written)", page.Total, err)
		}
	})
}

func TestDeleteAPIKeyTouchesExactlyOneRow(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		keep, _, _ := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "keep", Scope: models.ScopeReadOnly})
		drop, _, _ := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "drop", Scope: models.ScopeReadOnly})
		deleted, err := store.DeleteAPIKey(ctx, drop.PublicID)
		if err != nil || deleted.PublicID != drop.PublicID || deleted.SecretHash != drop.SecretHash {
			t.Fatalf("DeleteAPIKey = %+v, %v; want the deleted key", deleted, err)
		}
		if _, err := store.DeleteAPIKey(ctx, drop.PublicID); !errors.Is(err, models.ErrAPIKeyNotFound) {
			t.Errorf("second delete: got %v, want ErrAPIKeyNotFound", err)
		}
		if _, err := store.APIKeyByPublicID(ctx, keep.PublicID); err != nil {
			t.Errorf("the other key is gone: %v", err)
		}
	})
}

func TestListAPIKeysSearchSortPage(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		names := []string{"alpha", "Beta", "gamma_1", "gamma%2", "Délta"}
		for i, name := range names {
			store.SetClock(func() time.Time { return base.Add(time.Duration(i) * time.Hour) })
			var expires *time.Time
			if i != 2 {
				at := base.AddDate(0, 0, 10-i)
				expires = &at
			}
			if _, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: name, Scope: models.ScopeReadOnly, ExpiresAt: expires}); err != nil {
				t.Fatal(err)
			}
		}
		list := func(q models.APIKeyQuery) []string {
			t.Helper()
			page, err := store.ListAPIKeys(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range page.Keys {
				got = append(got, k.Name)
			}
			return got
		}
		for _, tc := range []struct {
			name  string
			query models.APIKeyQuery
			want  string
		}{
			{"default newest first", models.APIKeyQuery{}, "Délta gamma%2 gamma_1 Beta alpha"},
			{"name ascending ignores case", models.APIKeyQuery{Sort: models.SortNameAsc}, "alpha Beta Délta gamma%2 gamma_1"},
			{"name descending", models.APIKeyQuery{Sort: models.SortNameDesc}, "gamma_1 gamma%2 Délta Beta alpha"},
			{"created ascending", models.APIKeyQuery{Sort: models.SortCreatedAsc}, "alpha Beta gamma_1 gamma%2 Délta"},
			{"expires ascending, never last", models.APIKeyQuery{Sort: models.SortExpiresAsc}, "Délta gamma%2 Beta alpha gamma_1"},
			{"expires descending, never first", models.APIKeyQuery{Sort: models.SortExpiresDesc}, "gamma_1 alpha Beta gamma%2 Délta"},
			{"search is case-insensitive", models.APIKeyQuery{Search: "BET"}, "Beta"},
			{"search folds non-ASCII case", models.APIKeyQuery{Search: "DÉL"}, "Délta"},
			{"underscore is literal", models.APIKeyQuery{Search: "a_"}, "gamma_1"},
			{"percent is literal", models.APIKeyQuery{Search: "a%"}, "gamma%2"},
			{"page 2 of 2", models.APIKeyQuery{Sort: models.SortNameAsc, Page: 2, PerPage: 3}, "gamma%2 gamma_1"},
		} {
			if got := strings.Join(list(tc.query), " "); got != tc.want {
				t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
			}
		}
		page, _ := store.ListAPIKeys(ctx, models.APIKeyQuery{PerPage: 2})
		if page.Total != 5 || page.Pages() != 3 {
			t.Errorf("total %d pages %d, want 5 and 3", page.Total, page.Pages())
		}
	})
}

func TestCopyFormat(t *testing.T) {
	secret := "ksk_example"
	for scope, want := range map[models.Scope]string{
		models.ScopeReadOnly:            "X-API-SECRET: ksk_example",
		models.ScopeManageDocumentation: "X-API-SECRET: ksk_example",
		models.ScopeAdmin:               "X-API-SECRET: ksk_example",
		models.ScopeScanner:             `authentication { api-key { secret = "ksk_example" } }`,
	} {
		if got := scope.CopyFormat(secret); got != want {
			t.Errorf("%s: got %q, want %q", scope, got, want)
		}
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		applied, err := store.Migrate(context.Background())
		if err != nil || len(applied) != 0 {
			t.Errorf("second Migrate = %v, %v; want nothing applied", applied, err)
		}
	})
}

func ExampleScope_CopyFormat() {
	fmt.Println(models.ScopeScanner.CopyFormat("ksk_…"))
	// Output: authentication { api-key { secret = "ksk_…" } }
}

// APIKeysByID reads the keys that exist among those asked for, in one query, and nothing for
// the others.
func TestAPIKeysByID(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		var ids []int64
		var publicIDs []string
		expires := store.Now().Add(48 * time.Hour).Truncate(time.Second)
		for _, nk := range []models.NewAPIKey{
			{Name: "first", Scope: models.ScopeReadOnly, ExpiresAt: &expires},
			{Name: "second", Scope: models.ScopeScanner},
			{Name: "deleted", Scope: models.ScopeReadOnly},
		} {
			key, _, err := store.CreateAPIKey(ctx, nk)
			if err != nil {
				t.Fatal(err)
			}
			ids, publicIDs = append(ids, key.ID), append(publicIDs, key.PublicID)
		}
		if _, _, err := store.DisableAPIKey(ctx, publicIDs[1]); err != nil {
			t.Fatal(err)
		}
		if _, err := store.DeleteAPIKey(ctx, publicIDs[2]); err != nil {
			t.Fatal(err)
		}
		keys, err := store.APIKeysByID(ctx, append(ids, 1<<40))
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 2 {
			t.Fatalf("APIKeysByID: %d keys, want the first and second only", len(keys))
		}
		// What the verifier's cache entry holds is read, as APIKeyByPublicID reads it.
		for _, got := range keys {
			want, err := store.APIKeyByPublicID(ctx, got.PublicID)
			if err != nil {
				t.Fatalf("key %d read by id as public id %q: %v", got.ID, got.PublicID, err)
			}
			if got.ID != want.ID || got.Name != want.Name || got.Scope != want.Scope || got.SecretHash != want.SecretHash ||
				!equalTimes(got.ExpiresAt, want.ExpiresAt) || !equalTimes(got.DisabledAt, want.DisabledAt) {
				t.Errorf("APIKeysByID read %+v, want the id, name, scope, secret hash, expiry and disabled time of %+v", got, want)
			}
		}
		if keys, err := store.APIKeysByID(ctx, nil); err != nil || len(keys) != 0 {
			t.Errorf("APIKeysByID(nil) = %v, %v; want nothing", keys, err)
		}
	})
}

// equalTimes tells whether two optional times are both absent, or the same instant.
func equalTimes(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
