package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// The scheduled check verifies the chain at start: while it holds it logs the anchor of the
// newest event and sets the verified position; a break is logged, counted and audited, once,
// even when the next instance finds it again.
func TestScheduledAuditChainCheck(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			store := modelstest.Open(t, target)
			seedAudit(t, store, 3, store.Now())
			app := apptest.NewOnStore(t, store)
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

			modelstest.TamperAuditLog(t, store, target, "UPDATE audit_events SET target_label = 'someone else' WHERE chain_seq = 2")
			for instance := range 2 {
				next := apptest.NewOnStore(t, store)
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

// holdTransactionOpen begins a transaction that writes, in the database postgres of the test
// server (not Keysmith's), as application name, and keeps it open until the returned function
// ends it (or the test does).
func holdTransactionOpen(t *testing.T, name string) (end func()) {
	t.Helper()
	u, err := url.Parse(os.Getenv(modelstest.EnvPostgres))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/postgres"
	query := u.Query()
	query.Set("application_name", name)
	u.RawQuery = query.Encode()
	other, err := models.Open(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	tx, err := other.Pool().BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A transaction id is what holds the feed back: taking one is writing, as far as that goes.
	if _, err := tx.Exec("SELECT pg_current_xact_id()"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })
	return func() { tx.Rollback() }
}

// A write transaction held open in another database of the same PostgreSQL server holds the
// audit feed back. keysmith_audit_feed_held_back_seconds says for how long, and past 30 s the
// log says so and names the transaction; once it ends, the gauge is back to 0 and the feed
// serves what it held.
func TestAuditFeedSaysWhenItIsHeldBack(t *testing.T) {
	target := modelstest.Postgres(t, "the audit feed held back by a transaction elsewhere")
	store := modelstest.Open(t, target)
	_, secret, err := store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "siem", Scope: models.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 6)
	rand.Read(raw)
	holder := "keysmith-test-holder-" + hex.EncodeToString(raw)
	end := holdTransactionOpen(t, holder)
	// Recorded 40 s ago, as far as the gauge goes: the warning's threshold is passed at once.
	if err := store.RecordAudit(context.Background(), models.AuditEvent{At: store.Now().Add(-40 * time.Second), Action: "test.held_back"}); err != nil {
		t.Fatal(err)
	}
	app := apptest.NewOnStore(t, store)
	metrics := httptest.NewServer(app.Server.Metrics.Handler())
	t.Cleanup(metrics.Close)
	feed := func() []string {
		res := app.Client(t).Do(http.MethodGet, "/api/v1/audit-events?action=test", nil, map[string]string{"X-API-SECRET": secret})
		var page struct {
			Events []struct{ Action string }
		}
		if err := json.Unmarshal([]byte(res.Body), &page); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("the feed: got %d %q, %v", res.StatusCode, res.Body, err)
		}
		var actions []string
		for _, ev := range page.Events {
			actions = append(actions, ev.Action)
		}
		return actions
	}

	eventually(t, "the warning", 10*time.Second, func() string {
		if !strings.Contains(app.Logs(), "the audit feed (/api/v1/audit-events) holds events back") {
			return "log: " + app.Logs()
		}
		return ""
	})
	if held, _ := scrapeMetrics(t, metrics.URL).value("keysmith_audit_feed_held_back_seconds", nil); held < 40 {
		t.Errorf("keysmith_audit_feed_held_back_seconds: got %v, want 40 or more", held)
	}
	if logs := app.Logs(); !strings.Contains(logs, `holder_database=postgres`) || !strings.Contains(logs, "holder_application="+holder) {
		t.Errorf("the warning: got %q, want it to name the database postgres and the application %s", logs, holder)
	}
	if got := feed(); len(got) != 0 {
		t.Errorf("the feed while the transaction is open: got %v, want nothing yet", got)
	}

	end()
	eventually(t, "the gauge back to 0", 15*time.Second, func() string {
		if held, _ := scrapeMetrics(t, metrics.URL).value("keysmith_audit_feed_held_back_seconds", nil); held != 0 {
			return "metrics: " + scrapeMetrics(t, metrics.URL).lines("keysmith_audit_feed")
		}
		return ""
	})
	if got := feed(); len(got) != 1 || got[0] != "test.held_back" {
		t.Errorf("the feed once the transaction ended: got %v, want the event held back", got)
	}
	if !strings.Contains(app.Logs(), "the audit feed no longer holds events back") {
		t.Errorf("the log: got %q, want a line saying the hold is over", app.Logs())
	}
}

// Each event the feed serves carries its place in the chain, so that a SIEM holds anchors: the
// newest it has, given to the verification, must still be in the chain, unchanged.
func TestAuditFeedCarriesTheChain(t *testing.T) {
	eachAPI(t, models.ScopeAdmin, func(t *testing.T, api *apiClient) {
		seedAudit(t, api.app.Store, 2, api.app.Store.Now())
		var page struct {
			Events []struct {
				Action string
				Chain  *struct {
					Position int64
					Link     string
				}
			}
		}
		// On PostgreSQL a transaction open elsewhere on the server (another test's) holds the
		// feed back for as long as it lasts: the feed serves the events once it has ended.
		eventually(t, "the key's creation and the 2 seeded events from the feed", 10*time.Second, func() string {
			res := api.do(http.MethodGet, "/api/v1/audit-events", "")
			if err := json.Unmarshal([]byte(res.Body), &page); err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("the feed: got %d %q, %v", res.StatusCode, res.Body, err)
			}
			if len(page.Events) != 3 {
				return fmt.Sprintf("%d events", len(page.Events))
			}
			return ""
		})
		for i, ev := range page.Events {
			if ev.Chain == nil || ev.Chain.Position != int64(i+1) || len(ev.Chain.Link) != 64 {
				t.Fatalf("event %d (%s): got chain %+v, want position %d and a link", i, ev.Action, ev.Chain, i+1)
			}
		}
		last := page.Events[2].Chain
		report, err := api.app.Store.VerifyAuditChain(context.Background(), models.AuditChainCheck{Anchors: []models.AuditChainPoint{{Position: last.Position, Link: last.Link}}})
		if err != nil || !report.Holds() || report.AnchorsChecked != 1 {
			t.Errorf("verified against the feed's last event: got %+v, %v; want the anchor found and the chain whole", report, err)
		}
	})
}
