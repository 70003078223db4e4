package models_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// actionsOf lists the events' actions, in their order.
func actionsOf(events []models.AuditEvent) []string {
	actions := make([]string, len(events))
	for i, ev := range events {
		actions[i] = ev.Action
	}
	return actions
}

// Every change to a key is recorded in its own transaction, by the actor the context carries:
// created, rotated (and the older grace it ends), disabled, enabled, deleted, and the end of a
// grace by Keysmith itself. A change that does not happen records nothing.
func TestKeyChangesAreAudited(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		start := time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)
		now := start
		store.SetClock(func() time.Time { return now })
		alice := models.AuditActor{Type: models.ActorUser, ID: "7", Label: "alice@example.com", Address: "10.0.0.9", UserAgent: "Firefox/140", RequestID: "req-41"}
		ctx := models.WithAuditActor(context.Background(), alice)

		key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "nightly export", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := store.RotateAPIKey(ctx, key.PublicID, models.Rotation{Grace: models.GraceHour}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := store.RotateAPIKey(ctx, key.PublicID, models.Rotation{Grace: models.GraceHour}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, _, err := store.DisableAPIKey(ctx, key.PublicID); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := store.EnableAPIKey(ctx, key.PublicID); err != nil {
			t.Fatal(err)
		}
		now = start.Add(2 * time.Hour)
		if ended, err := store.EndOverGraces(context.Background()); err != nil || ended != 1 {
			t.Fatalf("end over graces: got %d, %v; want 1, nil", ended, err)
		}
		if _, err := store.DeleteAPIKey(ctx, key.PublicID); err != nil {
			t.Fatal(err)
		}
		if _, err := store.DeleteAPIKey(ctx, key.PublicID); !errors.Is(err, models.ErrAPIKeyNotFound) {
			t.Fatalf("second delete: got %v, want ErrAPIKeyNotFound", err)
		}
		twin, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "twin", Scope: models.ScopeAdmin})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "TWIN", Scope: models.ScopeAdmin}); !errors.Is(err, models.ErrDuplicateName) {
			t.Fatalf("duplicate name: got %v, want ErrDuplicateName", err)
		}

		events := modelstest.AuditEvents(t, store, models.AuditFilter{Key: key.PublicID})
		want := []string{models.AuditKeyCreated, models.AuditKeyRotated, models.AuditKeyGraceEnded, models.AuditKeyRotated,
			models.AuditKeyDisabled, models.AuditKeyEnabled, models.AuditKeyGraceEnded, models.AuditKeyDeleted}
		if got := actionsOf(events); !slices.Equal(got, want) {
			t.Fatalf("events of the key: got %v, want %v", got, want)
		}
		for i, ev := range events {
			wantActor := alice
			if i == 6 {
				wantActor = models.AuditActor{Type: models.ActorSystem}
			}
			if ev.Actor != wantActor {
				t.Errorf("%s: actor %+v, want %+v", ev.Action, ev.Actor, wantActor)
			}
			if ev.TargetType != models.TargetKey || ev.TargetID != key.PublicID || ev.TargetLabel != "nightly export" {
				t.Errorf("%s: target %s %s %q, want the key %s “nightly export”", ev.Action, ev.TargetType, ev.TargetID, ev.TargetLabel, key.PublicID)
			}
		}
		for i, wantDetail := range map[int]string{
			0: "scope read-only, never expires",
			1: "grace 1h; scope read-only, never expires",
			6: "the previous secret stopped working: its grace is over",
			7: "scope read-only, never expires",
		} {
			if events[i].Detail != wantDetail {
				t.Errorf("%s: detail %q, want %q", events[i].Action, events[i].Detail, wantDetail)
			}
		}
		if !events[6].At.Equal(start.Add(2*time.Hour)) || !events[0].At.Equal(start) {
			t.Errorf("times: got %v and %v, want the store's %v and %v", events[0].At, events[6].At, start, start.Add(2*time.Hour))
		}
		if got := actionsOf(modelstest.AuditEvents(t, store, models.AuditFilter{Key: twin.PublicID})); !slices.Equal(got, []string{models.AuditKeyCreated}) {
			t.Errorf("events of the twin: got %v, want only its creation (the duplicate was refused)", got)
		}
	})
}

