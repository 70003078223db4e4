package main

import (
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"keysmith/models/modelstest"
)

// TestMetricsListenerIsSeparate starts Keysmith with KEYSMITH_METRICS_ADDR and checks that
// /metrics is served there, counting the application's requests, and not on the application's
// own address, where the public could read it.
func TestMetricsListenerIsSeparate(t *testing.T) {
	addr, metricsAddr := freeAddr(t), freeAddr(t)
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
			metricsAddr := freeAddr(t)
			stop, _, _ := serveInProcess(t, map[string]string{
				"KEYSMITH_ADDR":         freeAddr(t),
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
