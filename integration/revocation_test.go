package integration

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// revocationBound is the target: a deleted key is refused by every instance within it.
const revocationBound = time.Second

// twoInstances starts two Keysmith servers, each with its own store, on one fresh PostgreSQL
// schema, as two instances behind a load balancer would run. It skips without PostgreSQL.
func twoInstances(t *testing.T) (first, second *apptest.App, target modelstest.Target) {
	t.Helper()
	target = modelstest.Postgres(t, "the multi-instance revocation tests")
	first = apptest.New(t, target)
	second = apptest.NewOnStore(t, modelstest.Open(t, target))
	return first, second, target
}

// waitForStatus polls app until secret gets want, and fails the test after within.
func waitForStatus(t *testing.T, app *apptest.App, secret string, want int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := app.VerifyStatus(t, secret)
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("after %v: status %d, want %d", time.Since(start), got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// awaitHeard waits until app would look each secret up rather than refuse it from its index of
// secret hashes: a key made through another store, as another instance would make it, reaches
// the index with its notice, within milliseconds and within revocationBound at most.
func awaitHeard(t *testing.T, app *apptest.App, secrets ...string) {
	t.Helper()
	deadline := time.Now().Add(revocationBound)
	for _, secret := range secrets {
		for !app.Keys.Indexes(secret) {
			if time.Now().After(deadline) {
				t.Fatalf("a key made elsewhere: not heard of within %v", revocationBound)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

func createKey(t *testing.T, store *models.Store, name string) (*models.APIKey, string) {
	t.Helper()
	key, secret, err := store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: name, Scope: models.ScopeReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	return key, secret
}

func TestDeletedKeyIsRefusedByEveryInstanceWithinOneSecond(t *testing.T) {
	first, second, _ := twoInstances(t)
	first.CreateUser(t, "ada@example.com", models.PermissionConnectivityAdmin)
	key, secret := createKey(t, first.Store, "nightly export")
	awaitHeard(t, second, secret)
	for _, app := range []*apptest.App{first, second, second} {
		if got := app.VerifyStatus(t, secret); got != http.StatusOK {
			t.Fatalf("before delete: status %d, want %d", got, http.StatusOK)
		}
	}

	admin := first.Client(t)
	admin.Login("ada@example.com")
	admin.Get("/admin/api-keys/" + key.PublicID + "/delete")
	res := admin.Post("/admin/api-keys/"+key.PublicID+"/delete", url.Values{"confirm_name": {key.Name}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete through the console: status %d, want %d; body: %s", res.StatusCode, http.StatusSeeOther, res.Body)
	}
	if got := first.VerifyStatus(t, secret); got != http.StatusUnauthorized {
		t.Errorf("first instance after delete: status %d, want %d", got, http.StatusUnauthorized)
	}
	took := waitForStatus(t, second, secret, http.StatusUnauthorized, revocationBound)
	t.Logf("second instance refused the deleted key after %v", took)
}

// terminateListeners kills every revocation listener connection in the database, as a
// network failure or a database restart would, and returns how many it killed.
func terminateListeners(t *testing.T, target modelstest.Target) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, target.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var killed int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM (
		SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'keysmith revocation listener' AND datname = current_database()) AS terminated`).Scan(&killed)
	if err != nil {
		t.Fatal(err)
	}
	return killed
}

// silentlyDelete removes a key row behind Keysmith's back, with no announcement, as a stale
// cache would see it.
func silentlyDelete(t *testing.T, app *apptest.App, keyID int64) {
	t.Helper()
	if err := app.Store.Exec(context.Background(), "DELETE FROM api_keys WHERE id = ?", keyID); err != nil {
		t.Fatal(err)
	}
}

// waitForTrustedCache waits until second trusts its key cache again: a freshly cached key
// outlives a delete behind its back. It fails the test after within.
func waitForTrustedCache(t *testing.T, first, second *apptest.App, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for attempt := 0; ; attempt++ {
		probe, probeSecret := createKey(t, first.Store, "probe "+time.Now().Format(time.RFC3339Nano))
		awaitHeard(t, second, probeSecret)
		second.VerifyStatus(t, probeSecret)
		silentlyDelete(t, first, probe.ID)
		if second.VerifyStatus(t, probeSecret) == http.StatusOK {
			t.Logf("cache trusted again after %d probes", attempt+1)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the key cache was not trusted again within %v", within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRevocationListenerDropsCacheWhileDisconnectedAndReconnects(t *testing.T) {
	first, second, target := twoInstances(t)
	ctx := context.Background()

	// A key cached on the second instance, then removed from the database behind its back
	// (no announcement): while the listener vouches for the cache, the key is still served
	// from it; that is what losing the listener must stop.
	stale, staleSecret := createKey(t, first.Store, "cached on second")
	awaitHeard(t, second, staleSecret)
	if got := second.VerifyStatus(t, staleSecret); got != http.StatusOK {
		t.Fatalf("before: status %d, want %d", got, http.StatusOK)
	}
	silentlyDelete(t, first, stale.ID)
	if got := second.VerifyStatus(t, staleSecret); got != http.StatusOK {
		t.Fatalf("key deleted without announcement while listening: status %d, want %d (served from the cache)", got, http.StatusOK)
	}

	if killed := terminateListeners(t, target); killed < 2 {
		t.Fatalf("terminated %d listener connections, want at least 2", killed)
	}
	waitForStatus(t, second, staleSecret, http.StatusUnauthorized, 5*time.Second)

	// The listener comes back by itself.
	waitForTrustedCache(t, first, second, 10*time.Second)

	key, secret := createKey(t, first.Store, "after reconnect")
	awaitHeard(t, second, secret)
	if got := second.VerifyStatus(t, secret); got != http.StatusOK {
		t.Fatalf("after reconnect: status %d, want %d", got, http.StatusOK)
	}
	if _, err := first.Store.DeleteAPIKey(ctx, key.PublicID); err != nil {
		t.Fatal(err)
	}
	waitForStatus(t, second, secret, http.StatusUnauthorized, revocationBound)
}

// stopListenerBackends freezes the PostgreSQL backends of every revocation listener in the
// database (freezeBackends), and thaws them when the test ends. The thaw it returns lets them
// go on earlier.
func stopListenerBackends(t *testing.T, target modelstest.Target) (thaw func()) {
	t.Helper()
	pids := listenerBackends(t, target)
	if len(pids) < 2 {
		t.Fatalf("found %d listener backends, want at least 2", len(pids))
	}
	return freezeBackends(t, target, pids)
}

// The listener's connection can hang without failing: then no announcement arrives, and the
// cache must stop answering before a deleted key outlives the target.
func TestDeletedKeyIsRefusedWithinOneSecondWhileTheListenerHangs(t *testing.T) {
	first, second, target := twoInstances(t)
	key, secret := createKey(t, first.Store, "cached before the hang")
	awaitHeard(t, second, secret)
	if got := second.VerifyStatus(t, secret); got != http.StatusOK {
		t.Fatalf("before: status %d, want %d", got, http.StatusOK)
	}

	thaw := stopListenerBackends(t, target)
	deletedAt := time.Now()
	if _, err := first.Store.DeleteAPIKey(context.Background(), key.PublicID); err != nil {
		t.Fatal(err)
	}
	// The lease ran from a ping sent before the hang, so the key is refused within
	// revocationBound of its deletion; the slack covers the last poll's round trip.
	waitForStatus(t, second, secret, http.StatusUnauthorized, revocationBound+50*time.Millisecond)
	t.Logf("second instance refused the deleted key %v after its deletion, with its listener hung", time.Since(deletedAt))

	// Once the connection answers again, the cache is trusted again.
	thaw()
	waitForTrustedCache(t, first, second, 10*time.Second)
}

// On SQLite another process sharing the database file (`keysmith keys disable`, a script)
// announces nothing the server can hear; the server still refuses a key that process disables
// or deletes within the bound, from the revocations the database records.
func TestSQLiteServerHearsRevocationsFromAnotherProcess(t *testing.T) {
	target := modelstest.Targets(t)[0]
	app := apptest.New(t, target)
	other := modelstest.Open(t, target)
	ctx := context.Background()
	disabled, disabledSecret := createKey(t, other, "disabled elsewhere")
	deleted, deletedSecret := createKey(t, other, "deleted elsewhere")
	// Heard of through the server's poll of recorded key changes.
	awaitHeard(t, app, disabledSecret, deletedSecret)
	for _, secret := range []string{disabledSecret, deletedSecret} {
		if got := app.VerifyStatus(t, secret); got != http.StatusOK {
			t.Fatalf("before: status %d, want %d", got, http.StatusOK)
		}
	}
	if _, _, err := other.DisableAPIKey(ctx, disabled.PublicID); err != nil {
		t.Fatal(err)
	}
	if _, err := other.DeleteAPIKey(ctx, deleted.PublicID); err != nil {
		t.Fatal(err)
	}
	t.Logf("disabled elsewhere: refused after %v", waitForStatus(t, app, disabledSecret, http.StatusUnauthorized, revocationBound))
	t.Logf("deleted elsewhere: refused after %v", waitForStatus(t, app, deletedSecret, http.StatusUnauthorized, revocationBound))
}
