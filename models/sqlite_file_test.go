package models_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// withUmask runs the test with the usual umask, 022, under which SQLite makes its files 0644.
func withUmask(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
}

// modes returns the mode of the database file and of its -wal and -shm files.
func modes(t *testing.T, path string) []fs.FileMode {
	t.Helper()
	var got []fs.FileMode
	for _, suffix := range []string{"", "-wal", "-shm"} {
		info, err := os.Stat(path + suffix)
		if err != nil {
			t.Fatalf("the database's files while it is open: %v", err)
		}
		got = append(got, info.Mode().Perm())
	}
	return got
}

// A new SQLite database, its write-ahead log and its shared memory are readable by their owner
// only, whatever the umask, however the database is named; none is reported.
func TestSQLiteFilesArePrivate(t *testing.T) {
	withUmask(t)
	for _, name := range []string{"plain", "sqlite://", "sqlite://?_pragma=cache_size(-2000)", "file:", "file://?cache=private"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keysmith.db")
			url := path
			switch name {
			case "sqlite://":
				url = "sqlite://" + path
			case "sqlite://?_pragma=cache_size(-2000)":
				url = "sqlite://" + path + "?_pragma=cache_size(-2000)"
			case "file:":
				url = "file:" + path
			case "file://?cache=private":
				url = "file://" + path + "?cache=private"
			}
			store := modelstest.Open(t, modelstest.Target{Name: "sqlite", URL: url})
			if _, _, err := store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "nightly export", Scope: models.ScopeReadOnly}); err != nil {
				t.Fatal(err)
			}
			want := []fs.FileMode{0o600, 0o600, 0o600}
			if got := modes(t, path); !slices.Equal(got, want) {
				t.Errorf("database, -wal, -shm: got modes %v, want %v", got, want)
			}
			if got := store.LooseFiles(); len(got) != 0 {
				t.Errorf("loose files: got %v, want none", got)
			}
		})
	}
}

// A database that others can read, left by an earlier version or made by hand, keeps its mode
// and is reported when it is opened, with the side files SQLite gave the same mode.
func TestSQLiteLooseFilesAreReported(t *testing.T) {
	withUmask(t)
	path := filepath.Join(t.TempDir(), "keysmith.db")
	first := modelstest.Open(t, modelstest.Target{Name: "sqlite", URL: path})
	first.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	store := modelstest.Open(t, modelstest.Target{Name: "sqlite", URL: path})
	if _, _, err := store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "nightly export", Scope: models.ScopeReadOnly}); err != nil {
		t.Fatal(err)
	}
	if got, want := modes(t, path), []fs.FileMode{0o644, 0o644, 0o644}; !slices.Equal(got, want) {
		t.Errorf("database, -wal, -shm: got modes %v, want %v, as they were", got, want)
	}
	want := []models.LooseFile{{Path: path, Mode: 0o644}, {Path: path + "-wal", Mode: 0o644}, {Path: path + "-shm", Mode: 0o644}}
	if got := store.LooseFiles(); !slices.Equal(got, want) {
		t.Errorf("loose files: got %v, want %v", got, want)
	}
}

// sqliteFile finds the file behind each form of SQLite name, and none for a database in memory.
func TestSQLiteFile(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"keysmith.db", "keysmith.db"},
		{"/data/keysmith.db", "/data/keysmith.db"},
		{"/data/keysmith.db?_pragma=cache_size(-2000)", "/data/keysmith.db"},
		{"file:keysmith.db", "keysmith.db"},
		{"file:keysmith.db?cache=shared&_pragma=foreign_keys(1)", "keysmith.db"},
		{"file:///data/key%20smith.db", "/data/key smith.db"},
		{"file://localhost/data/keysmith.db", "/data/keysmith.db"},
		{"file://elsewhere/data/keysmith.db", ""},
		{"file:keysmith.db?mode=memory", ""},
		{"file::memory:?cache=shared", ""},
		{":memory:", ""},
		{"", ""},
	} {
		if got := models.SQLiteFile(tc.dsn); got != tc.want {
			t.Errorf("sqliteFile(%q): got %q, want %q", tc.dsn, got, tc.want)
		}
	}
}
