package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"keysmith/config"
	"keysmith/models"
	"keysmith/models/modelstest"
)

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// newTestVerifier is a verifier with the default cache size and stale window, and a second
// for lookups.
func newTestVerifier(store *models.Store) *KeyVerifier {
	return NewKeyVerifier(store, discardLog, NewMetrics(store), config.DefaultKeyCacheSize, time.Second, config.DefaultStaleKeysFor)
}

func createTestKey(t testing.TB, store *models.Store, name string, expiresAt *time.Time) (*models.APIKey, string) {
	t.Helper()
	key, secret, err := store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: name, Scope: models.ScopeReadOnly, ExpiresAt: expiresAt})
	if err != nil {
		t.Fatal(err)
	}
	return key, secret
}

// deleteBehindItsBack removes a key from the database without telling the verifier, so a test
// can tell a cache hit from a lookup: through another store on the same database, as another
// instance would on PostgreSQL, with no listener to hear it.
func deleteBehindItsBack(t testing.TB, store *models.Store, key *models.APIKey) {
	t.Helper()
	if _, err := openAgain(t, store).DeleteAPIKey(context.Background(), key.PublicID); err != nil {
		t.Fatal(err)
	}
}

// openAgain opens another store on store's database, whose changes store's subscribers do not
// hear of; on SQLite with the audit key kept beside the database, as store has.
func openAgain(t testing.TB, store *models.Store) *models.Store {
	t.Helper()
	return modelstest.Open(t, modelstest.Target{Name: string(store.Dialect()), URL: store.URL()})
}

func TestVerifierCacheHitEvictAndUntrustedBypass(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		v := newTestVerifier(store)

		key, secret := createTestKey(t, store, "cached", nil)
		got, err := v.Verify(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		if got.PublicID != key.PublicID {
			t.Fatalf("verified key %q, want %q", got.PublicID, key.PublicID)
		}
		deleteBehindItsBack(t, store, key)
		if _, err := v.Verify(ctx, secret); err != nil {
			t.Fatalf("cache hit after a silent delete: %v, want the cached key", err)
		}
		v.Evict(key.SecretHash)
		if _, err := v.Verify(ctx, secret); !errors.Is(err, ErrKeyRefused) {
			t.Fatalf("after Evict: got %v, want ErrKeyRefused", err)
		}

		other, otherSecret := createTestKey(t, store, "untrusted", nil)
		if _, err := v.Verify(ctx, otherSecret); err != nil {
			t.Fatal(err)
		}
		v.distrust()
		if _, err := v.Verify(ctx, otherSecret); err != nil {
			t.Fatalf("untrusted, key in the store: %v", err)
		}
		deleteBehindItsBack(t, store, other)
		if _, err := v.Verify(ctx, otherSecret); !errors.Is(err, ErrKeyRefused) {
			t.Fatalf("untrusted, key deleted from the store: got %v, want ErrKeyRefused", err)
		}

		v.restoreTrust(time.Now().Add(time.Hour))
		again, againSecret := createTestKey(t, store, "trusted again", nil)
		if _, err := v.Verify(ctx, againSecret); err != nil {
			t.Fatal(err)
		}
		deleteBehindItsBack(t, store, again)
		if _, err := v.Verify(ctx, againSecret); err != nil {
			t.Fatalf("trusted again, cache hit: %v, want the cached key", err)
		}
	})
}

// The cache answers only while its lease runs: past it, keys are looked up again, and what was
// cached before is used again once the lease is renewed.
func TestVerifierCacheAnswersOnlyWithinItsLease(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		v := newTestVerifier(store)
		v.restoreTrust(time.Now().Add(time.Hour))
		kept, keptSecret := createTestKey(t, store, "kept", nil)
		gone, goneSecret := createTestKey(t, store, "gone", nil)
		for _, secret := range []string{keptSecret, goneSecret} {
			if _, err := v.Verify(ctx, secret); err != nil {
				t.Fatal(err)
			}
		}
		deleteBehindItsBack(t, store, gone)
		if _, err := v.Verify(ctx, goneSecret); err != nil {
			t.Fatalf("within the lease: %v, want the cached key", err)
		}

		v.vouchUntil(time.Now().Add(-time.Millisecond))
		if _, err := v.Verify(ctx, goneSecret); !errors.Is(err, ErrKeyRefused) {
			t.Fatalf("past the lease: got %v, want ErrKeyRefused from the store", err)
		}
		if _, err := v.Verify(ctx, keptSecret); err != nil {
			t.Fatalf("past the lease, key in the store: %v", err)
		}

		// Renewed: the cache answers again (a key removed behind its back is still served).
		v.vouchUntil(time.Now().Add(time.Hour))
		deleteBehindItsBack(t, store, kept)
		if _, err := v.Verify(ctx, keptSecret); err != nil {
			t.Fatalf("lease renewed: %v, want the cached key", err)
		}
	})
}

