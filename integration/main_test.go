// Package integration tests the whole Keysmith server over HTTP: each test starts the
// application as `keysmith serve` builds it, every middleware and route, on SQLite and on
// PostgreSQL, and drives it as a browser, a script or a scanner would: the console's pages and
// forms, the JSON API, several instances on one database, a database that fails. A unit's own
// tests stay beside it; these are the ones that need the server whole.
package integration

import (
	"os"
	"testing"

	"keysmith/models/modelstest"
)

func TestMain(m *testing.M) {
	modelstest.UseFastPasswords()
	os.Exit(m.Run())
}
