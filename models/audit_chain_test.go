package models_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// testAuditSecret is the audit key of the tests that use one.
var testAuditSecret = bytes.Repeat([]byte{0x5a}, 32)

// keyedStore opens target's database with testAuditSecret as its audit key.
func keyedStore(t *testing.T, target modelstest.Target) *models.Store {
	t.Helper()
	store := modelstest.Open(t, target)
	if err := store.UseAuditKey(testAuditSecret); err != nil {
		t.Fatal(err)
	}
	return store
}

// recordEvents records n events test.event with the details "1" to "n".
func recordEvents(t *testing.T, store *models.Store, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		if err := store.RecordAudit(context.Background(), models.AuditEvent{Action: "test.event", Detail: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// verify checks the store's audit chain and fails the test on an error.
func verify(t *testing.T, store *models.Store, check models.AuditChainCheck) models.AuditChainReport {
	t.Helper()
	report, err := store.VerifyAuditChain(context.Background(), check)
	if err != nil {
		t.Fatalf("verify the audit chain: %v", err)
	}
	return report
}

// chainPoint returns the position and link of the event at position, read with SQL.
func chainPoint(t *testing.T, store *models.Store, position int64) models.AuditChainPoint {
	t.Helper()
	var link string
	if err := store.Pool().QueryRowContext(context.Background(), "SELECT chain_link FROM audit_events WHERE chain_seq = $1", position).Scan(&link); err != nil {
		t.Fatalf("read the link at position %d: %v", position, err)
	}
	return models.AuditChainPoint{Position: position, Link: link}
}

// A deleted, changed or inserted event breaks the chain where it was, and the verification
// says where and how, whoever did it: here the role that owns the table, which can put the
// triggers out of the way (ALTER TABLE … DISABLE TRIGGER, the attack that got through).
// Truncating the newest events and rewriting the head as well is seen only against an anchor.
func TestAuditChainShowsTampering(t *testing.T) {
	const forgedLink = "abababababababababababababababababababababababababababababababab"
	for _, tc := range []struct {
		name         string
		statements   []string
		anchor       int64
		wantPosition int64
		wantProblem  string
		// several is set where the change shows at more than one place.
		several bool
	}{
		{"an event changed", []string{"UPDATE audit_events SET detail = 'nothing happened' WHERE chain_seq = 3"}, 0, 3, "does not match its content", false},
		{"an event's time changed", []string{"UPDATE audit_events SET at = at + 1 WHERE chain_seq = 3"}, 0, 3, "does not match its content", false},
		{"an event's link rewritten", []string{"UPDATE audit_events SET chain_link = '" + forgedLink + "' WHERE chain_seq = 3"}, 0, 3, "does not match its content", false},
		{"two events swapped", []string{
			"UPDATE audit_events SET chain_seq = -2 WHERE chain_seq = 2", "UPDATE audit_events SET chain_seq = 2 WHERE chain_seq = 3", "UPDATE audit_events SET chain_seq = 3 WHERE chain_seq = -2",
		}, 0, 2, "does not name the link of the event before it", true},
		{"an event deleted", []string{"DELETE FROM audit_events WHERE chain_seq = 3"}, 0, 4, "position 3 is missing before it", false},
		{"events deleted", []string{"DELETE FROM audit_events WHERE chain_seq IN (2, 3)"}, 0, 4, "positions 2 to 3 are missing before it", false},
		{"the first event deleted", []string{"DELETE FROM audit_events WHERE chain_seq = 1"}, 0, 2, "no audit.pruned says the retention job deleted positions 1 to 1", false},
		{"the newest event deleted", []string{"DELETE FROM audit_events WHERE chain_seq = 5"}, 0, 5, "missing at the end of the chain", false},
		{"an event inserted", []string{"INSERT INTO audit_events (at, actor_type, action, detail) VALUES (1, 'user', 'key.created', 'forged')"}, 0, 0, "outside the chain", false},
		{"an event inserted into the chain", []string{
			"INSERT INTO audit_events (at, actor_type, action, detail, chain_seq, chain_prev, chain_key, chain_link) SELECT at + 1, 'user', 'key.created', 'forged', 6, chain_link, chain_key, '" + forgedLink + "' FROM audit_events WHERE chain_seq = 5",
			"UPDATE audit_chain SET seq = 6, link = '" + forgedLink + "'",
		}, 0, 6, "does not match its content", false},
		{"the newest event deleted and the head rewritten, with an anchor", []string{
			"DELETE FROM audit_events WHERE chain_seq = 5",
			"UPDATE audit_chain SET seq = 4, link = (SELECT chain_link FROM audit_events WHERE chain_seq = 4)",
		}, 5, 5, "the chain ends at position 4, before this anchor", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, target := range modelstest.Targets(t) {
				t.Run(target.Name, func(t *testing.T) {
					store := keyedStore(t, target)
					recordEvents(t, store, 5)
					check := models.AuditChainCheck{}
					if tc.anchor > 0 {
						check.Anchors = []models.AuditChainPoint{chainPoint(t, store, tc.anchor)}
					}
					if report := verify(t, store, check); !report.Holds() || report.Checked != 5 || report.First.Position != 1 || report.Last.Position != 5 {
						t.Fatalf("before: got %+v, want positions 1 to 5 whole", report)
					}
					modelstest.TamperAuditLog(t, store, target, tc.statements...)
					report := verify(t, store, check)
					if len(report.Breaks) == 0 || (len(report.Breaks) > 1 && !tc.several) ||
						report.Breaks[0].Position != tc.wantPosition || !strings.Contains(report.Breaks[0].Problem, tc.wantProblem) {
						t.Fatalf("after: got breaks %v, want one at position %d saying %q", report.Breaks, tc.wantPosition, tc.wantProblem)
					}
					if tc.anchor > 0 {
						if report := verify(t, store, models.AuditChainCheck{}); !report.Holds() {
							t.Errorf("without the anchor: got breaks %v, want none: the truncation is seen only against an anchor", report.Breaks)
						}
					}
				})
			}
		})
	}
}

// Events recorded at once by many transactions, on PostgreSQL by many connections (key changes
// and refused sign-ins, as a flood brings them), are linked one after the other in the order
// their transactions commit: no two take one position, none is lost, and the chain holds.
func TestAuditChainWithParallelWriters(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		if err := store.UseAuditKey(testAuditSecret); err != nil {
			t.Fatal(err)
		}
		ctx := models.WithAuditActor(context.Background(), models.AuditActor{Type: models.ActorUser, ID: "1", Label: "ops@example.com"})
		const writers, rounds = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers*rounds*4)
		for w := range writers {
			wg.Go(func() {
				for r := range rounds {
					key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: fmt.Sprintf("writer %d round %d", w, r), Scope: models.ScopeReadOnly})
					if err != nil {
						errs <- err
						continue
					}
					errs <- store.RecordAudit(ctx, models.AuditEvent{Action: "test.event", Detail: key.PublicID})
					_, _, err = store.DisableAPIKey(ctx, key.PublicID)
					errs <- err
					attempt := models.SignInAttempt{Email: "root@example.com", Password: "a guess", Address: fmt.Sprintf("192.0.2.%d", w*rounds+r)}
					if _, err := store.SignIn(ctx, attempt); !errors.Is(err, models.ErrUserNotFound) {
						errs <- fmt.Errorf("a refused sign-in: got %v, want ErrUserNotFound", err)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		const want = writers * rounds * 4
		report := verify(t, store, models.AuditChainCheck{})
		if !report.Holds() || report.Checked != want || report.First.Position != 1 || report.Last.Position != want {
			t.Fatalf("got %+v, want %d events whole at positions 1 to %d", report, want, want)
		}
		if got := len(modelstest.AuditRecords(t, store)); got != want {
			t.Errorf("got %d events, want %d", got, want)
		}
	})
}

// The retention job deletes the chain's oldest events, never past one younger than its cutoff
// (an event recorded with an earlier time after it stays too), and its audit.pruned names where
// the chain now starts, so that the rest verifies. Events deleted at the start otherwise break
// it, even through PostgreSQL's prune function without an audit.pruned.
func TestAuditChainAfterPruning(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, target modelstest.Target) {
		if err := store.UseAuditKey(testAuditSecret); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		now := time.Now().UTC()
		// Positions 1 to 3 are old, 4 recent, 5 old again (a clock behind), 6 recent.
		for _, at := range []time.Time{now.AddDate(-2, 0, 0), now.AddDate(-2, 0, 0), now.AddDate(-1, -2, 0), now.AddDate(0, 0, -10), now.AddDate(-2, 0, 0), now} {
			if err := store.RecordAudit(ctx, models.AuditEvent{At: at, Action: "test.event"}); err != nil {
				t.Fatal(err)
			}
		}
		deleted, err := store.PruneAuditEvents(ctx, now.AddDate(0, 0, -400))
		if err != nil || deleted != 3 {
			t.Fatalf("prune: got %d, %v; want the 3 old events before the first recent one", deleted, err)
		}
		report := verify(t, store, models.AuditChainCheck{})
		if !report.Holds() || report.PrunedTo != 3 || report.First.Position != 4 || report.Last.Position != 7 {
			t.Fatalf("after the prune: got %+v, want positions 4 to 7 whole, pruned to 3", report)
		}
		// A check that had read up to position 1 when the job deleted up to 3, on this
		// instance or another, goes on past the gap the job explains, as the scheduled check
		// and a check racing with the job at start do.
		if report := verify(t, store, models.AuditChainCheck{After: models.AuditChainPoint{Position: 1, Link: strings.Repeat("0", 64)}}); !report.Holds() || report.First.Position != 4 || report.Last.Position != 7 {
			t.Errorf("going on from before the cut: got %+v, want positions 4 to 7 whole", report)
		}
		// An anchor the retention job has deleted since is not held against the chain.
		if report := verify(t, store, models.AuditChainCheck{Anchors: []models.AuditChainPoint{{Position: 2, Link: strings.Repeat("0", 64)}}}); !report.Holds() || report.AnchorsChecked != 0 {
			t.Errorf("with an anchor pruned since: got %+v, want it whole, the anchor not checked", report)
		}

		if target.Name == "postgres" {
			// The prune function alone deletes, as a role with EXECUTE on it could, but
			// records no audit.pruned: the start of the chain no longer matches the last one.
			if err := store.SetAuditRetention(ctx, 24*time.Hour); err != nil {
				t.Fatal(err)
			}
			if err := store.Exec(ctx, "SELECT prune_audit_events(?, 10)", now.AddDate(0, 0, -1).UnixMicro()); err != nil {
				t.Fatal(err)
			}
			report := verify(t, store, models.AuditChainCheck{})
			if len(report.Breaks) != 1 || report.Breaks[0].Position != 6 || !strings.Contains(report.Breaks[0].Problem, "the last audit.pruned says the retention job deleted up to position 3") {
				t.Fatalf("after the prune function alone: got breaks %v, want one at position 6, the first left", report.Breaks)
			}
			return
		}
		modelstest.TamperAuditLog(t, store, target, "DELETE FROM audit_events WHERE chain_seq = 4")
		report = verify(t, store, models.AuditChainCheck{})
		if len(report.Breaks) != 1 || report.Breaks[0].Position != 5 || !strings.Contains(report.Breaks[0].Problem, "the last audit.pruned says the retention job deleted up to position 3") {
			t.Fatalf("after deleting the oldest event left: got breaks %v, want one at position 5", report.Breaks)
		}
	})
}

