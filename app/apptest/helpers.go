package apptest

import (
	"net"
	"strings"
	"sync"
	"testing"
)

// FreeAddr returns a loopback address nothing listens on, for a server or a proxy the test
// starts.
func FreeAddr(t *testing.T) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	return listener.Addr().String()
}

// Buffer collects what a server's goroutines, or a child process's pipes, write, safe for them
// and the test to share.
type Buffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// VersionFields reads the lines of `keysmith version`, each a name and a value.
func VersionFields(out string) map[string]string {
	fields := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, value, _ := strings.Cut(line, " ")
		fields[name] = value
	}
	return fields
}
