package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// metricsScrape is one answer of the metrics handler: its text and the families parsed
// from it.
type metricsScrape struct {
	text     string
	families map[string]*dto.MetricFamily
}

// scrapeMetrics fetches url and parses Prometheus's text exposition format.
func scrapeMetrics(t *testing.T, url string) metricsScrape {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: got status %d, want %d; body %q", res.StatusCode, http.StatusOK, body)
	}
	if got := res.Header.Get("Content-Type"); !strings.HasPrefix(got, "text/plain") {
		t.Fatalf("GET /metrics: got Content-Type %q, want text/plain", got)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse the scrape: %v\n%s", err, body)
	}
	return metricsScrape{text: string(body), families: families}
}

// series finds the series of family name whose labels are exactly labels.
func (s metricsScrape) series(name string, labels map[string]string) (*dto.MetricFamily, *dto.Metric) {
	family := s.families[name]
	if family == nil {
		return nil, nil
	}
	for _, metric := range family.GetMetric() {
		got := map[string]string{}
		for _, pair := range metric.GetLabel() {
			got[pair.GetName()] = pair.GetValue()
		}
		if maps.Equal(got, labels) {
			return family, metric
		}
	}
	return family, nil
}

// value is the series' value: a counter's or gauge's value, a histogram's count of
// observations. ok is false when there is no such series.
func (s metricsScrape) value(name string, labels map[string]string) (value float64, ok bool) {
	family, metric := s.series(name, labels)
	if metric == nil {
		return 0, false
	}
	switch family.GetType() {
	case dto.MetricType_COUNTER:
		return metric.GetCounter().GetValue(), true
	case dto.MetricType_GAUGE:
		return metric.GetGauge().GetValue(), true
	case dto.MetricType_HISTOGRAM:
		return float64(metric.GetHistogram().GetSampleCount()), true
	default:
		return metric.GetUntyped().GetValue(), true
	}
}

// labelValues lists the values label takes across family name's series.
func (s metricsScrape) labelValues(name, label string) []string {
	var values []string
	for _, metric := range s.families[name].GetMetric() {
		for _, pair := range metric.GetLabel() {
			if pair.GetName() == label && !slices.Contains(values, pair.GetValue()) {
				values = append(values, pair.GetValue())
			}
		}
	}
	slices.Sort(values)
	return values
}

// lines returns the scrape's lines that contain substr, for failure messages.
func (s metricsScrape) lines(substr string) string {
	var found []string
	for line := range strings.Lines(s.text) {
		if strings.Contains(line, substr) {
			found = append(found, line)
		}
	}
	return strings.Join(found, "")
}

// wantSeries is the value a series must have after a known sequence of requests.
type wantSeries struct {
	name   string
	labels map[string]string
	value  float64
}

func (s metricsScrape) check(t *testing.T, wants []wantSeries) {
	t.Helper()
	for _, want := range wants {
		got, ok := s.value(want.name, want.labels)
		if !ok {
			t.Errorf("%s: no such series; the scrape has:\n%s", seriesName(want.name, want.labels), s.lines(want.name))
			continue
		}
		if got != want.value {
			t.Errorf("%s: got %v, want %v", seriesName(want.name, want.labels), got, want.value)
		}
	}
}

// checkType fails the test unless family name exists with the given type.
func (s metricsScrape) checkType(t *testing.T, name string, want dto.MetricType) {
	t.Helper()
	family := s.families[name]
	if family == nil {
		t.Errorf("%s: no such metric in the scrape", name)
		return
	}
	if family.GetType() != want {
		t.Errorf("%s: got type %v, want %v", name, family.GetType(), want)
	}
	if family.GetHelp() == "" {
		t.Errorf("%s: got no help text, want one", name)
	}
}

// seriesName writes a series as the exposition format does, labels sorted: name{a="x",b="y"}.
func seriesName(name string, labels map[string]string) string {
	if len(labels) == 0 {
		return name
	}
	pairs := make([]string, 0, len(labels))
	for _, label := range slices.Sorted(maps.Keys(labels)) {
		pairs = append(pairs, fmt.Sprintf("%s=%q", label, labels[label]))
	}
	return name + "{" + strings.Join(pairs, ",") + "}"
}

func resultLabel(r string) map[string]string { return map[string]string{"result": r} }

func requestLabels(route, method, status string) map[string]string {
	return map[string]string{"route": route, "method": method, "status": status}
}

// unknownPath and madeUpMethod are sent once each, so the test can check that neither becomes
// a label value: any client can send them, and a label per value grows the scrape without bound.
const (
	unknownPath  = "/no/such/page-7f3a"
	madeUpMethod = "BREWCOFFEE"
)