// The retention the database enforces is the one stored, not the caller's: SetAuditRetention
// changes what the retention job may delete, and refuses less than a day.
func TestAuditRetentionIsTheDatabases(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		now := time.Now().UTC()
		if got, err := store.AuditRetention(ctx); err != nil || got != 400*24*time.Hour {
			t.Fatalf("the retention after migrating: got %v, %v; want 400 days", got, err)
		}
		for _, days := range []int{-100, -20} {
			if err := store.RecordAudit(ctx, models.AuditEvent{At: now.AddDate(0, 0, days), Action: "test.event"}); err != nil {
				t.Fatal(err)
			}
		}
		if deleted, err := store.PruneAuditEvents(ctx, now.AddDate(0, 0, -10)); err != nil || deleted != 0 {
			t.Fatalf("prune before 10 days ago with 400 days stored: got %d, %v; want nothing deleted", deleted, err)
		}
		if err := store.SetAuditRetention(ctx, 30*24*time.Hour); err != nil {
			t.Fatal(err)
		}
		if got, err := store.AuditRetention(ctx); err != nil || got != 30*24*time.Hour {
			t.Fatalf("the retention stored: got %v, %v; want 30 days", got, err)
		}
		if deleted, err := store.PruneAuditEvents(ctx, now.AddDate(0, 0, -10)); err != nil || deleted != 1 {
			t.Fatalf("prune before 10 days ago with 30 days stored: got %d, %v; want the event of 100 days ago", deleted, err)
		}
		if err := store.SetAuditRetention(ctx, 23*time.Hour); err == nil {
			t.Error("a retention under a day: got no error")
		}
		if report := verify(t, store, models.AuditChainCheck{}); !report.Holds() {
			t.Errorf("the chain: got breaks %v, want none", report.Breaks)
		}
	})
}