// The audit log is append-only: the database refuses UPDATE and DELETE (and TRUNCATE on
// PostgreSQL) on audit_events, even to the role that owns it. The retention job alone deletes,
// events older than its cutoff and than the retention the database stores, and records that it
// did; afterwards deleting is refused again. The times are the real clock's, which the
// database's triggers read.
func TestAuditLogIsAppendOnly(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, target modelstest.Target) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		store.SetClock(func() time.Time { return now })
		for _, at := range []time.Time{now.AddDate(-2, 0, 0), now.AddDate(-1, 0, -36), now.AddDate(0, 0, -399), now} {
			if err := store.RecordAudit(ctx, models.AuditEvent{At: at, Action: "test.event", Detail: at.Format(time.DateOnly)}); err != nil {
				t.Fatal(err)
			}
		}
		statements := []string{"UPDATE audit_events SET action = 'test.tampered'", "DELETE FROM audit_events", "DELETE FROM audit_events WHERE action = 'test.event'"}
		if target.Name == "postgres" {
			statements = append(statements, "TRUNCATE audit_events")
		}
		for _, statement := range statements {
			if err := store.Exec(ctx, statement); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: got %v, want it refused as append-only", statement, err)
			}
		}
		// The retention job's own way in deletes no event younger than the retention, even
		// for the role that owns the table (the tests' role is a superuser).
		allowPrune := "SET LOCAL keysmith.audit_prune = 'on'"
		if target.Name == "sqlite" {
			allowPrune = "INSERT INTO audit_prune (on_since) VALUES (0)"
		}
		tx, err := store.Pool().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, allowPrune); err != nil {
			t.Fatal(err)
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM audit_events WHERE at = "+strconv.FormatInt(now.UnixMicro(), 10))
		tx.Rollback()
		if err == nil || !strings.Contains(err.Error(), "younger than the retention") {
			t.Errorf("%s, then DELETE of a fresh event: got %v, want it refused as younger than the retention", allowPrune, err)
		}
		if got := len(modelstest.AuditEvents(t, store, models.AuditFilter{Action: "test.event"})); got != 4 {
			t.Fatalf("after the refused statements: %d events, want the 4 recorded", got)
		}

		deleted, err := store.PruneAuditEvents(ctx, now.AddDate(0, 0, -400))
		if err != nil || deleted != 2 {
			t.Fatalf("prune before 400 days ago: got %d, %v; want 2, nil", deleted, err)
		}
		kept := modelstest.AuditEvents(t, store, models.AuditFilter{})
		if got := actionsOf(kept); !slices.Equal(got, []string{"test.event", "test.event", models.AuditPruned}) {
			t.Fatalf("after the prune: got %v, want the 2 recent events and the prune's", got)
		}
		wantDetail := "2 events from before " + now.AddDate(0, 0, -400).Format(time.RFC3339) + " deleted: they passed the retention period"
		if kept[0].Detail != now.AddDate(0, 0, -399).Format(time.DateOnly) || kept[2].Actor.Type != models.ActorSystem ||
			kept[2].Detail != wantDetail || kept[2].TargetType != models.TargetAuditChain || kept[2].TargetID != "2" {
			t.Errorf("after the prune: got %+v, want the event of 399 days ago first and the prune's by Keysmith, naming position 2", kept)
		}
		if err := store.Exec(ctx, "DELETE FROM audit_events"); err == nil {
			t.Error("DELETE after the prune: got no error, want it refused again")
		}
		if deleted, err := store.PruneAuditEvents(ctx, now.AddDate(0, 0, -400)); err != nil || deleted != 0 {
			t.Errorf("prune again: got %d, %v; want 0 and no new event", deleted, err)
		}
		if got := len(modelstest.AuditEvents(t, store, models.AuditFilter{})); got != 3 {
			t.Errorf("after a prune with nothing to delete: %d events, want 3", got)
		}
		// Asked for everything, the retention job deletes nothing younger than the retention
		// the database stores.
		if deleted, err := store.PruneAuditEvents(ctx, now.Add(time.Hour)); err != nil || deleted != 0 {
			t.Errorf("prune before an hour from now: got %d, %v; want nothing deleted", deleted, err)
		}
		if report, err := store.VerifyAuditChain(ctx, models.AuditChainCheck{}); err != nil || !report.Holds() || report.PrunedTo != 2 || report.First.Position != 3 {
			t.Errorf("the chain after the prune: got %+v, %v; want it whole from position 3, pruned to 2", report, err)
		}
	})
}

