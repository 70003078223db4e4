package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// keys rotate prints the new secret, and nothing else, on standard output, under the console's
// rules: the grace of the previous secret, the new expiry within the lifetime policy.
func TestKeysRotate(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			ctx := context.Background()
			store := modelstest.Open(t, target)
			key, oldSecret, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "nightly", Scope: models.ScopeScanner})
			if err != nil {
				t.Fatal(err)
			}
			vars := map[string]string{"KEYSMITH_DATABASE_URL": target.URL}
			keysRotate := func(vars map[string]string, args ...string) (string, string, error) {
				var out, errs bytes.Buffer
				err := run(ctx, append([]string{"keys", "rotate"}, args...), getenv(vars), nil, &out, &errs)
				return out.String(), errs.String(), err
			}

			before := time.Now()
			out, errs, err := keysRotate(vars, key.PublicID, "--grace=24h", "--expires", "30d")
			if err != nil {
				t.Fatalf("keys rotate: %v; %s", err, errs)
			}
			secret := strings.TrimSuffix(out, "\n")
			if models.ParseSecret(secret) != nil || out != secret+"\n" {
				t.Fatalf("standard output: got %q, want the new secret alone on a line", out)
			}
			if strings.Contains(errs, secret) || !strings.Contains(errs, "rotated API key "+key.PublicID) {
				t.Errorf("standard error: got %q, want a word on the rotation without the secret", errs)
			}
			stored, err := store.APIKeyByPublicID(ctx, key.PublicID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.SecretHash != models.HashSecret(secret) || stored.Previous.SecretHash == nil || *stored.Previous.SecretHash != models.HashSecret(oldSecret) {
				t.Errorf("stored secrets: got current %q previous %v, want the new one and the old one", stored.SecretHash, stored.Previous.SecretHash)
			}
			if end := stored.PreviousEndsAt(); end.Before(before.Add(24*time.Hour)) || end.After(time.Now().Add(24*time.Hour)) {
				t.Errorf("previous secret ends at %v, want 24 hours after the rotation", end)
			}
			if stored.ExpiresAt == nil || stored.ExpiresAt.Before(before.AddDate(0, 0, 30)) || stored.ExpiresAt.After(time.Now().AddDate(0, 0, 30)) {
				t.Errorf("new expiry: got %v, want 30 days from now", stored.ExpiresAt)
			}

			if _, errs, err := keysRotate(vars, key.PublicID, "--grace", "0", "--expires=2030-06-30"); err != nil {
				t.Fatalf("keys rotate with a date: %v; %s", err, errs)
			}
			stored, _ = store.APIKeyByPublicID(ctx, key.PublicID)
			if want := time.Date(2030, 7, 1, 0, 0, 0, 0, time.UTC); stored.ExpiresAt == nil || !stored.ExpiresAt.Equal(want) || stored.Previous.SecretHash != nil {
				t.Errorf("after a rotation without grace to a date: got expiry %v previous %v, want %v and none", stored.ExpiresAt, stored.Previous.SecretHash, want)
			}
			if _, errs, err := keysRotate(vars, key.PublicID, "--grace=7d"); err != nil {
				t.Fatalf("keys rotate with the default expiry: %v; %s", err, errs)
			}
			stored, _ = store.APIKeyByPublicID(ctx, key.PublicID)
			if stored.ExpiresAt == nil || stored.ExpiresAt.Before(before.AddDate(0, 0, 180)) {
				t.Errorf("default expiry: got %v, want 180 days from now", stored.ExpiresAt)
			}

			policy := map[string]string{"KEYSMITH_DATABASE_URL": target.URL, "KEYSMITH_MAX_KEY_LIFETIME": "60d"}
			for _, tc := range []struct {
				name string
				vars map[string]string
				args []string
				want string
			}{
				{"no key", vars, []string{"--grace=24h"}, "public id"},
				{"no grace", vars, []string{key.PublicID}, "--grace must be one of"},
				{"unknown grace", vars, []string{key.PublicID, "--grace=2h"}, "--grace must be one of"},
				{"unknown key", vars, []string{"ak_nothing", "--grace=24h"}, "no API key has the public id"},
				{"unknown expiry", vars, []string{key.PublicID, "--grace=24h", "--expires=45d"}, "Choose when the key expires."},
				{"never under a policy", policy, []string{key.PublicID, "--grace=24h", "--expires=never"}, "policy requires every key to expire within 60 days"},
				{"date past the policy", policy, []string{key.PublicID, "--grace=24h", "--expires=2099-01-01"}, "policy limits keys to 60 days"},
				{"bad date", vars, []string{key.PublicID, "--grace=24h", "--expires=2030-02-30"}, "Enter the date as YYYY-MM-DD."},
			} {
				out, _, err := keysRotate(tc.vars, tc.args...)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: got error %v, want one saying %q", tc.name, err, tc.want)
				}
				if out != "" {
					t.Errorf("%s: standard output %q, want nothing", tc.name, out)
				}
			}
			if again, _ := store.APIKeyByPublicID(ctx, key.PublicID); again.SecretHash != stored.SecretHash {
				t.Errorf("a refused rotation changed the secret")
			}
		})
	}
}
