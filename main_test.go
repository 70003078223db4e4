package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

func getenv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestMigrateAndUsersCreate(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			ctx := context.Background()
			vars := map[string]string{"KEYSMITH_DATABASE_URL": target.URL}
			var out, errs bytes.Buffer
			if err := run(ctx, []string{"migrate"}, getenv(vars), nil, &out, &errs); err != nil {
				t.Fatalf("migrate: %v; %s", err, errs.String())
			}
			if !strings.Contains(out.String(), "applied 00001") {
				t.Errorf("migrate printed %q", out.String())
			}
			out.Reset()
			args := []string{"users", "create", "--email", "ops@example.com", "--name", "Ops", "--permission", "connectivity-admin", "--password-stdin"}
			if err := run(ctx, args, getenv(vars), strings.NewReader("a long enough password\n"), &out, &errs); err != nil {
				t.Fatalf("users create: %v", err)
			}
			store := modelstest.Open(t, target)
			user, err := store.SignIn(ctx, models.SignInAttempt{Email: "ops@example.com", Password: "a long enough password", Address: "127.0.0.1"})
			if err != nil || user.Permission != models.PermissionConnectivityAdmin {
				t.Errorf("created user = %+v, %v", user, err)
			}
			for name, bad := range map[string][]string{
				"no password-stdin": {"users", "create", "--email", "x@example.com", "--name", "X", "--permission", "none"},
				"bad permission":    {"users", "create", "--email", "x@example.com", "--name", "X", "--permission", "root", "--password-stdin"},
				"duplicate email":   args,
			} {
				if err := run(ctx, bad, getenv(vars), strings.NewReader("a long enough password\n"), &out, &errs); err == nil {
					t.Errorf("%s: no error", name)
				}
			}
		})
	}
}

func TestBadConfigurationStopsStartUp(t *testing.T) {
	var out, errs bytes.Buffer
	err := run(context.Background(), nil, getenv(map[string]string{"KEYSMITH_MAX_KEY_LIFETIME": "forever"}), nil, &out, &errs)
	if err == nil || !strings.Contains(err.Error(), "KEYSMITH_MAX_KEY_LIFETIME") {
		t.Errorf("error %v, want one naming KEYSMITH_MAX_KEY_LIFETIME", err)
	}
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

func TestServePrintsSetupLinkAndShutsDown(t *testing.T) {
	addr := freeAddr(t)
	vars := map[string]string{"KEYSMITH_ADDR": addr, "KEYSMITH_DATABASE_URL": filepath.Join(t.TempDir(), "k.db")}
	stop, out, errs := serveInProcess(t, vars)
	link := regexp.MustCompile(`http://` + regexp.QuoteMeta(addr) + `/setup\?token=([A-Za-z0-9_-]{43})`).FindStringSubmatch(out.String())
	if link == nil {
		t.Fatalf("no setup link with a 256-bit token in %q", out.String())
	}
	res, err := http.Get(link[0])
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("setup link: %v %v", res, err)
	}
	res.Body.Close()
	stop()
	if strings.Contains(errs.String(), link[1]) {
		t.Error("the setup token is in the log")
	}
	if strings.Contains(errs.String(), "readable by other local users") {
		t.Errorf("a new database reported as readable by others; log:\n%s", errs.String())
	}
}

// serveInProcess runs `keysmith serve` with vars in the test's process until /healthz answers
// on KEYSMITH_ADDR, and returns its output, its log, and stop, which ends it and fails the test
// unless it stops cleanly within 15 seconds.
func serveInProcess(t *testing.T, vars map[string]string) (stop func(), out, errs *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	out, errs = &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, getenv(vars), nil, out, errs) }()
	var healthy bool
	for range 100 {
		if res, err := http.Get("http://" + vars["KEYSMITH_ADDR"] + "/healthz"); err == nil {
			res.Body.Close()
			healthy = res.StatusCode == http.StatusOK
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !healthy {
		t.Fatalf("server did not answer /healthz; log: %s", errs.String())
	}
	return func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v after shutdown", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("serve did not stop after its context ended")
		}
	}, out, errs
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

// serve reports the files of a SQLite database that other local users could read, and the
// command that makes them private.
func TestServeReportsALooseDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keysmith's.db")
	vars := map[string]string{"KEYSMITH_ADDR": freeAddr(t), "KEYSMITH_DATABASE_URL": path, "KEYSMITH_LOG_FORMAT": "json"}
	var out, errs bytes.Buffer
	if err := run(context.Background(), []string{"migrate"}, getenv(vars), nil, &out, &errs); err != nil {
		t.Fatalf("migrate: %v; %s", err, errs.String())
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	stop, _, log := serveInProcess(t, vars)
	stop()
	var warnings []map[string]string
	for _, line := range strings.Split(log.String(), "\n") {
		var entry map[string]string
		if json.Unmarshal([]byte(line), &entry) == nil && strings.HasPrefix(entry["msg"], "database files readable by other local users") {
			warnings = append(warnings, entry)
		}
	}
	quoted := `'` + strings.ReplaceAll(path, "'", `'\''`)
	want := map[string]string{
		"files": fmt.Sprintf("%s (0644), %[1]s-wal (0644), %[1]s-shm (0644)", path),
		"fix":   fmt.Sprintf("chmod 600 %s' %[1]s-wal' %[1]s-shm'", quoted),
	}
	if len(warnings) != 1 || warnings[0]["level"] != "WARN" || warnings[0]["files"] != want["files"] || warnings[0]["fix"] != want["fix"] {
		t.Errorf("warnings: got %q, want one with %q; log:\n%s", warnings, want, log.String())
	}
}