// A prune deletes in transactions of a bounded size, each recording its own audit.pruned.
func TestPruneAuditEventsInBatches(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, target modelstest.Target) {
		ctx := context.Background()
		const old = 5001
		insert := `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO audit_events (at, actor_type, action) SELECT i, 'system', 'test.old' FROM n`
		if target.Name == "postgres" {
			insert = "INSERT INTO audit_events (at, actor_type, action) SELECT i, 'system', 'test.old' FROM generate_series(1, ?) AS i"
		}
		if err := store.Exec(ctx, insert, old); err != nil {
			t.Fatal(err)
		}
		deleted, err := store.PruneAuditEvents(ctx, time.UnixMicro(old+1))
		if err != nil || deleted != old {
			t.Fatalf("prune: got %d, %v; want %d, nil", deleted, err, old)
		}
		var details []string
		for _, ev := range modelstest.AuditEvents(t, store, models.AuditFilter{}) {
			details = append(details, ev.Action+": "+strings.Split(ev.Detail, " from")[0])
		}
		if want := []string{"audit.pruned: 5000 events", "audit.pruned: 1 event"}; !slices.Equal(details, want) {
			t.Errorf("what is left: got %q, want %q", details, want)
		}
	})
}

// recordAs records an event by actor, about target.
func recordAs(t *testing.T, store *models.Store, actor models.AuditActor, ev models.AuditEvent) {
	t.Helper()
	if err := store.RecordAudit(models.WithAuditActor(context.Background(), actor), ev); err != nil {
		t.Fatal(err)
	}
}

