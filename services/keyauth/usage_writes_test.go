package keyauth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// writeCounter counts, with triggers, the rows written to api_keys and api_key_clients: the
// database itself tells how many writes last-use tracking costs.
type writeCounter struct{ db *gorm.DB }

func countWrites(t *testing.T, target modelstest.Target) writeCounter {
	t.Helper()
	var dialector gorm.Dialector
	statements := []string{"CREATE TABLE test_write_count (n INTEGER NOT NULL)", "INSERT INTO test_write_count VALUES (0)"}
	if target.Name == "postgres" {
		dialector = postgres.Open(target.URL)
		statements = append(statements,
			`CREATE FUNCTION test_count_write() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN UPDATE test_write_count SET n = n + 1; RETURN NULL; END $$`,
			"CREATE TRIGGER test_count_key_writes AFTER UPDATE ON api_keys FOR EACH ROW EXECUTE FUNCTION test_count_write()",
			"CREATE TRIGGER test_count_client_writes AFTER INSERT OR UPDATE ON api_key_clients FOR EACH ROW EXECUTE FUNCTION test_count_write()")
	} else {
		dialector = sqlite.Open(target.URL + "?_pragma=busy_timeout(10000)")
		for _, trigger := range []string{"AFTER UPDATE ON api_keys", "AFTER INSERT ON api_key_clients", "AFTER UPDATE ON api_key_clients"} {
			name := "test_count_" + strings.NewReplacer(" ", "_").Replace(strings.ToLower(trigger))
			statements = append(statements, "CREATE TRIGGER "+name+" "+trigger+" BEGIN UPDATE test_write_count SET n = n + 1; END")
		}
	}
	db, err := gorm.Open(dialector, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	})
	for _, statement := range statements {
		if err := db.Exec(statement).Error; err != nil {
			t.Fatalf("%s: %v", statement, err)
		}
	}
	return writeCounter{db}
}

func (w writeCounter) rows(t *testing.T) int {
	t.Helper()
	var n int
	if err := w.db.Raw("SELECT n FROM test_write_count").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestManyRequestsLeadToFewWrites(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, target modelstest.Target) {
		ctx := context.Background()
		base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		now := base
		store.SetClock(func() time.Time { return now })
		v := newTestVerifier(store)
		key, secret := modelstest.CreateKey(t, store, "busy", nil)
		writes := countWrites(t, target)

		const requests = 200
		for i := range requests {
			now = base.Add(time.Duration(i) * time.Millisecond)
			use(t, v, secret, "nightly-export/1.0", "192.0.2.10:40000")
		}
		if got := writes.rows(t); got != 0 {
			t.Fatalf("rows written before the flush: %d, want 0", got)
		}
		if err := v.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		// One update of the key's last use and one row for its single client.
		if got := writes.rows(t); got != 2 {
			t.Fatalf("rows written by one flush of %d requests: %d, want 2", requests, got)
		}
		stored, err := store.APIKeyByPublicID(ctx, key.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		// Last use is kept to the second.
		last := base.Add((requests - 1) * time.Millisecond).Truncate(time.Second)
		if stored.LastUsedAt == nil || !stored.LastUsedAt.Equal(last) {
			t.Fatalf("last used at %v, want %v", stored.LastUsedAt, last)
		}
		if stored.LastUsedIP != "192.0.2.10" || stored.LastUsedClient != "nightly-export/1.0" {
			t.Fatalf("last used by %q from %q, want %q from %q", stored.LastUsedClient, stored.LastUsedIP, "nightly-export/1.0", "192.0.2.10")
		}

		// A second round from two clients: one more key update and one row per client.
		for i := range requests {
			now = last.Add(2*time.Second + time.Duration(i+1)*time.Millisecond)
			use(t, v, secret, []string{"nightly-export/1.0", "curl/8.5.0"}[i%2], "192.0.2.10:40000")
		}
		if err := v.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		if got := writes.rows(t); got != 2+3 {
			t.Fatalf("rows written after the second flush: %d, want %d", got, 2+3)
		}
		// The client that used the key last, using it again within useWriteInterval of the
		// use written, is not written again.
		now = now.Add(10 * time.Second)
		use(t, v, secret, "curl/8.5.0", "192.0.2.10:40000")
		if err := v.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		if got := writes.rows(t); got != 5 {
			t.Fatalf("rows written for a use soon after the one written: %d, want 0", got-5)
		}
		// A use more than useWriteInterval after the one written is written again.
		now = now.Add(useWriteInterval)
		use(t, v, secret, "curl/8.5.0", "192.0.2.10:40000")
		if err := v.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		if got := writes.rows(t); got != 5+2 {
			t.Fatalf("rows written for a use a write interval later: %d, want 2", got-5)
		}
		list, err := store.APIKeyClients(ctx, key.ID, base, 10)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]time.Time{}
		for _, c := range list.Clients {
			seen[c.Client] = c.LastSeenAt
		}
		if want := now.Truncate(time.Second); len(seen) != 2 || !seen["curl/8.5.0"].Equal(want) || seen["nightly-export/1.0"].IsZero() {
			t.Fatalf("clients %+v, want nightly-export/1.0 and curl/8.5.0, the latter last seen at %v", list.Clients, want)
		}
	})
}

// A key read again from the store when its trust in the cache runs out keeps its last use:
// the refresh writes nothing until the use is due again.
func TestRefreshedKeyKeepsItsLastUse(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, target modelstest.Target) {
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		store.SetClock(func() time.Time { return now })
		v := newTestVerifier(store)
		key, secret := modelstest.CreateKey(t, store, "refreshed", nil)
		writes := countWrites(t, target)
		use(t, v, secret, "nightly-export/1.0", "192.0.2.10:40000")
		if err := v.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		if got := writes.rows(t); got != 2 {
			t.Fatalf("rows written for the first use: %d, want 2", got)
		}
		// The entry's trust runs out before the use is due to be written again.
		now = now.Add(time.Duration(useWriteSeconds(key.ID, false))*time.Second - time.Minute)
		for _, entry := range v.cache {
			entry.trustedUntil.Store(now.UnixNano())
		}
		misses := testutil.ToFloat64(v.metrics.cacheMisses)
		use(t, v, secret, "nightly-export/1.0", "192.0.2.10:40000")
		if testutil.ToFloat64(v.metrics.cacheMisses) != misses+1 {
			t.Fatal("the key was not read again from the store")
		}
		if err := v.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		if got := writes.rows(t); got != 2 {
			t.Errorf("rows written after the key was read again: %d more, want none", got-2)
		}
	})
}