// TestMetricsCountAKnownSequence makes a known sequence of key verifications, sign-ins and
// requests, then reads /metrics as Prometheus would and checks every counter's value.
func TestMetricsCountAKnownSequence(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			ctx := context.Background()
			app := apptest.New(t, target)
			metrics := httptest.NewServer(app.Server.Metrics.Handler())
			t.Cleanup(metrics.Close)
			app.CreateUser(t, "ada@example.com", models.PermissionConnectivityAdmin)
			_, valid := createKey(t, app.Store, "dashboard") // read-only
			past := time.Now().Add(-time.Second)
			expiredKey, expired, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "expired", Scope: models.ScopeReadOnly, ExpiresAt: &past})
			if err != nil {
				t.Fatal(err)
			}

			const validUses = 3 // the first asks the database, the others are cache hits
			// Refused by the index of secret hashes, without the database.
			const unknownUses = 2
			unknown := models.GenerateSecret()
			requests := []struct {
				name         string
				method, path string
				headers      map[string]string
				times        int
				status       int
			}{
				{"valid key", http.MethodGet, "/api/v1/auth/verify", map[string]string{"X-API-SECRET": valid}, validUses, http.StatusOK},
				{"malformed key", http.MethodGet, "/api/v1/auth/verify", map[string]string{"X-API-SECRET": "not-a-key"}, 1, http.StatusUnauthorized},
				{"no key", http.MethodGet, "/api/v1/auth/verify", nil, 1, http.StatusUnauthorized},
				{"unknown key", http.MethodGet, "/api/v1/auth/verify", map[string]string{"Authorization": "Bearer " + unknown}, unknownUses, http.StatusUnauthorized},
				{"expired key", http.MethodGet, "/api/v1/auth/verify", map[string]string{"X-API-SECRET": expired}, 1, http.StatusUnauthorized},
				{"read-only key on an admin route", http.MethodGet, "/api/v1/users", map[string]string{"X-API-SECRET": valid}, 1, http.StatusForbidden},
				{"unknown path", http.MethodGet, unknownPath, nil, 1, http.StatusNotFound},
				{"made-up method", madeUpMethod, "/healthz", nil, 1, http.StatusMethodNotAllowed},
			}
			for _, r := range requests {
				for range r.times {
					if res := app.Client(t).Do(r.method, r.path, nil, r.headers); res.StatusCode != r.status {
						t.Fatalf("%s: got status %d, want %d; body %s", r.name, res.StatusCode, r.status, res.Body)
					}
				}
			}

			admin := app.Client(t)
			admin.Login("ada@example.com") // GET /login, then a successful POST /login
			guesser := app.Client(t)
			guesser.Get("/login")
			wrong := url.Values{"email": {"ada@example.com"}, "password": {"not the password"}}
			for range 5 { // the throttle allows an account five failures
				if res := guesser.Post("/login", wrong); res.StatusCode != http.StatusUnauthorized {
					t.Fatalf("wrong password: got status %d, want %d", res.StatusCode, http.StatusUnauthorized)
				}
			}
			if res := guesser.Post("/login", wrong); res.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("sixth wrong password: got status %d, want %d", res.StatusCode, http.StatusTooManyRequests)
			}

			before := scrapeMetrics(t, metrics.URL)
			before.check(t, []wantSeries{
				{"keysmith_key_verifications_total", resultLabel("ok"), validUses},
				{"keysmith_key_verifications_total", resultLabel("malformed"), 2},
				{"keysmith_key_verifications_total", resultLabel("unknown"), unknownUses},
				{"keysmith_key_verifications_total", resultLabel("expired"), 1},
				{"keysmith_key_verifications_total", resultLabel("wrong_scope"), 1},
				{"keysmith_key_verifications_total", resultLabel("stale"), 0},
				{"keysmith_key_verifications_total", resultLabel("unavailable"), 0},
				{"keysmith_key_verifications_total", resultLabel("error"), 0},
				// Misses: the valid key's first use, the expired key. Hits: the valid key's other
				// uses and its use on the admin route. The unknown key is refused by the index
				// at each use, and never reaches the memory of unknown keys.
				{"keysmith_key_cache_misses_total", nil, 2},
				{"keysmith_key_cache_hits_total", nil, validUses},
				{"keysmith_key_index_refusals_total", nil, unknownUses},
				{"keysmith_key_index_complete", nil, 1},
				{"keysmith_key_negative_cache_hits_total", nil, 0},
				{"keysmith_key_negative_cache_entries", nil, 0},
				// The valid key and the expired one, which is refused at each use from the cache.
				{"keysmith_key_cache_entries", nil, 2},
				{"keysmith_revocation_listener_up", nil, 1},
				{"keysmith_key_uses_dropped_total", nil, 0},
				{"keysmith_sign_ins_total", resultLabel("success"), 1},
				{"keysmith_sign_ins_total", resultLabel("failure"), 5},
				{"keysmith_sign_ins_total", resultLabel("throttled"), 1},
				{"keysmith_sign_ins_total", resultLabel("busy"), 0},
				{"keysmith_sign_ins_total", resultLabel("unavailable"), 0},
				// The successful sign-in and the five wrong passwords; the refused one made none.
				{"keysmith_password_hashes_total", nil, 6},
				{"keysmith_password_hashes_running", nil, 0},
				{"keysmith_password_hashes_waiting", nil, 0},
				// No webhook URL: nothing queued, nothing sent.
				{"keysmith_webhook_deliveries_total", resultLabel("delivered"), 0},
				{"keysmith_webhook_deliveries_total", resultLabel("failed"), 0},
				{"keysmith_webhook_deliveries_total", resultLabel("given_up"), 0},
				{"keysmith_webhook_events_pending", nil, 0},
				{"keysmith_http_requests_total", requestLabels("/api/v1/auth/verify", "GET", "200"), validUses},
				{"keysmith_http_requests_total", requestLabels("/api/v1/auth/verify", "GET", "401"), 3 + unknownUses},
				{"keysmith_http_requests_total", requestLabels("/api/v1/users", "GET", "403"), 1},
				{"keysmith_http_requests_total", requestLabels("unmatched", "GET", "404"), 1},
				{"keysmith_http_requests_total", requestLabels("/login", "GET", "200"), 2},
				{"keysmith_http_requests_total", requestLabels("/login", "POST", "303"), 1},
				{"keysmith_http_requests_total", requestLabels("/login", "POST", "401"), 5},
				{"keysmith_http_requests_total", requestLabels("/login", "POST", "429"), 1},
				{"keysmith_http_request_duration_seconds", map[string]string{"route": "/api/v1/auth/verify", "method": "GET"}, validUses + 3 + unknownUses},
				{"keysmith_http_request_duration_seconds", map[string]string{"route": "/login", "method": "POST"}, 7},
				{"go_sql_max_open_connections", map[string]string{"db_name": target.Name}, float64(app.Store.Pool().Stats().MaxOpenConnections)},
			})
			// PostgreSQL delivers a channel's announcements to every listener in the database,
			// whatever its schema, so other tests' deletions reach this instance too.
			revocationsBefore, ok := before.value("keysmith_revocations_received_total", nil)
			if !ok || target.Name != "postgres" && revocationsBefore != 0 {
				t.Errorf("keysmith_revocations_received_total: got %v (present %t), want 0", revocationsBefore, ok)
			}
			if got := len(before.families["keysmith_http_requests_total"].GetMetric()); got != 9 {
				t.Errorf("keysmith_http_requests_total: got %d series, want 9:\n%s", got, before.lines("keysmith_http_requests_total{"))
			}

			// Route labels are route patterns, or one value for every path no route matches;
			// method labels are the methods HTTP defines, or one value for all others.
			patterns := []string{"unmatched"}
			for _, r := range app.Server.Echo.Routes() {
				patterns = append(patterns, r.Path)
			}
			for _, name := range []string{"keysmith_http_requests_total", "keysmith_http_request_duration_seconds"} {
				for _, got := range before.labelValues(name, "route") {
					if !slices.Contains(patterns, got) {
						t.Errorf("%s: got route label %q, want a route pattern or %q", name, got, "unmatched")
					}
				}
			}
			for _, raw := range []string{unknownPath, madeUpMethod} {
				if strings.Contains(before.text, raw) {
					t.Errorf("the scrape names %q, which a client chose:\n%s", raw, before.lines(raw))
				}
			}

			for name, typ := range map[string]dto.MetricType{
				"keysmith_http_requests_total":           dto.MetricType_COUNTER,
				"keysmith_http_request_duration_seconds": dto.MetricType_HISTOGRAM,
				"keysmith_key_verifications_total":       dto.MetricType_COUNTER,
				"keysmith_key_cache_entries":             dto.MetricType_GAUGE,
				"keysmith_key_cache_hits_total":          dto.MetricType_COUNTER,
				"keysmith_key_cache_misses_total":        dto.MetricType_COUNTER,
				"keysmith_key_negative_cache_hits_total": dto.MetricType_COUNTER,
				"keysmith_key_negative_cache_entries":    dto.MetricType_GAUGE,
				"keysmith_key_index_refusals_total":      dto.MetricType_COUNTER,
				"keysmith_key_index_entries":             dto.MetricType_GAUGE,
				"keysmith_key_index_complete":            dto.MetricType_GAUGE,
				"keysmith_database_statements_total":     dto.MetricType_COUNTER,
				"keysmith_revocation_listener_up":        dto.MetricType_GAUGE,
				"keysmith_revocations_received_total":    dto.MetricType_COUNTER,
				"keysmith_key_uses_pending":              dto.MetricType_GAUGE,
				"keysmith_key_uses_written_total":        dto.MetricType_COUNTER,
				"keysmith_key_uses_dropped_total":        dto.MetricType_COUNTER,
				"keysmith_key_requests_uncounted_total":  dto.MetricType_COUNTER,
				"keysmith_sign_ins_total":                dto.MetricType_COUNTER,
				"keysmith_password_hashes_total":         dto.MetricType_COUNTER,
				"keysmith_password_hashes_running":       dto.MetricType_GAUGE,
				"keysmith_password_hashes_waiting":       dto.MetricType_GAUGE,
				"keysmith_webhook_deliveries_total":      dto.MetricType_COUNTER,
				"keysmith_webhook_events_pending":        dto.MetricType_GAUGE,
				"keysmith_audit_chain_breaks_total":      dto.MetricType_COUNTER,
				"keysmith_audit_chain_verified_position": dto.MetricType_GAUGE,
				"keysmith_audit_feed_held_back_seconds":  dto.MetricType_GAUGE,
				"go_goroutines":                          dto.MetricType_GAUGE,
				"go_memstats_heap_alloc_bytes":           dto.MetricType_GAUGE,
				"go_sql_open_connections":                dto.MetricType_GAUGE,
				"go_sql_in_use_connections":              dto.MetricType_GAUGE,
				"go_sql_idle_connections":                dto.MetricType_GAUGE,
				"go_sql_wait_count_total":                dto.MetricType_COUNTER,
				"go_sql_wait_duration_seconds_total":     dto.MetricType_COUNTER,
			} {
				before.checkType(t, name, typ)
			}
			if runtime.GOOS == "linux" {
				for _, name := range []string{"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds"} {
					if before.families[name] == nil {
						t.Errorf("%s: no such metric in the scrape", name)
					}
				}
			}

			t.Run("promtool check metrics", func(t *testing.T) {
				promtool, err := exec.LookPath("promtool")
				if err != nil {
					t.Skip("promtool is not installed: apt-get install prometheus (CI installs it)")
				}
				cmd := exec.Command(promtool, "check", "metrics")
				cmd.Stdin = strings.NewReader(before.text)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("promtool check metrics: %v\n%s", err, out)
				}
			})

			// One key, one client, one address: one use to write. The server's own writer may
			// be writing it already, so it is waited for below.
			if err := app.Keys.FlushUsage(ctx); err != nil {
				t.Fatal(err)
			}
			// Deleting a key announces it on PostgreSQL, and the revocation listener evicts it
			// and counts it; SQLite serves a single instance, where the store tells the
			// verifier directly.
			if _, err := app.Store.DeleteAPIKey(ctx, expiredKey.PublicID); err != nil {
				t.Fatal(err)
			}
			var after metricsScrape
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				after = scrapeMetrics(t, metrics.URL)
				entries, _ := after.value("keysmith_key_cache_entries", nil)
				written, _ := after.value("keysmith_key_uses_written_total", nil)
				revocations, _ := after.value("keysmith_revocations_received_total", nil)
				announced := target.Name != "postgres" || revocations > revocationsBefore
				if entries == 1 && written == 1 && announced || time.Now().After(deadline) {
					break
				}
			}
			after.check(t, []wantSeries{
				{"keysmith_key_uses_pending", nil, 0},
				{"keysmith_key_uses_written_total", nil, 1},
				{"keysmith_key_uses_dropped_total", nil, 0},
				{"keysmith_key_cache_entries", nil, 1},
				{"keysmith_revocation_listener_up", nil, 1},
				{"keysmith_key_verifications_total", resultLabel("ok"), validUses},
			})
			revocations, _ := after.value("keysmith_revocations_received_total", nil)
			if target.Name == "postgres" && revocations < revocationsBefore+1 {
				t.Errorf("keysmith_revocations_received_total: got %v, want at least %v", revocations, revocationsBefore+1)
			}
			if target.Name != "postgres" && revocations != 0 {
				t.Errorf("keysmith_revocations_received_total: got %v, want 0 (SQLite has no listener)", revocations)
			}
		})
	}
}
