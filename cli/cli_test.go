package cli

import (
	"net"
	"os"
	"testing"

	"keysmith/models/modelstest"
)

// TestMain makes password hashes cheap, as in every test binary.
func TestMain(m *testing.M) {
	modelstest.UseFastPasswords()
	os.Exit(m.Run())
}

func getenv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

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