// Without a key the chain is linked with SHA-256: a deleted or changed event is still seen,
// but whoever can write to the database can link a forged event, and the chain holds.
func TestAuditChainWithoutAKey(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			store := modelstest.OpenUnkeyed(t, target)
			ctx := context.Background()
			recordEvents(t, store, 3)
			report := verify(t, store, models.AuditChainCheck{})
			if !report.Holds() || report.KeyID != "" || report.UnkeyedTo != 3 {
				t.Fatalf("got %+v, want 3 events whole, unkeyed", report)
			}
			modelstest.TamperAuditLog(t, store, target, "UPDATE audit_events SET detail = 'nothing happened' WHERE chain_seq = 2")
			if report := verify(t, store, models.AuditChainCheck{}); len(report.Breaks) != 1 || report.Breaks[0].Position != 2 {
				t.Fatalf("a changed event: got breaks %v, want one at position 2", report.Breaks)
			}
			// Linked again, as anyone can without a key, the change verifies.
			previous := chainPoint(t, store, 1).Link
			for position := int64(2); position <= 3; position++ {
				modelstest.TamperAuditLog(t, store, target, fmt.Sprintf("UPDATE audit_events SET chain_prev = '%s' WHERE chain_seq = %d", previous, position))
				link, err := store.ForgeAuditLink(ctx, position, nil)
				if err != nil {
					t.Fatal(err)
				}
				modelstest.TamperAuditLog(t, store, target, fmt.Sprintf("UPDATE audit_events SET chain_link = '%s' WHERE chain_seq = %d", link, position))
				previous = link
			}
			modelstest.TamperAuditLog(t, store, target, fmt.Sprintf("UPDATE audit_chain SET link = '%s'", previous))
			if report := verify(t, store, models.AuditChainCheck{}); !report.Holds() {
				t.Errorf("a change linked again without a key: got breaks %v, want none (the unkeyed chain cannot tell)", report.Breaks)
			}
		})
	}
}

