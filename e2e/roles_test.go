package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"keysmith/app/apptest"
	"keysmith/config"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// The operations guide's two roles on PostgreSQL: its SQL run as written (with names of the
// test's own, roles being the whole server's), `keysmith migrate`'s migrations as the owner, and
// Keysmith served as the runtime role. The runtime role records events, prunes old ones through
// the owner's function, and cannot lower the retention; it cannot update, delete, truncate or
// alter the audit log, nor delete a young event through the function; and the chain holds.
func TestOperationsGuideTwoDatabaseRoles(t *testing.T) {
	base := os.Getenv(modelstest.EnvPostgres)
	if base == "" {
		t.Skipf("set %s to run the operations guide's two database roles", modelstest.EnvPostgres)
	}
	ctx := context.Background()
	raw := make([]byte, 5)
	rand.Read(raw)
	suffix := hex.EncodeToString(raw)
	owner, runtime, schema := "ks_owner_"+suffix, "ks_app_"+suffix, "ks_schema_"+suffix

	superuser, err := models.Open(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, statement := range []string{"DROP SCHEMA IF EXISTS " + schema + " CASCADE", "DROP OWNED BY " + owner + ", " + runtime, "DROP ROLE " + runtime, "DROP ROLE " + owner} {
			if err := superuser.Exec(context.Background(), statement); err != nil {
				t.Errorf("clean up: %s: %v", statement, err)
			}
		}
		superuser.Close()
	})
	guide := guideBlock(t, "sql")
	guide = strings.NewReplacer("keysmith_owner", owner, "keysmith_app", runtime).Replace(guide)
	guide = regexp.MustCompile(`\bkeysmith\b`).ReplaceAllString(guide, schema)
	var statements []string
	for _, line := range strings.Split(guide, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			statements = append(statements, line)
		}
	}
	for _, statement := range strings.Split(strings.Join(statements, "\n"), ";") {
		if strings.TrimSpace(statement) == "" {
			continue
		}
		if err := superuser.Exec(ctx, statement); err != nil {
			t.Fatalf("%s: %s: %v", operationsGuide, strings.TrimSpace(statement), err)
		}
	}
	as := func(role string) string {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.User(role)
		query := u.Query()
		query.Set("search_path", schema)
		u.RawQuery = query.Encode()
		return u.String()
	}

	// keysmith migrate, as the owner.
	owning, err := models.Open(ctx, as(owner))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { owning.Close() })
	if _, err := owning.Migrate(ctx); err != nil {
		t.Fatalf("migrate as the owner: %v", err)
	}

	// keysmith serve, as the runtime role, which migrates (nothing left) at start.
	store, err := models.Open(ctx, as(runtime))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.Migrate(ctx); err != nil {
		t.Fatalf("migrate as the runtime role, with nothing to apply: %v", err)
	}
	if err := store.UseAuditKey(bytes.Repeat([]byte{0x5a}, 32)); err != nil {
		t.Fatal(err)
	}
	if role, err := store.AuditRole(ctx); err != nil || role.Owner || len(role.Excess) > 0 || role.Name != runtime {
		t.Errorf("the runtime role's standing: got %+v, %v; want no owner, nothing beyond INSERT and SELECT", role, err)
	}
	now := time.Now().UTC()
	for _, at := range []time.Time{now.AddDate(-2, 0, 0), now.AddDate(0, 0, -100)} {
		if err := store.RecordAudit(ctx, models.AuditEvent{At: at, Action: "test.event", Detail: at.Format(time.DateOnly)}); err != nil {
			t.Fatal(err)
		}
	}
	app := apptest.NewOnStore(t, store, func(cfg *config.Config) { cfg.AuditRetention = 30 * 24 * time.Hour })
	app.CreateUser(t, "ops@example.com", models.PermissionSuperAdmin)
	admin := app.Client(t)
	admin.Login("ops@example.com")

	// The retention job prunes through the owner's function, but only what the retention the
	// owner stored (400 days) allows, whatever KEYSMITH_AUDIT_RETENTION says, and says so.
	var events []models.AuditEvent
	deadline := time.Now().Add(10 * time.Second)
	for {
		events = modelstest.AuditEvents(t, store, models.AuditFilter{})
		if slices.ContainsFunc(events, func(ev models.AuditEvent) bool { return ev.Action == models.AuditPruned }) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var actions []string
	for _, ev := range events {
		actions = append(actions, ev.Action+" "+ev.Detail)
	}
	kept := slices.Contains(actions, "test.event "+now.AddDate(0, 0, -100).Format(time.DateOnly))
	pruned := !slices.Contains(actions, "test.event "+now.AddDate(-2, 0, 0).Format(time.DateOnly))
	recorded := slices.ContainsFunc(actions, func(a string) bool { return strings.HasPrefix(a, models.AuditPruned+" 1 event ") })
	signedIn := slices.Contains(actions, models.AuditSignedIn+" ")
	if !kept || !pruned || !recorded || !signedIn {
		t.Fatalf("after the retention job: got %q, want the event of 100 days ago kept, the one of 2 years ago pruned and so recorded, and the sign-in", actions)
	}
	if !strings.Contains(app.Logs(), "this database role may not change it") {
		t.Errorf("the log: got %q, want a warning that KEYSMITH_AUDIT_RETENTION is not the database's", app.Logs())
	}
	if retention, err := store.AuditRetention(ctx); err != nil || retention != 400*24*time.Hour {
		t.Errorf("the retention stored: got %v, %v; want the owner's 400 days", retention, err)
	}

	for _, statement := range []string{
		"UPDATE audit_events SET detail = 'nothing happened'",
		"DELETE FROM audit_events",
		"TRUNCATE audit_events",
		"ALTER TABLE audit_events DISABLE TRIGGER USER",
		"DROP TRIGGER audit_events_append_only ON audit_events",
		"UPDATE audit_retention SET micros = 86400000000",
		"INSERT INTO audit_retention (id, micros) VALUES (2, 86400000000)",
	} {
		err := store.Exec(ctx, statement)
		if err == nil || !(strings.Contains(err.Error(), "permission denied") || strings.Contains(err.Error(), "must be owner")) {
			t.Errorf("%s as the runtime role: got %v, want it refused", statement, err)
		}
	}
	// The function deletes nothing younger than the retention, whatever it is asked.
	var deleted int64
	if err := store.Pool().QueryRowContext(ctx, "SELECT deleted FROM prune_audit_events($1, 10000)", now.Add(time.Hour).UnixMicro()).Scan(&deleted); err != nil || deleted != 0 {
		t.Errorf("prune_audit_events up to an hour from now, as the runtime role: got %d, %v; want nothing deleted", deleted, err)
	}

	report, err := store.VerifyAuditChain(ctx, models.AuditChainCheck{})
	if err != nil || !report.Holds() || report.PrunedTo != 1 || report.KeyID != store.AuditKeyID() {
		t.Errorf("the chain: got %+v, %v; want it whole, keyed, pruned to position 1", report, err)
	}
}
