package handlers_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"keysmith/handlers/handlerstest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// rewriteAuditLog runs statements on the audit log with its triggers out of the way, as the
// role that owns it can: on PostgreSQL disabled for the transaction, on SQLite dropped.
func rewriteAuditLog(t *testing.T, store *models.Store, target modelstest.Target, statements ...string) {
	t.Helper()
	if target.Name == "sqlite" {
		statements = append([]string{"DROP TRIGGER IF EXISTS audit_events_no_update", "DROP TRIGGER IF EXISTS audit_events_no_delete"}, statements...)
	} else {
		statements = append(append([]string{"ALTER TABLE audit_events DISABLE TRIGGER USER"}, statements...), "ALTER TABLE audit_events ENABLE TRIGGER USER")
	}
	tx, err := store.Pool().BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, statement := range statements {
		if _, err := tx.Exec(statement); err != nil {
			t.Fatalf("%s: %v", statement, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// The scheduled check verifies the chain at start: while it holds it logs the anchor of the
// newest event and sets the verified position; a break is logged, counted and audited, once,
// even when the next instance finds it again.
func TestScheduledAuditChainCheck(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			store := modelstest.Open(t, target)
			seedAudit(t, store, 3, store.Now())
			app := handlerstest.NewOnStore(t, store)
			metrics := httptest.NewServer(app.Server.Metrics.Handler())
			t.Cleanup(metrics.Close)
			eventually(t, "the first check", 10*time.Second, func() string {
				scrape := scrapeMetrics(t, metrics.URL)
				if position, _ := scrape.value("keysmith_audit_chain_verified_position", nil); position < 3 {
					return "metrics: " + scrape.lines("keysmith_audit_chain")
				}
				return ""
			})
			if breaks, _ := scrapeMetrics(t, metrics.URL).value("keysmith_audit_chain_breaks_total", nil); breaks != 0 {
				t.Errorf("breaks of a whole chain: got %v, want 0", breaks)
			}
			if logs := app.Logs(); !strings.Contains(logs, "audit chain verified") || !strings.Contains(logs, "anchor=3:") {
				t.Errorf("the log: got %q, want the anchor of position 3", logs)
			}

			rewriteAuditLog(t, store, target, "UPDATE audit_events SET target_label = 'someone else' WHERE chain_seq = 2")
			for instance := range 2 {
				next := handlerstest.NewOnStore(t, store)
				nextMetrics := httptest.NewServer(next.Server.Metrics.Handler())
				t.Cleanup(nextMetrics.Close)
				eventually(t, "the break found", 10*time.Second, func() string {
					if breaks, _ := scrapeMetrics(t, nextMetrics.URL).value("keysmith_audit_chain_breaks_total", nil); breaks != 1 {
						return "log: " + next.Logs()
					}
					return ""
				})
				if logs := next.Logs(); !strings.Contains(logs, "the audit log's chain is broken") || !strings.Contains(logs, "position=2") {
					t.Errorf("instance %d's log: got %q, want the break at position 2", instance, logs)
				}
				var broken []models.AuditEvent
				eventually(t, "the break audited", 10*time.Second, func() string {
					broken = modelstest.AuditEvents(t, store, models.AuditFilter{Action: models.AuditChainBroken})
					if len(broken) != 1 {
						return "events " + strings.Join(actionsOf(modelstest.AuditEvents(t, store, models.AuditFilter{})), " ")
					}
					return ""
				})
				if ev := broken[0]; ev.Actor.Type != models.ActorSystem || ev.TargetType != models.TargetAuditChain || ev.TargetID != "2" ||
					!strings.Contains(ev.Detail, "does not match its content") {
					t.Errorf("instance %d: the audit.chain_broken event: got %+v, want one by Keysmith naming position 2", instance, ev)
				}
			}
		})
	}
}