// A key set on a log linked without one keys the events after; the earlier ones are checked
// with SHA-256 and reported as unkeyed. From then on a process without the key, or with
// another, may neither link nor check, and an unkeyed event after keyed ones is a forgery.
func TestAuditChainKeyedLater(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			ctx := context.Background()
			unkeyed := modelstest.OpenUnkeyed(t, target)
			recordEvents(t, unkeyed, 2)
			keyed := keyedStore(t, target)
			recordEvents(t, keyed, 2)
			report := verify(t, keyed, models.AuditChainCheck{})
			if !report.Holds() || report.UnkeyedTo != 2 || report.KeyID != keyed.AuditKeyID() || report.Last.Position != 4 {
				t.Fatalf("got %+v, want positions 1 to 4 whole, 1 and 2 unkeyed, the rest with key %s", report, keyed.AuditKeyID())
			}

			other := modelstest.Open(t, target)
			if err := other.UseAuditKey(bytes.Repeat([]byte{0xa5}, 32)); err != nil {
				t.Fatal(err)
			}
			for name, store := range map[string]*models.Store{"without the key": unkeyed, "with another key": other} {
				var keyErr *models.AuditKeyError
				if err := store.RecordAudit(ctx, models.AuditEvent{Action: "test.event"}); !errors.As(err, &keyErr) || keyErr.ChainKeyID != keyed.AuditKeyID() {
					t.Errorf("%s, record: got %v, want an AuditKeyError naming key %s", name, err, keyed.AuditKeyID())
				}
				if err := store.CheckAuditKey(ctx); !errors.As(err, &keyErr) {
					t.Errorf("%s, check the key: got %v, want an AuditKeyError", name, err)
				}
				if _, err := store.VerifyAuditChain(ctx, models.AuditChainCheck{}); !errors.As(err, &keyErr) {
					t.Errorf("%s, verify: got %v, want an AuditKeyError", name, err)
				}
			}
			if err := keyed.CheckAuditKey(ctx); err != nil {
				t.Errorf("with the key, check the key: got %v", err)
			}

			// An event linked without a key after keyed ones, with a link anyone computes.
			modelstest.TamperAuditLog(t, keyed, target, "INSERT INTO audit_events (at, actor_type, action, chain_seq, chain_prev, chain_key, chain_link) SELECT at, 'system', 'test.forged', 5, chain_link, '', '' FROM audit_events WHERE chain_seq = 4")
			link, err := keyed.ForgeAuditLink(ctx, 5, nil)
			if err != nil {
				t.Fatal(err)
			}
			modelstest.TamperAuditLog(t, keyed, target, "UPDATE audit_events SET chain_link = '"+link+"' WHERE chain_seq = 5", "UPDATE audit_chain SET seq = 5, link = '"+link+"'")
			report = verify(t, keyed, models.AuditChainCheck{})
			if len(report.Breaks) != 1 || report.Breaks[0].Position != 5 || !strings.Contains(report.Breaks[0].Problem, "without a key after events linked with one") {
				t.Fatalf("an unkeyed event after keyed ones: got breaks %v, want one at position 5", report.Breaks)
			}
		})
	}
}

