package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/user"
	"strings"
	"testing"
	"time"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// runKeys runs `keysmith keys args…` on target's database in-process and returns its output.
func runKeys(t *testing.T, target modelstest.Target, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errs bytes.Buffer
	err = Run(context.Background(), append([]string{"keys"}, args...), getenv(map[string]string{"KEYSMITH_DATABASE_URL": target.URL}), nil, &out, &errs)
	return out.String(), errs.String(), err
}

// `keys list` shows every key, soonest to expire first, as a table or JSON lines, filtered
// like the console's list; `keys disable` and `keys enable` change a key through the console's
// store operations, harmlessly when repeated.
func TestKeysListDisableEnable(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			ctx := context.Background()
			store := modelstest.Open(t, target)
			soon := time.Now().Add(48 * time.Hour).Truncate(time.Second)
			expiring, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "nightly export", Scope: models.ScopeReadOnly, ExpiresAt: &soon})
			if err != nil {
				t.Fatal(err)
			}
			forever, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "warehouse scanner", Scope: models.ScopeScanner})
			if err != nil {
				t.Fatal(err)
			}

			out, _, err := runKeys(t, target, "list")
			if err != nil {
				t.Fatalf("keys list: %v", err)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "ID STATUS SCOPE EXPIRES LAST USED NAME" {
				t.Fatalf("keys list: got %q, want a header and 2 keys", out)
			}
			for i, want := range []string{
				expiring.PublicID + " expires-soon read-only " + soon.UTC().Format(time.RFC3339) + " never nightly export",
				forever.PublicID + " active scanner never never warehouse scanner",
			} {
				if got := strings.Join(strings.Fields(lines[i+1]), " "); got != want {
					t.Errorf("keys list line %d: got %q, want %q", i+1, got, want)
				}
			}

			out, stderr, err := runKeys(t, target, "disable", forever.PublicID)
			if err != nil || !strings.HasPrefix(out, "disabled "+forever.PublicID+" (warehouse scanner)") {
				t.Fatalf("keys disable: got %q, %v; want it to say it disabled the key", out, err)
			}
			if strings.Contains(stderr, "SQLite") {
				t.Errorf("keys disable on %s: note %q, want none (a running server polls the revocations on SQLite)", target.Name, stderr)
			}
			if key, _ := store.APIKeyByPublicID(ctx, forever.PublicID); key.DisabledAt == nil {
				t.Errorf("after keys disable: the stored key is not disabled")
			}
			if out, _, err := runKeys(t, target, "disable", forever.PublicID); err != nil || !strings.Contains(out, "was already disabled") {
				t.Errorf("keys disable again: got %q, %v; want it to say nothing changed", out, err)
			}

			out, _, err = runKeys(t, target, "list", "--status", "disabled", "--json")
			if err != nil {
				t.Fatalf("keys list --status disabled --json: %v", err)
			}
			var line struct {
				ID, Name, Scope, Status string
				DisabledAt              *time.Time `json:"disabled_at"`
			}
			if err := json.Unmarshal([]byte(out), &line); err != nil || strings.Count(out, "\n") != 1 {
				t.Fatalf("keys list --json: got %q (%v), want one JSON line", out, err)
			}
			if line.ID != forever.PublicID || line.Name != "warehouse scanner" || line.Scope != "scanner" || line.Status != "disabled" || line.DisabledAt == nil {
				t.Errorf("keys list --json: got %+v, want the disabled scanner key", line)
			}
			if out, _, err := runKeys(t, target, "list", "--scope=read-only", "--json"); err != nil || !strings.Contains(out, expiring.PublicID) || strings.Contains(out, forever.PublicID) {
				t.Errorf("keys list --scope=read-only: got %q, %v; want only the read-only key", out, err)
			}

			out, stderr, err = runKeys(t, target, "enable", forever.PublicID)
			if err != nil || !strings.HasPrefix(out, "enabled "+forever.PublicID) {
				t.Errorf("keys enable: got %q, %v; want it to say it enabled the key", out, err)
			}
			if wantNote := target.Name == "sqlite"; strings.Contains(stderr, "SQLite") != wantNote {
				t.Errorf("keys enable on %s: note %q, want one only on SQLite", target.Name, stderr)
			}
			if key, _ := store.APIKeyByPublicID(ctx, forever.PublicID); key.DisabledAt != nil {
				t.Errorf("after keys enable: the stored key is still disabled")
			}
			if out, _, err := runKeys(t, target, "enable", forever.PublicID); err != nil || !strings.Contains(out, "was already enabled") {
				t.Errorf("keys enable again: got %q, %v; want it to say nothing changed", out, err)
			}
		})
	}
}

