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