// A log upgraded from a Keysmith without the chain keeps its events outside it: the first
// event linked, audit.chain_started, names them, and the verification counts them apart. An
// event inserted outside the chain after that is a break.
func TestAuditChainStartsOverOlderEvents(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			ctx := context.Background()
			store, err := models.Open(ctx, target.URL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { store.Close() })
			if err := store.MigrateTo(ctx, 14); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if err := store.Exec(ctx, "INSERT INTO audit_events (at, actor_type, action) VALUES (?, 'system', 'test.before')", time.Now().UnixMicro()); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := store.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if err := store.UseAuditKey(testAuditSecret); err != nil {
				t.Fatal(err)
			}
			if report := verify(t, store, models.AuditChainCheck{}); !report.Holds() || report.Legacy != 3 || report.Checked != 0 {
				t.Fatalf("before any event is linked: got %+v, want 3 events from before the chain", report)
			}
			recordEvents(t, store, 2)
			records := modelstest.AuditRecords(t, store)
			if got := records[3]; got.Action != models.AuditChainStarted || !strings.Contains(got.Detail, "the 3 events recorded before it") {
				t.Errorf("the first event linked: got %+v, want audit.chain_started naming the 3 before", got)
			}
			report := verify(t, store, models.AuditChainCheck{})
			if !report.Holds() || report.Legacy != 3 || report.Checked != 3 {
				t.Fatalf("got %+v, want 3 events linked, 3 from before", report)
			}
			modelstest.TamperAuditLog(t, store, target, "INSERT INTO audit_events (at, actor_type, action) VALUES (1, 'system', 'test.forged')")
			report = verify(t, store, models.AuditChainCheck{})
			if len(report.Breaks) != 1 || report.Breaks[0].Action != "test.forged" || report.Legacy != 3 {
				t.Fatalf("an event inserted outside the chain: got %+v, want it the one break", report)
			}
		})
	}
}