func TestVerifierChecksExpiryOfCachedKeyToTheSecond(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		store.SetClock(func() time.Time { return now })
		v := newTestVerifier(store)
		expiresAt := now.Add(2 * time.Minute)
		key, secret := createTestKey(t, store, "short-lived", &expiresAt)
		if _, err := v.Verify(ctx, secret); err != nil {
			t.Fatal(err)
		}
		// From here on the key is only in the cache, so every answer below comes from it.
		deleteBehindItsBack(t, store, key)

		cases := []struct {
			at      time.Time
			refused bool
		}{
			{expiresAt.Add(-time.Second), false},
			{expiresAt, true},
			{expiresAt.Add(time.Second), true},
		}
		for _, tc := range cases {
			now = tc.at
			_, err := v.Verify(ctx, secret)
			if refused := errors.Is(err, ErrKeyRefused); refused != tc.refused {
				t.Errorf("at expiry %+v: refused %v (err %v), want %v", tc.at.Sub(expiresAt), refused, err, tc.refused)
			}
		}
	})
}

func TestVerifierRefusesMalformedSecretsWithoutTheStore(t *testing.T) {
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	v := newTestVerifier(store)
	valid := models.GenerateSecret()
	// With the database closed, a secret that reaches the store fails with a database error;
	// one that is refused first never gets there.
	store.Close()
	if _, err := v.Verify(context.Background(), valid); err == nil || errors.Is(err, ErrKeyRefused) {
		t.Fatalf("well-formed secret with the database closed: got %v, want a database error", err)
	}
	replacement := "A"
	if strings.HasSuffix(valid, replacement) {
		replacement = "B"
	}
	wrongChecksum := valid[:len(valid)-1] + replacement
	for _, secret := range []string{"", "ksk_", "not a key", strings.ToUpper(valid), wrongChecksum, valid + "x"} {
		if _, err := v.Verify(context.Background(), secret); !errors.Is(err, ErrKeyRefused) {
			t.Errorf("Verify(%q): got %v, want ErrKeyRefused", secret, err)
		}
	}
}

// keyServer is the web platform with one route behind RequireKey, the way handlers registers
// the catalog API.
func keyServer(t *testing.T, store *models.Store, addr string) *Server {
	t.Helper()
	cfg, _, err := config.Load("test", nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if addr != "" {
		cfg.Addr = addr
	}
	sessionKey, err := store.SessionKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv := New(cfg, store, discardLog, [][]byte{sessionKey})
	srv.Echo.GET("/api/v1/ping", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }, srv.RequireKey(models.ScopeReadOnly))
	return srv
}

