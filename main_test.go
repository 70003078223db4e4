package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"keysmith/models/modelstest"
)

// The process exits 1, with the message on standard error, for an unknown key id.
func TestKeysDisableUnknownIDExitsNonZero(t *testing.T) {
	target := modelstest.Targets(t)[0]
	modelstest.Open(t, target)
	cmd := exec.Command(os.Args[0], "keys", "disable", "ak_doesnotexist0000")
	cmd.Env = append(os.Environ(), envRunMain+"=1", "KEYSMITH_DATABASE_URL="+target.URL)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: got %v, want exit status 1", err)
	}
	if got := stderr.String(); !strings.Contains(got, `keys disable: no API key has the id "ak_doesnotexist0000"`) {
		t.Errorf("standard error: got %q, want it to name the unknown id", got)
	}
}