// The scheduled check goes on from the last event it verified: a change after it is found, a
// change before it is left to the full check, and the events outside the chain and the chain's
// ends are checked every time.
func TestAuditChainCheckGoesOnFromWhereItStopped(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, target modelstest.Target) {
		if err := store.UseAuditKey(testAuditSecret); err != nil {
			t.Fatal(err)
		}
		recordEvents(t, store, 3)
		first := verify(t, store, models.AuditChainCheck{})
		recordEvents(t, store, 2)
		next := verify(t, store, models.AuditChainCheck{After: first.Last})
		if !next.Holds() || next.Checked != 2 || next.Last.Position != 5 {
			t.Fatalf("after position 3: got %+v, want positions 4 and 5 checked", next)
		}
		modelstest.TamperAuditLog(t, store, target, "UPDATE audit_events SET detail = 'changed' WHERE chain_seq IN (2, 5)", "DELETE FROM audit_events WHERE chain_seq = 4")
		report := verify(t, store, models.AuditChainCheck{After: first.Last})
		if len(report.Breaks) != 1 || report.Breaks[0].Position != 5 ||
			!strings.Contains(report.Breaks[0].Problem, "position 4 is missing") || !strings.Contains(report.Breaks[0].Problem, "does not match its content") {
			t.Errorf("after position 3: got breaks %v, want one at position 5: 4 missing, 5 changed", report.Breaks)
		}
		var positions []int64
		for _, b := range verify(t, store, models.AuditChainCheck{}).Breaks {
			positions = append(positions, b.Position)
		}
		if !slices.Equal(positions, []int64{2, 5}) {
			t.Errorf("from the start: got breaks at %v, want at 2 and 5", positions)
		}
	})
}

// A check that runs while the retention job prunes finds no break, however their reads and
// commits interleave: the chain's first event and the last cut are read in one snapshot.
func TestChainCheckDuringPrunesFindsNoBreak(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		old := time.Now().UTC().AddDate(-2, 0, 0)
		stop := make(chan struct{})
		var checks sync.WaitGroup
		var breaks []models.AuditChainBreak
		var checkErr error
		checks.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				report, err := store.VerifyAuditChain(ctx, models.AuditChainCheck{})
				if err != nil || len(report.Breaks) > 0 {
					breaks, checkErr = report.Breaks, err
					return
				}
			}
		})
		for range 150 {
			for range 2 {
				if err := store.RecordAudit(ctx, models.AuditEvent{At: old, Action: "test.event"}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := store.PruneAuditEvents(ctx, old.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		close(stop)
		checks.Wait()
		if checkErr != nil || len(breaks) > 0 {
			t.Fatalf("a check during prunes: got breaks %+v, %v; want none", breaks, checkErr)
		}
	})
}