// Each filter selects what its name says, and a filter that no event could match is a
// FieldError naming it.
func TestAuditFilters(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		day := time.Date(2030, 5, 1, 0, 0, 0, 0, time.UTC)
		alice := models.AuditActor{Type: models.ActorUser, ID: "7", Label: "alice@example.com"}
		bob := models.AuditActor{Type: models.ActorUser, ID: "8", Label: "bob@example.com"}
		scanner := models.AuditActor{Type: models.ActorKey, ID: "ak_0123456789abcdef", Label: "scanner"}
		cli := models.AuditActor{Type: models.ActorCLI, Label: "ops"}
		keyTarget := func(action string, at time.Time) models.AuditEvent {
			return models.AuditEvent{At: at, Action: action, TargetType: models.TargetKey, TargetID: "ak_0123456789abcdef", TargetLabel: "scanner"}
		}
		userTarget := func(action string, at time.Time, id, email string) models.AuditEvent {
			return models.AuditEvent{At: at, Action: action, TargetType: models.TargetUser, TargetID: id, TargetLabel: email}
		}
		// The events get the ids 1 to 6 in this order.
		for _, r := range []struct {
			actor models.AuditActor
			event models.AuditEvent
		}{
			{alice, keyTarget(models.AuditKeyCreated, day)},
			{scanner, keyTarget(models.AuditKeyRefused, day.Add(time.Hour))},
			{cli, keyTarget(models.AuditKeyDisabled, day.AddDate(0, 0, 1))},
			{alice, userTarget("user.disabled", day.AddDate(0, 0, 1), "8", "bob@example.com")},
			{bob, userTarget(models.AuditSignedIn, day.AddDate(0, 0, 2), "8", "bob@example.com")},
			{models.AuditActor{Type: models.ActorAnonymous}, userTarget(models.AuditSignInFailed, day.AddDate(0, 0, 2), "", "carol@example.com")},
		} {
			recordAs(t, store, r.actor, r.event)
		}
		ids := func(filter models.AuditFilter) []int {
			var got []int
			for _, ev := range modelstest.AuditEvents(t, store, filter) {
				got = append(got, int(ev.ID))
			}
			return got
		}
		for _, tc := range []struct {
			name   string
			filter models.AuditFilter
			want   []int
		}{
			{"actor by email", models.AuditFilter{Actor: "Alice@Example.com"}, []int{1, 4}},
			{"actor by id", models.AuditFilter{Actor: "8"}, []int{5}},
			{"actor by type", models.AuditFilter{Actor: "cli"}, []int{3}},
			{"actor by command-line user", models.AuditFilter{Actor: "ops"}, []int{3}},
			{"actor by key", models.AuditFilter{Actor: "ak_0123456789abcdef"}, []int{2}},
			{"action", models.AuditFilter{Action: "key.refused"}, []int{2}},
			{"family", models.AuditFilter{Action: "session"}, []int{5, 6}},
			{"key as actor or target", models.AuditFilter{Key: "ak_0123456789abcdef"}, []int{1, 2, 3}},
			{"user as actor or target, by id", models.AuditFilter{User: "8"}, []int{4, 5}},
			{"user by email, without an account", models.AuditFilter{User: "carol@example.com"}, []int{6}},
			{"from", models.AuditFilter{From: day.AddDate(0, 0, 1)}, []int{3, 4, 5, 6}},
			{"to, excluded", models.AuditFilter{To: day.Add(time.Hour)}, []int{1}},
			{"all of them", models.AuditFilter{Actor: "alice@example.com", Action: "key", Key: "ak_0123456789abcdef", From: day, To: day.AddDate(0, 0, 3)}, []int{1}},
			{"no match", models.AuditFilter{Action: "key.enabled"}, nil},
		} {
			if got := ids(tc.filter); !slices.Equal(got, tc.want) {
				t.Errorf("%s: got events %v, want %v", tc.name, got, tc.want)
			}
		}
		for _, tc := range []struct {
			filter models.AuditFilter
			field  string
		}{
			{models.AuditFilter{Action: "Key.Deleted"}, "action"},
			{models.AuditFilter{Action: "key.%"}, "action"},
			{models.AuditFilter{Key: "scanner"}, "key"},
			{models.AuditFilter{Actor: "a\x00b"}, "actor"},
			{models.AuditFilter{User: "\xff"}, "user"},
			{models.AuditFilter{Actor: strings.Repeat("a", 513)}, "actor"},
			{models.AuditFilter{From: day, To: day}, "to"},
		} {
			_, err := store.AuditLog(context.Background(), models.AuditLogQuery{Filter: tc.filter})
			var fieldErr *models.FieldError
			if !errors.As(err, &fieldErr) || fieldErr.Field != tc.field {
				t.Errorf("filter %+v: got %v, want a FieldError naming %s", tc.filter, err, tc.field)
			}
		}
	})
}

// The console pages newest first, before or after an event, and says whether there is more
// either way.
func TestAuditLogPaging(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		for i := range 7 {
			recordAs(t, store, models.AuditActor{Type: models.ActorSystem}, models.AuditEvent{Action: "test.event", Detail: fmt.Sprint(i + 1)})
		}
		for _, tc := range []struct {
			name          string
			before, after int64
			want          []int64
			newer, older  bool
		}{
			{"newest", 0, 0, []int64{7, 6, 5}, false, true},
			{"before 5", 5, 0, []int64{4, 3, 2}, true, true},
			{"before 2", 2, 0, []int64{1}, true, false},
			{"after 1", 0, 1, []int64{4, 3, 2}, true, true},
			{"after 4", 0, 4, []int64{7, 6, 5}, false, true},
			{"after the newest", 0, 7, nil, false, true},
		} {
			page, err := store.AuditLog(context.Background(), models.AuditLogQuery{Before: tc.before, After: tc.after, Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, ev := range page.Events {
				ids = append(ids, ev.ID)
			}
			if !slices.Equal(ids, tc.want) || page.Newer != tc.newer || page.Older != tc.older {
				t.Errorf("%s: got %v newer %t older %t, want %v newer %t older %t", tc.name, ids, page.Newer, page.Older, tc.want, tc.newer, tc.older)
			}
		}
	})
}

