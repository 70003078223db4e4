// Package modelstest opens real, migrated, throw-away stores for tests: a SQLite file in the
// test's temporary directory always, and a fresh PostgreSQL schema when
// KEYSMITH_TEST_DATABASE_URL is set. There are no database mocks.
package modelstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"keysmith/config"
	"keysmith/models"
)

// EnvPostgres names the variable that enables the PostgreSQL runs.
const EnvPostgres = "KEYSMITH_TEST_DATABASE_URL"

// Target is one database a test runs against.
type Target struct {
	Name string
	// URL opens the target's database again, for tests that need a second connection or a
	// second server on the same data.
	URL string
}

// Targets lists the databases store tests must pass on: SQLite always, PostgreSQL when
// KEYSMITH_TEST_DATABASE_URL is set. Each call makes fresh, empty databases.
func Targets(t testing.TB) []Target {
	t.Helper()
	targets := []Target{{Name: "sqlite", URL: filepath.Join(t.TempDir(), "keysmith.db")}}
	if base := os.Getenv(EnvPostgres); base != "" {
		targets = append(targets, Target{Name: "postgres", URL: freshSchema(t, base)})
	}
	return targets
}

// Postgres returns a fresh PostgreSQL target for a test that needs PostgreSQL itself (several
// instances, LISTEN/NOTIFY, a proxy in front of it), and skips the test, saying why, without
// KEYSMITH_TEST_DATABASE_URL.
func Postgres(t testing.TB, why string) Target {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		t.Skipf("set %s to run %s on PostgreSQL", EnvPostgres, why)
	}
	return Target{Name: "postgres", URL: freshSchema(t, base)}
}

// Open opens and migrates the target's database and closes it when the test ends. As
// `keysmith` does, it links the audit events of an SQLite database with the key kept beside
// it, made if missing, so that the store and the commands a test runs on the same file link
// them with one key; a PostgreSQL database is unkeyed, as without KEYSMITH_AUDIT_KEY.
func Open(t testing.TB, target Target) *models.Store {
	t.Helper()
	store := OpenUnkeyed(t, target)
	if path := models.SQLiteAuditKeyFile(target.URL); path != "" {
		key, err := config.ReadAuditKeyFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			key, err = config.CreateAuditKeyFile(path)
		}
		if err == nil {
			err = store.UseAuditKey(key)
		}
		if err != nil {
			t.Fatalf("the audit key of %s: %v", target.Name, err)
		}
	}
	return store
}

// OpenUnkeyed opens and migrates the target's database, as Open does, but links the audit
// events with SHA-256 whatever the database, for the tests of the chain without a key.
func OpenUnkeyed(t testing.TB, target Target) *models.Store {
	t.Helper()
	store, err := models.Open(context.Background(), target.URL)
	if err != nil {
		t.Fatalf("open %s: %v", target.Name, err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate %s: %v", target.Name, err)
	}
	return store
}

// Each runs fn once per target in a subtest named after the database.
func Each(t *testing.T, fn func(t *testing.T, store *models.Store, target Target)) {
	t.Helper()
	for _, target := range Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			fn(t, Open(t, target), target)
		})
	}
}

// freshSchema creates a schema of its own for the test in the PostgreSQL database at base and
// returns a URL whose search_path points at it; the schema is dropped when the test ends.
func freshSchema(t testing.TB, base string) string {
	t.Helper()
	raw := make([]byte, 6)
	rand.Read(raw)
	schema := "keysmith_test_" + hex.EncodeToString(raw)
	admin, err := models.Open(context.Background(), base)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvPostgres, err)
	}
	if err := admin.Exec(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvPostgres, err)
	}
	query := u.Query()
	query.Set("search_path", schema)
	u.RawQuery = query.Encode()
	return u.String()
}

// UseFastPasswords makes every password hash of the test binary cost a fraction of a
// millisecond (64 KiB, one pass) instead of tens, so that the suite, and its run under the
// race detector, stays fast. TestMain calls it in each package whose tests create users or
// sign in; the tests of the hashing itself name their parameters.
func UseFastPasswords() {
	models.SetPasswordParams(models.PasswordParams{Memory: 64, Time: 1, Threads: 1})
}

// CreateKey creates a read-only key named name that expires at expiresAt (nil for never), and
// returns it with its secret.
func CreateKey(t testing.TB, store *models.Store, name string, expiresAt *time.Time) (*models.APIKey, string) {
	t.Helper()
	key, secret, err := store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: name, Scope: models.ScopeReadOnly, ExpiresAt: expiresAt})
	if err != nil {
		t.Fatal(err)
	}
	return key, secret
}
