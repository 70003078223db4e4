package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"keysmith/app/apptest"
	"keysmith/models/modelstest"
)

func TestBadConfigurationStopsStartUp(t *testing.T) {
	var out, errs bytes.Buffer
	err := Run(context.Background(), nil, getenv(map[string]string{"KEYSMITH_MAX_KEY_LIFETIME": "forever"}), nil, &out, &errs)
	if err == nil || !strings.Contains(err.Error(), "KEYSMITH_MAX_KEY_LIFETIME") {
		t.Errorf("error %v, want one naming KEYSMITH_MAX_KEY_LIFETIME", err)
	}
}

func TestServePrintsSetupLinkAndShutsDown(t *testing.T) {
	addr := apptest.FreeAddr(t)
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
func serveInProcess(t *testing.T, vars map[string]string) (stop func(), out, errs *apptest.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	out, errs = &apptest.Buffer{}, &apptest.Buffer{}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, nil, getenv(vars), nil, out, errs) }()
	// Migrating a fresh database may take a while on a busy machine; a serve that returned
	// is not waited for.
	var healthy bool
	for deadline := time.Now().Add(30 * time.Second); !healthy && time.Now().Before(deadline); {
		select {
		case err := <-done:
			t.Fatalf("serve returned %v before it answered /healthz; log: %s", err, errs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if res, err := http.Get("http://" + vars["KEYSMITH_ADDR"] + "/healthz"); err == nil {
			res.Body.Close()
			healthy = res.StatusCode == http.StatusOK
		}
	}
	if !healthy {
		t.Fatalf("server did not answer /healthz within 30 s; log: %s", errs.String())
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

// serve reports the files of a SQLite database that other local users could read, and the
// command that makes them private.
func TestServeReportsALooseDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keysmith's.db")
	vars := map[string]string{"KEYSMITH_ADDR": apptest.FreeAddr(t), "KEYSMITH_DATABASE_URL": path, "KEYSMITH_LOG_FORMAT": "json"}
	var out, errs bytes.Buffer
	if err := Run(context.Background(), []string{"migrate"}, getenv(vars), nil, &out, &errs); err != nil {
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

// TestMetricsListenerIsSeparate starts Keysmith with KEYSMITH_METRICS_ADDR and checks that
// /metrics is served there, counting the application's requests, and not on the application's
// own address, where the public could read it.
func TestMetricsListenerIsSeparate(t *testing.T) {
	addr, metricsAddr := apptest.FreeAddr(t), apptest.FreeAddr(t)
	vars := map[string]string{
		"KEYSMITH_ADDR":         addr,
		"KEYSMITH_METRICS_ADDR": metricsAddr,
		"KEYSMITH_DATABASE_URL": filepath.Join(t.TempDir(), "k.db"),
	}
	// Until the server listens, requests are refused before they reach it, so exactly one
	// /healthz is answered and counted.
	stop, _, _ := serveInProcess(t, vars)

	status, body := get(t, "http://"+metricsAddr+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics on the metrics address: got status %d, want %d", status, http.StatusOK)
	}
	const healthz = `keysmith_http_requests_total{method="GET",route="/healthz",status="200"} 1` + "\n"
	if !strings.Contains(body, healthz) {
		t.Errorf("GET /metrics on the metrics address: got no line %q in:\n%s", healthz, body)
	}
	if status, _ := get(t, "http://"+addr+"/metrics"); status != http.StatusNotFound {
		t.Errorf("GET /metrics on the application's address: got status %d, want %d", status, http.StatusNotFound)
	}

	stop()
	// The metrics listener stops with the server, freeing its address.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		conn, err := net.Dial("tcp", metricsAddr)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the metrics address %s still accepts connections after shutdown", metricsAddr)
		}
	}
}

// TestServeOpensItsDatabaseConnectionsBeforeServing checks that a serving instance has opened
// its whole pool before it answers: its first burst of keys not yet cached then opens no
// connection, which on PostgreSQL is a new server process and, twenty at once on a busy machine,
// outlasted a verification's deadline.
func TestServeOpensItsDatabaseConnectionsBeforeServing(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			metricsAddr := apptest.FreeAddr(t)
			stop, _, _ := serveInProcess(t, map[string]string{
				"KEYSMITH_ADDR":         apptest.FreeAddr(t),
				"KEYSMITH_METRICS_ADDR": metricsAddr,
				"KEYSMITH_DATABASE_URL": target.URL,
			})
			defer stop()
			status, body := get(t, "http://"+metricsAddr+"/metrics")
			if status != http.StatusOK {
				t.Fatalf("GET /metrics: status %d", status)
			}
			sample := func(name string) string {
				prefix := name + `{db_name="` + target.Name + `"} `
				for line := range strings.Lines(body) {
					if value, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
						return value
					}
				}
				t.Fatalf("no %s… in the metrics", prefix)
				return ""
			}
			// Open counts the idle ones and the revocation listener's, which it holds.
			if max, open := sample("go_sql_max_open_connections"), sample("go_sql_open_connections"); open != max || max == "0" {
				t.Errorf("the pool has %s connections open of %s before the first request, want all", open, max)
			}
		})
	}
}

// get fetches url and returns its status and body.
func get(t *testing.T, url string) (status int, body string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res.StatusCode, string(data)
}