// readFeed reads the API's feed from cursor until it gives nothing more, limit events at a
// time, and returns their ids and the cursor to go on from.
func readFeed(t *testing.T, store *models.Store, cursor models.AuditCursor, limit int) ([]int64, models.AuditCursor) {
	t.Helper()
	var ids []int64
	for {
		events, next, err := store.AuditEventsAfter(context.Background(), models.AuditFilter{}, cursor, limit)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events {
			ids = append(ids, ev.ID)
		}
		if len(events) == 0 {
			return ids, cursor
		}
		cursor = next
	}
}

// The API's feed, read while several writers record events in transactions that commit in
// another order than their ids, serves every event exactly once.
func TestAuditFeedNeverSkipsNorRepeats(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		const writers, each = 4, 25
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					// Each event is written in a transaction held open for a moment, so that
					// transactions commit in another order than they took their ids.
					err := holdingTransaction(ctx, store, fmt.Sprintf("writer %d event %d", w, i), time.Duration(rand.IntN(3000))*time.Microsecond)
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		var seen []int64
		var cursor models.AuditCursor
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
	reading:
		for {
			select {
			case <-done:
				break reading
			default:
			}
			var ids []int64
			ids, cursor = readFeed(t, store, cursor, 5)
			seen = append(seen, ids...)
		}
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// Once every writer is done, the feed has only the rest to give; a transaction of
		// another test elsewhere in the database may hold them back for a moment.
		for deadline := time.Now().Add(10 * time.Second); len(seen) < writers*each && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			var ids []int64
			ids, cursor = readFeed(t, store, cursor, 5)
			seen = append(seen, ids...)
		}
		counts := map[int64]int{}
		for _, id := range seen {
			counts[id]++
		}
		for id, n := range counts {
			if n != 1 {
				t.Errorf("event %d served %d times, want once", id, n)
			}
		}
		if len(counts) != writers*each {
			t.Errorf("the feed served %d distinct events, want all %d", len(counts), writers*each)
		}
	})
}

// holdingTransaction records an event in a transaction of its own that waits for hold before it
// commits.
func holdingTransaction(ctx context.Context, store *models.Store, detail string, hold time.Duration) error {
	tx, err := store.Pool().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := insertEvent(ctx, tx, store, detail); err != nil {
		tx.Rollback()
		return err
	}
	time.Sleep(hold)
	return tx.Commit()
}

// insertEvent writes an event as recordAudit does, in tx.
func insertEvent(ctx context.Context, tx *sql.Tx, store *models.Store, detail string) error {
	statement := "INSERT INTO audit_events (at, actor_type, action, detail) VALUES (?, 'system', 'test.event', ?)"
	if store.Dialect() == models.DialectPostgres {
		statement = "INSERT INTO audit_events (at, actor_type, action, detail) VALUES ($1, 'system', 'test.event', $2)"
	}
	_, err := tx.ExecContext(ctx, statement, time.Now().UnixMicro(), detail)
	return err
}

// On PostgreSQL an event whose transaction is still running holds back the events of later
// transactions, even those committed: served before it, they would have moved the cursor past
// it. Once it commits, both are served, in the order of their transactions.
func TestAuditFeedWaitsForOlderTransactions(t *testing.T) {
	store := modelstest.Open(t, modelstest.Postgres(t, "the feed's order of transactions"))
	ctx := context.Background()
	early, err := store.Pool().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Rollback()
	if err := insertEvent(ctx, early, store, "early transaction"); err != nil {
		t.Fatal(err)
	}
	if err := holdingTransaction(ctx, store, "late transaction", 0); err != nil {
		t.Fatal(err)
	}
	ids, cursor := readFeed(t, store, models.AuditCursor{}, 10)
	if len(ids) != 0 {
		t.Fatalf("while the early transaction runs: served %v, want nothing", ids)
	}
	if err := early.Commit(); err != nil {
		t.Fatal(err)
	}
	var details []string
	for deadline := time.Now().Add(10 * time.Second); len(details) < 2 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		events, next, err := store.AuditEventsAfter(ctx, models.AuditFilter{}, cursor, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events {
			details = append(details, ev.Detail)
		}
		cursor = next
	}
	if want := []string{"early transaction", "late transaction"}; !slices.Equal(details, want) {
		t.Errorf("once both committed: served %q, want %q", details, want)
	}
}

