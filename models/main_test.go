package models_test

import (
	"os"
	"runtime"
	"testing"

	"keysmith/models/modelstest"
)

// allocatedAtStart is what the test binary had allocated before its first test: loading the
// packages, and nothing else.
var allocatedAtStart uint64

func TestMain(m *testing.M) {
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	allocatedAtStart = stats.TotalAlloc
	modelstest.UseFastPasswords()
	os.Exit(m.Run())
}
