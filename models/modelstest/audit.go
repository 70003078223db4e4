package modelstest

import (
	"context"
	"slices"
	"testing"

	"keysmith/models"
)

// AuditRecord is what a test checks of one audit event.
type AuditRecord struct {
	Action, ActorType, ActorID, ActorLabel, TargetID, TargetLabel, Detail string
}

// AuditRecords returns every audit event the store's database holds, oldest first, read with
// SQL of its own so that tests check what was written, not what a reader makes of it.
func AuditRecords(t testing.TB, store *models.Store) []AuditRecord {
	t.Helper()
	rows, err := store.Pool().QueryContext(context.Background(),
		"SELECT action, actor_type, actor_id, actor_label, target_id, target_label, detail FROM audit_events ORDER BY id")
	if err != nil {
		t.Fatalf("read audit events: %v", err)
	}
	defer rows.Close()
	var records []AuditRecord
	for rows.Next() {
		var r AuditRecord
		if err := rows.Scan(&r.Action, &r.ActorType, &r.ActorID, &r.ActorLabel, &r.TargetID, &r.TargetLabel, &r.Detail); err != nil {
			t.Fatalf("read audit events: %v", err)
		}
		records = append(records, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read audit events: %v", err)
	}
	return records
}

// AuditActions returns the action of every audit event, oldest first.
func AuditActions(t testing.TB, store *models.Store) []string {
	t.Helper()
	var actions []string
	for _, r := range AuditRecords(t, store) {
		actions = append(actions, r.Action)
	}
	return actions
}

// AuditEvents returns every event that filter selects, as the store's reader serves them,
// oldest first.
func AuditEvents(t testing.TB, store *models.Store, filter models.AuditFilter) []models.AuditEvent {
	t.Helper()
	page, err := store.AuditLog(context.Background(), models.AuditLogQuery{Filter: filter, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(page.Events)
	return page.Events
}

// TamperAuditLog runs statements on the audit log as the role that owns it can, its triggers
// out of the way: on PostgreSQL disabled for the transaction, on SQLite dropped. The tests of
// the audit chain rewrite, delete and forge events with it, as an attacker with that role would.
func TamperAuditLog(t testing.TB, store *models.Store, target Target, statements ...string) {
	t.Helper()
	ctx := context.Background()
	if target.Name == "sqlite" {
		statements = append([]string{"DROP TRIGGER IF EXISTS audit_events_no_update", "DROP TRIGGER IF EXISTS audit_events_no_delete", "DROP TRIGGER IF EXISTS audit_events_no_young_delete"}, statements...)
	} else {
		statements = append(append([]string{"ALTER TABLE audit_events DISABLE TRIGGER USER"}, statements...), "ALTER TABLE audit_events ENABLE TRIGGER USER")
	}
	tx, err := store.Pool().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, statement := range statements {
		if _, err := tx.ExecContext(ctx, statement); err != nil {
			t.Fatalf("%s: %v", statement, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}
