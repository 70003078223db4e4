package main

import (
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMetricsListenerIsSeparate starts Keysmith with KEYSMITH_METRICS_ADDR and checks that
// /metrics is served there, counting the application's requests, and not on the application's
// own address, where the public could read it.
func TestMetricsListenerIsSeparate(t *testing.T) {
	addrs := make([]string, 2)
	for i := range addrs {
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = listener.Addr().String()
		listener.Close()
	}
	addr, metricsAddr := addrs[0], addrs[1]
	vars := map[string]string{
		"KEYSMITH_ADDR":         addr,
		"KEYSMITH_METRICS_ADDR": metricsAddr,
		"KEYSMITH_DATABASE_URL": filepath.Join(t.TempDir(), "k.db"),
	}
	// Until the server listens, requests are refused before they reach it, so exactly one
	// /healthz is answered and counted.
	stop, _, _ := serveInProcess(t, vars)

	get := func(url string) (status int, body string) {
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
	status, body := get("http://" + metricsAddr + "/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics on the metrics address: got status %d, want %d", status, http.StatusOK)
	}
	const healthz = `keysmith_http_requests_total{method="GET",route="/healthz",status="200"} 1` + "\n"
	if !strings.Contains(body, healthz) {
		t.Errorf("GET /metrics on the metrics address: got no line %q in:\n%s", healthz, body)
	}
	if status, _ := get("http://" + addr + "/metrics"); status != http.StatusNotFound {
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
