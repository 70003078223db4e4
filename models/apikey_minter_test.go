package models_test

import (
	"context"
	"errors"
	"testing"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// A key never outranks its minter: only a Super admin may create an Admin key or rotate one
// (a rotation shows a new Admin secret), unless KEYSMITH_ADMIN_KEYS_BY=key-admins lets every
// key administrator; the operator (no Minter) may. A refusal creates or changes nothing.
func TestKeysNeverOutrankTheirMinter(t *testing.T) {
	connectivity := &models.Minter{Permission: models.PermissionConnectivityAdmin}
	superAdmin := &models.Minter{Permission: models.PermissionSuperAdmin}
	keyAdmins := &models.Minter{Permission: models.PermissionConnectivityAdmin, KeyAdminsMayGiveAdmin: true}
	nobody := &models.Minter{Permission: models.PermissionNone, KeyAdminsMayGiveAdmin: true}
	for _, tc := range []struct {
		name   string
		minter *models.Minter
		scope  models.Scope
		may    bool
	}{
		{"connectivity admin, admin scope", connectivity, models.ScopeAdmin, false},
		{"connectivity admin, manage documentation", connectivity, models.ScopeManageDocumentation, true},
		{"connectivity admin, scanner", connectivity, models.ScopeScanner, true},
		{"super admin, admin scope", superAdmin, models.ScopeAdmin, true},
		{"key-admins, connectivity admin, admin scope", keyAdmins, models.ScopeAdmin, true},
		{"no permission, read-only", nobody, models.ScopeReadOnly, false},
		{"the operator, admin scope", nil, models.ScopeAdmin, true},
	} {
		if err := tc.minter.MayGive(tc.scope); (err == nil) != tc.may || (err != nil && !errors.Is(err, models.ErrScopeAboveMinter)) {
			t.Errorf("%s: MayGive = %v, want allowed %v", tc.name, err, tc.may)
		}
	}

	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		if _, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "sneaky", Scope: models.ScopeAdmin, Minter: connectivity}); !errors.Is(err, models.ErrScopeAboveMinter) {
			t.Errorf("an Admin key by a Connectivity admin: got %v, want ErrScopeAboveMinter", err)
		}
		if page, err := store.ListAPIKeys(ctx, models.APIKeyQuery{}); err != nil || page.Total != 0 {
			t.Fatalf("keys after the refusal: %d, %v; want none", page.Total, err)
		}
		admin, secret, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "catalog admin", Scope: models.ScopeAdmin, Minter: superAdmin})
		if err != nil {
			t.Fatal(err)
		}
		if _, got, err := store.RotateAPIKey(ctx, admin.PublicID, models.Rotation{Grace: models.GraceNone, Minter: connectivity}); !errors.Is(err, models.ErrScopeAboveMinter) || got != "" {
			t.Errorf("rotating an Admin key as a Connectivity admin: got %v, want ErrScopeAboveMinter and no secret", err)
		}
		if got := holder(t, store, models.HashSecret(secret)); got != "current" {
			t.Errorf("the Admin key's secret after the refused rotation: got %s, want current", got)
		}
		if _, _, err := store.RotateAPIKey(ctx, admin.PublicID, models.Rotation{Grace: models.GraceNone, Minter: keyAdmins}); err != nil {
			t.Errorf("rotating an Admin key under key-admins: %v", err)
		}
		if _, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "allowed", Scope: models.ScopeAdmin, Minter: keyAdmins}); err != nil {
			t.Errorf("an Admin key by a Connectivity admin under key-admins: %v", err)
		}
	})
}