// A cursor is opaque text that only the feed makes; anything else is a FieldError naming it.
func TestAuditCursorText(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		for i := range 3 {
			recordAs(t, store, models.AuditActor{Type: models.ActorSystem}, models.AuditEvent{Action: "test.event", Detail: fmt.Sprint(i)})
		}
		ctx := context.Background()
		var first []models.AuditEvent
		var next models.AuditCursor
		for deadline := time.Now().Add(10 * time.Second); len(first) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			var err error
			if first, next, err = store.AuditEventsAfter(ctx, models.AuditFilter{}, models.AuditCursor{}, 2); err != nil {
				t.Fatal(err)
			}
		}
		text := next.String()
		if len(first) != 2 || text == "" || strings.ContainsAny(text, "/+=.") {
			t.Fatalf("first page: got %d events and cursor %q, want 2 and an opaque URL-safe cursor", len(first), text)
		}
		parsed, err := models.ParseAuditCursor(text)
		if err != nil {
			t.Fatal(err)
		}
		// As for the first page, another suite's transaction may hold the third event back.
		var rest []models.AuditEvent
		for deadline := time.Now().Add(10 * time.Second); len(rest) == 0 && err == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			rest, _, err = store.AuditEventsAfter(ctx, models.AuditFilter{}, parsed, 10)
		}
		if err != nil || len(rest) != 1 || rest[0].Detail != "2" {
			t.Fatalf("after the parsed cursor: got %+v, %v; want the third event", rest, err)
		}
		for _, bad := range []string{"x", "!!!!", "YTEuMQ", "YTIuMC4x", "YTEuMC4tMQ", "YTEuLTEuMQ", strings.Repeat("A", 200)} {
			_, err := models.ParseAuditCursor(bad)
			var fieldErr *models.FieldError
			if !errors.As(err, &fieldErr) || fieldErr.Field != "cursor" {
				t.Errorf("cursor %q: got %v, want a FieldError naming cursor", bad, err)
			}
		}
	})
}

// AuditFeedHold tells how long the API's feed holds committed events back and which
// transaction holds them: on PostgreSQL one that writes and stays open, here in another
// database of the server; on SQLite, whose writers take turns, never any.
func TestAuditFeedHold(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, target modelstest.Target) {
		ctx := context.Background()
		if target.Name == "sqlite" {
			if err := store.RecordAudit(ctx, models.AuditEvent{At: store.Now().Add(-time.Minute), Action: "test.event"}); err != nil {
				t.Fatal(err)
			}
			if hold, err := store.AuditFeedHold(ctx); err != nil || hold != (models.AuditFeedHold{}) {
				t.Errorf("on SQLite: got %+v, %v; want nothing held back", hold, err)
			}
			return
		}
		u, err := url.Parse(os.Getenv(modelstest.EnvPostgres))
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/postgres"
		query := u.Query()
		query.Set("application_name", "keysmith-test-feed-hold")
		u.RawQuery = query.Encode()
		other, err := models.Open(ctx, u.String())
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		tx, err := other.Pool().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.Exec("SELECT pg_current_xact_id()"); err != nil {
			t.Fatal(err)
		}
		if err := store.RecordAudit(ctx, models.AuditEvent{At: store.Now().Add(-time.Minute), Action: "test.event"}); err != nil {
			t.Fatal(err)
		}
		hold, err := store.AuditFeedHold(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if hold.Waiting < time.Minute || hold.Holder.Application != "keysmith-test-feed-hold" || hold.Holder.Database != "postgres" ||
			hold.Holder.State != "idle in transaction" || hold.Holder.Started.IsZero() {
			t.Errorf("while the transaction is open: got %+v, want a minute or more, held by keysmith-test-feed-hold in postgres", hold)
		}
		tx.Rollback()
		for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
			hold, err := store.AuditFeedHold(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if hold == (models.AuditFeedHold{}) {
				break
			}
			// Another suite's transaction, begun before the event, holds it back too while it
			// lasts.
			if time.Since(start) > 30*time.Second {
				t.Fatalf("after the transaction ended: got %+v, want nothing held back", hold)
			}
		}
	})
}
