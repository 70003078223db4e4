package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"keysmith/models/modelstest"
)

// freeAddr returns a loopback address nothing listens on, for a server the test starts.
func freeAddr(t *testing.T) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	return listener.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines and the test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

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