// Every mistake is an error naming what is wrong, and changes nothing.
func TestKeysCommandMistakes(t *testing.T) {
	target := modelstest.Targets(t)[0]
	store := modelstest.Open(t, target)
	key, _, err := store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "untouched", Scope: models.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "name a command"},
		{[]string{"rotate-all"}, `unknown keys command "rotate-all"`},
		{[]string{"disable"}, "name one key by its id"},
		{[]string{"disable", key.PublicID, "ak_other"}, "name one key by its id"},
		{[]string{"enable", "untouched"}, `"untouched" is not a key id`},
		{[]string{"disable", "ak_doesnotexist0000"}, `no API key has the id "ak_doesnotexist0000"`},
		{[]string{"disable", "ak_\x00\xff"}, "no API key has the id"},
		{[]string{"list", "--status", "paused"}, `--status "paused" is not a key status`},
		{[]string{"list", "--scope", "root"}, `--scope "root" is not a key scope`},
		{[]string{"list", "extra"}, "unexpected arguments"},
	} {
		_, _, err := runKeys(t, target, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("keys %q: got error %v, want one saying %q", tc.args, err, tc.want)
		}
	}
	if stored, _ := store.APIKeyByPublicID(context.Background(), key.PublicID); stored.DisabledAt != nil {
		t.Error("a mistaken command disabled the key")
	}
}

// On PostgreSQL the command line's disable reaches running servers as the console's does:
// within a second.
func TestKeysDisableReachesARunningServer(t *testing.T) {
	target := modelstest.Postgres(t, "the command line's announcement to a running server")
	app := apptest.New(t, target)
	key, secret, err := app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "served", Scope: models.ScopeReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	verify := func() int { return app.VerifyStatus(t, secret) }
	if got := verify(); got != http.StatusOK {
		t.Fatalf("before: status %d, want %d", got, http.StatusOK)
	}
	if _, _, err := runKeys(t, target, "disable", key.PublicID); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for verify() != http.StatusUnauthorized {
		if time.Since(start) > time.Second {
			t.Fatalf("the server still accepts the key %v after keys disable", time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, _, err := runKeys(t, target, "enable", key.PublicID); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	for verify() != http.StatusOK {
		if time.Since(start) > time.Second {
			t.Fatalf("the server still refuses the key %v after keys enable", time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The keys command's changes are recorded in the audit log by the command line, labelled with
// the operating system user who ran it.
func TestKeysCommandIsAuditedAsTheCommandLine(t *testing.T) {
	osUser := os.Getenv("USER")
	if current, err := user.Current(); err == nil && current.Username != "" {
		osUser = current.Username
	}
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			ctx := context.Background()
			store := modelstest.Open(t, target)
			key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "cron export", Scope: models.ScopeReadOnly})
			if err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"disable", key.PublicID}, {"enable", key.PublicID}, {"rotate", key.PublicID, "--grace=0"}} {
				if _, stderr, err := runKeys(t, target, args...); err != nil {
					t.Fatalf("keys %s: %v; %s", args[0], err, stderr)
				}
			}
			page, err := store.AuditLog(ctx, models.AuditLogQuery{Filter: models.AuditFilter{Actor: models.ActorCLI}, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ev := range page.Events {
				got = append(got, ev.Action+" by "+ev.Actor.Type+" "+ev.Actor.Label+" on "+ev.TargetID)
			}
			want := []string{
				models.AuditKeyRotated + " by cli " + osUser + " on " + key.PublicID,
				models.AuditKeyEnabled + " by cli " + osUser + " on " + key.PublicID,
				models.AuditKeyDisabled + " by cli " + osUser + " on " + key.PublicID,
			}
			if osUser == "" || strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("events by the command line:\ngot  %q\nwant %q", got, want)
			}
		})
	}
}

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
				err := Run(ctx, append([]string{"keys", "rotate"}, args...), getenv(vars), nil, &out, &errs)
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