func ping(t *testing.T, srv *Server, secret, client, remoteAddr string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/api/v1/ping", nil)
	req.Header.Set("X-API-SECRET", secret)
	req.Header.Set("User-Agent", client)
	req.RemoteAddr = remoteAddr
	rec := httptest.NewRecorder()
	srv.Echo.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("ping: status %d, want %d", rec.Code, http.StatusNoContent)
	}
}

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
		srv := keyServer(t, store, "")
		key, secret := createTestKey(t, store, "busy", nil)
		writes := countWrites(t, target)

		const requests = 200
		for i := range requests {
			now = base.Add(time.Duration(i) * time.Millisecond)
			ping(t, srv, secret, "nightly-export/1.0", "192.0.2.10:40000")
		}
		if got := writes.rows(t); got != 0 {
			t.Fatalf("rows written before the flush: %d, want 0", got)
		}
		if err := srv.Keys.FlushUsage(ctx); err != nil {
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
			ping(t, srv, secret, []string{"nightly-export/1.0", "curl/8.5.0"}[i%2], "192.0.2.10:40000")
		}
		if err := srv.Keys.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		if got := writes.rows(t); got != 2+3 {
			t.Fatalf("rows written after the second flush: %d, want %d", got, 2+3)
		}
		// The client that used the key last, using it again within useWriteInterval of the
		// use written, is not written again.
		now = now.Add(10 * time.Second)
		ping(t, srv, secret, "curl/8.5.0", "192.0.2.10:40000")
		if err := srv.Keys.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		if got := writes.rows(t); got != 5 {
			t.Fatalf("rows written for a use soon after the one written: %d, want 0", got-5)
		}
		// A use more than useWriteInterval after the one written is written again.
		now = now.Add(useWriteInterval)
		ping(t, srv, secret, "curl/8.5.0", "192.0.2.10:40000")
		if err := srv.Keys.FlushUsage(ctx); err != nil {
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

// clockedVerifier returns a verifier over a store on the first test database whose clock reads
// the Unix nanoseconds in clock, which starts at the real time.
func clockedVerifier(t *testing.T) (*models.Store, *KeyVerifier, *atomic.Int64) {
	t.Helper()
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	clock := new(atomic.Int64)
	clock.Store(time.Now().UnixNano())
	store.SetClock(func() time.Time { return time.Unix(0, clock.Load()) })
	return store, newTestVerifier(store), clock
}

// A cached key in use is read again in the background shortly before its trust runs out: the
// request that notices is answered from the cache at once. An unchanged key is trusted anew in
// place; a key changed behind the cache's back gets an entry with what the store says, and one
// deleted or disabled behind its back is refused from then on.
func TestVerifierRefreshesKeysInUseAhead(t *testing.T) {
	store, v, clock := clockedVerifier(t)
	_, kept := createTestKey(t, store, "kept", nil)
	renamed, changed := createTestKey(t, store, "renamed", nil)
	deleted, gone := createTestKey(t, store, "deleted", nil)
	disabled, off := createTestKey(t, store, "disabled", nil)
	cached := func(secret string) *cachedKey {
		v.mu.RLock()
		defer v.mu.RUnlock()
		return v.cache[secretSum(secret)]
	}
	for _, secret := range []string{kept, changed, gone, off} {
		if _, err := v.Verify(context.Background(), secret); err != nil {
			t.Fatal(err)
		}
	}
	if err := openAgain(t, store).Exec(context.Background(), "UPDATE api_keys SET name = ? WHERE id = ?", "renamed behind its back", renamed.ID); err != nil {
		t.Fatal(err)
	}
	deleteBehindItsBack(t, store, deleted)
	if _, _, err := openAgain(t, store).DisableAPIKey(context.Background(), disabled.PublicID); err != nil {
		t.Fatal(err)
	}

	// Within the last refreshAhead of the kept key's trust: answered from the cache, then read
	// again.
	entry := cached(kept)
	before := entry.trustedUntil.Load()
	clock.Store(before - int64(refreshAhead/2))
	misses := testutil.ToFloat64(v.metrics.cacheMisses)
	if _, err := v.Verify(context.Background(), kept); err != nil {
		t.Fatalf("a key in its refresh window: %v, want it answered", err)
	}
	if testutil.ToFloat64(v.metrics.cacheMisses) != misses {
		t.Fatal("a key in its refresh window was looked up by the request, want it answered from the cache")
	}
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(v.metrics.cacheRefreshes) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the key in its refresh window was not read again within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if after := cached(kept); after != entry || after.trustedUntil.Load() <= before || after.refreshing.Load() {
		t.Errorf("after the refresh: the same entry %v, trusted until %d (before %d), refreshing %v; want the same entry, trusted later, and not refreshing",
			after == entry, after.trustedUntil.Load(), before, after.refreshing.Load())
	}

	// The key renamed behind the cache's back: its entry is replaced by one with the new name,
	// which keeps the use the old one gathered.
	entry = cached(changed)
	v.recordUse(entry, "192.0.2.10", "nightly-export/1.0", store.Now())
	clock.Store(entry.trustedUntil.Load() - int64(refreshAhead/2))
	if _, err := v.Verify(context.Background(), changed); err != nil {
		t.Fatalf("a key renamed behind the cache's back: %v, want it answered", err)
	}
	for cached(changed) == entry {
		if time.Now().After(deadline) {
			t.Fatal("the renamed key in its refresh window was not read again within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if after := cached(changed); after.keyName() != "renamed behind its back" || !strings.Contains(string(after.summary.JSON), "renamed behind its back") ||
		after.lastUse.Load() == 0 || after.lastUse.Load() != entry.lastUse.Load() {
		t.Errorf("the renamed key's new entry: name %q, summary %s, last use kept %v; want the new name in both, and the use kept",
			after.keyName(), after.summary.JSON, after.lastUse.Load() == entry.lastUse.Load())
	}

	// The deleted and the disabled key, each in its own refresh window: answered from the cache
	// once more, then the refresh hears the store no longer vouches for it.
	for what, secret := range map[string]string{"deleted": gone, "disabled": off} {
		clock.Store(cached(secret).trustedUntil.Load() - int64(refreshAhead/2))
		if _, err := v.Verify(context.Background(), secret); err != nil {
			t.Fatalf("a key %s behind the cache's back: %v, want it answered from the cache", what, err)
		}
		for cached(secret) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("the refresh did not evict the key %s behind the cache's back", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if _, err := v.Verify(context.Background(), secret); !errors.Is(err, ErrKeyRefused) {
			t.Errorf("the key %s, after its refresh: %v, want ErrKeyRefused", what, err)
		}
	}
}

// Keys that come due for a refresh apart, as they do one by one under load, are read again
// together: the refresh lets refreshGather pass for more to gather, rather than reading each
// alone.
func TestVerifierRefreshesKeysInBatches(t *testing.T) {
	store, v, clock := clockedVerifier(t)
	var entries []*cachedKey
	var secrets []string
	for _, name := range []string{"first", "second", "third"} {
		_, secret := createTestKey(t, store, name, nil)
		if _, err := v.Verify(context.Background(), secret); err != nil {
			t.Fatal(err)
		}
		v.mu.RLock()
		entries = append(entries, v.cache[secretSum(secret)])
		v.mu.RUnlock()
		secrets = append(secrets, secret)
	}
	// Every entry in its refresh window.
	end := time.Unix(0, clock.Load()).Add(keyCacheTTL).UnixNano()
	before := make([]int64, len(entries))
	for i, entry := range entries {
		entry.trustedUntil.Store(end)
		before[i] = end
	}
	clock.Store(end - int64(refreshAhead/2))
	// The refresh trusts a batch's entries anew under the cache's lock: seen under it, either
	// none of these or all of them moved on.
	refreshed := func() (n int) {
		v.mu.RLock()
		defer v.mu.RUnlock()
		for i, entry := range entries {
			if entry.trustedUntil.Load() != before[i] {
				n++
			}
		}
		return n
	}
	// The keys come due 20 ms apart, each time enough for a refresh that did not wait to have
	// read the keys queued so far.
	for i, secret := range secrets {
		if _, err := v.Verify(context.Background(), secret); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		if n := refreshed(); n != 0 {
			t.Fatalf("%d keys read again 20 ms after the %d of %d that came due apart, want the refresh to wait for the others", n, i+1, len(entries))
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for n := refreshed(); n != len(entries); n = refreshed() {
		if n > 0 {
			t.Fatalf("%d of the %d keys that came due apart were read again in a batch of their own, want all in one", n, len(entries))
		}
		if time.Now().After(deadline) {
			t.Fatal("the keys in their refresh window were not read again within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// A key read again from the store when its trust in the cache runs out keeps its last use:
// the refresh writes nothing until the use is due again.
func TestRefreshedKeyKeepsItsLastUse(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, target modelstest.Target) {
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		store.SetClock(func() time.Time { return now })
		srv := keyServer(t, store, "")
		key, secret := createTestKey(t, store, "refreshed", nil)
		writes := countWrites(t, target)
		ping(t, srv, secret, "nightly-export/1.0", "192.0.2.10:40000")
		if err := srv.Keys.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		if got := writes.rows(t); got != 2 {
			t.Fatalf("rows written for the first use: %d, want 2", got)
		}
		// The entry's trust runs out before the use is due to be written again.
		now = now.Add(time.Duration(useWriteSeconds(key.ID, false))*time.Second - time.Minute)
		for _, entry := range srv.Keys.cache {
			entry.trustedUntil.Store(now.UnixNano())
		}
		misses := testutil.ToFloat64(srv.Keys.metrics.cacheMisses)
		ping(t, srv, secret, "nightly-export/1.0", "192.0.2.10:40000")
		if testutil.ToFloat64(srv.Keys.metrics.cacheMisses) != misses+1 {
			t.Fatal("the key was not read again from the store")
		}
		if err := srv.Keys.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		if got := writes.rows(t); got != 2 {
			t.Errorf("rows written after the key was read again: %d more, want none", got-2)
		}
	})
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestGatheredUsesAreWrittenOnShutdown(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		addr := freeAddr(t)
		srv := keyServer(t, store, addr)
		key, secret := createTestKey(t, store, "used just before shutdown", nil)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		stopped := make(chan error, 1)
		go func() { stopped <- srv.Start(ctx) }()

		req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v1/ping", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("User-Agent", "deploy-script")
		var res *http.Response
		for attempt := 0; ; attempt++ {
			res, err = http.DefaultClient.Do(req)
			if err == nil {
				break
			}
			if attempt == 200 {
				t.Fatalf("server never answered: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent {
			t.Fatalf("ping: status %d, want %d", res.StatusCode, http.StatusNoContent)
		}
		cancel()
		if err := <-stopped; err != nil {
			t.Fatalf("Start: %v", err)
		}
		stored, err := store.APIKeyByPublicID(context.Background(), key.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.LastUsedAt == nil || stored.LastUsedClient != "deploy-script" {
			t.Fatalf("after shutdown: last used at %v by %q, want the use by %q written", stored.LastUsedAt, stored.LastUsedClient, "deploy-script")
		}
	})
}

// A key holder who sends a new User-Agent on every request gathers no more than
// models.MaxClientsPerKey clients between two flushes; other keys are not held back.
func TestGatheredClientsPerKeyAreBounded(t *testing.T) {
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	v := newTestVerifier(store)
	flooder := cachedEntry(t, v, store, "flooder")
	other := cachedEntry(t, v, store, "other")
	at := time.Now()
	for i := range models.MaxClientsPerKey + 50 {
		v.recordUse(flooder, "192.0.2.1", fmt.Sprintf("made-up/%d", i), at)
	}
	v.recordUse(flooder, "192.0.2.1", "made-up/0", at.Add(time.Second)) // a client already gathered
	v.recordUse(other, "192.0.2.2", "cron/1", at)
	v.usage.mu.Lock()
	gathered := map[int64]int{}
	for k, use := range v.usage.uses {
		gathered[k.keyID]++
		if k.client == "made-up/0" && !use.use.At.Equal(time.Unix(at.Add(time.Second).Unix(), 0)) {
			t.Errorf("a gathered client's later use was not kept: %+v", use.use)
		}
	}
	v.usage.mu.Unlock()
	if gathered[flooder.id] != models.MaxClientsPerKey || gathered[other.id] != 1 {
		t.Fatalf("gathered %v, want %d for the flooding key and 1 for the other", gathered, models.MaxClientsPerKey)
	}
	if err := v.FlushUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	v.recordUse(flooder, "192.0.2.1", "made-up/after-the-flush", at.Add(2*time.Second))
	v.usage.mu.Lock()
	defer v.usage.mu.Unlock()
	if len(v.usage.uses) != 1 {
		t.Fatalf("after a flush, %d uses gathered, want the new client's", len(v.usage.uses))
	}
}

// cachedEntry makes a key and returns its cache entry, as a request presenting it would.
func cachedEntry(t *testing.T, v *KeyVerifier, store *models.Store, name string) *cachedKey {
	t.Helper()
	_, secret := createTestKey(t, store, name, nil)
	entry, _, err := v.verify(context.Background(), secret)
	if err != nil {
		t.Fatal(err)
	}
	return entry
}

// An eviction, as a revocation from another instance brings, also forgets what this instance
// remembered of the key's uses: its entry and its scanner name.
func TestEvictForgetsTheKeysUses(t *testing.T) {
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	v := newTestVerifier(store)
	key, secret := createTestKey(t, store, "evicted", nil)
	cached, _, err := v.verify(context.Background(), secret)
	if err != nil {
		t.Fatal(err)
	}
	v.NoteScanner(key.ID, "pg-scanner")
	v.recordUse(cached, "192.0.2.1", "curl/8.0", time.Now())
	v.Evict(key.SecretHash)
	var sum [32]byte
	decodeHash(&sum, key.SecretHash)
	if _, ok := v.cache[sum]; ok {
		t.Error("the key's cache entry, with its last use, is still held after its eviction")
	}
	if _, ok := v.usage.scanners.Load(key.ID); ok {
		t.Error("the key's scanner name is still remembered after its eviction")
	}
}

// The cache is bounded: full, it makes room for a newly verified key instead of growing.
func TestVerifierCacheIsBounded(t *testing.T) {
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	v := newTestVerifier(store)
	filler := &cachedKey{}
	filler.trustedUntil.Store(time.Now().Add(keyCacheTTL).UnixNano())
	v.size = 10_000
	for i := range v.size {
		var sum [32]byte
		sum[0], sum[1], sum[2] = byte(i), byte(i>>8), byte(i>>16)
		v.cache[sum] = filler
	}
	key, secret := createTestKey(t, store, "newcomer", nil)
	if _, err := v.Verify(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	decodeHash(&sum, key.SecretHash)
	if _, cached := v.cache[sum]; !cached || len(v.cache) != v.size {
		t.Fatalf("cache holds %d keys (newcomer cached: %v), want %d with the newcomer", len(v.cache), cached, v.size)
	}
}

// A cached key is trusted for half of keyCacheTTL at least and keyCacheTTL at most: after
// that the store is asked again.
func TestVerifierCacheEntriesExpire(t *testing.T) {
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	now := time.Now()
	store.SetClock(func() time.Time { return now })
	v := newTestVerifier(store)
	key, secret := createTestKey(t, store, "stale", nil)
	if _, err := v.Verify(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	deleteBehindItsBack(t, store, key)
	now = now.Add(keyCacheTTL/2 - time.Second)
	if _, err := v.Verify(context.Background(), secret); err != nil {
		t.Fatalf("within the cache's shortest lifetime: %v, want the cached key", err)
	}
	now = now.Add(keyCacheTTL/2 + time.Second)
	if _, err := v.Verify(context.Background(), secret); !errors.Is(err, ErrKeyRefused) {
		t.Fatalf("after the cache's longest lifetime: got %v, want ErrKeyRefused from the store", err)
	}
}

// Keys cached at the same moment are asked for again at different moments, spread over the
// second half of keyCacheTTL, so that a crowd of keys met together does not come back to the
// database together.
func TestVerifierCacheEntriesExpireApart(t *testing.T) {
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	now := time.Now()
	store.SetClock(func() time.Time { return now })
	v := newTestVerifier(store)
	const keys = 200
	secrets := make([]string, keys)
	for i := range secrets {
		_, secrets[i] = createTestKey(t, store, fmt.Sprintf("key %d", i), nil)
		if _, err := v.Verify(context.Background(), secrets[i]); err != nil {
			t.Fatal(err)
		}
	}
	// Each quarter of the spread holds some of the keys' ends (the chance that one holds
	// none is below 10^-24).
	var quarters [4]int
	for _, entry := range v.cache {
		span := time.Duration(entry.trustedUntil.Load() - now.UnixNano())
		if span < keyCacheTTL/2 || span > keyCacheTTL {
			t.Fatalf("an entry is trusted for %v, want between %v and %v", span, keyCacheTTL/2, keyCacheTTL)
		}
		quarters[min(3, int((span-keyCacheTTL/2)*8/keyCacheTTL))]++
	}
	for i, n := range quarters {
		if n == 0 {
			t.Errorf("no key's trust ends in quarter %d of the spread: %v", i+1, quarters)
		}
	}
	// Three quarters of the way, the keys whose trust has ended are asked for again, and only
	// those.
	now = now.Add(keyCacheTTL * 3 / 4)
	misses := testutil.ToFloat64(v.metrics.cacheMisses)
	for _, secret := range secrets {
		if _, err := v.Verify(context.Background(), secret); err != nil {
			t.Fatal(err)
		}
	}
	if asked := int(testutil.ToFloat64(v.metrics.cacheMisses) - misses); asked != quarters[0]+quarters[1] {
		t.Errorf("%d keys asked for again, want the %d whose trust had ended", asked, quarters[0]+quarters[1])
	}
}
