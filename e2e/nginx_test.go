package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"keysmith/app/apptest"
	"keysmith/config"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// nginxPath finds the nginx binary, or skips the test when there is none. CI installs the
// Debian package, so a skip there shows in the verbose output.
func nginxPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/sbin/nginx", "nginx"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Skip("nginx not found (looked for /usr/sbin/nginx and nginx in PATH; apt-get install nginx-light): skipping the gateway test")
	return ""
}

// replaceOnce replaces old by new in s, read from source, and fails the test unless old occurs
// exactly once, so a change to the documented configuration that this test no longer
// understands shows up here.
func replaceOnce(t *testing.T, source, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("%s: %q occurs %d times, want once", source, old, n)
	}
	return strings.Replace(s, old, new, 1)
}

// startNginx runs docs/nginx.conf.example, pointed at keysmith and service, and returns its
// base URL.
func startNginx(t *testing.T, keysmith, service string) string {
	t.Helper()
	const source = "docs/nginx.conf.example"
	example, err := os.ReadFile(filepath.Join("..", source))
	if err != nil {
		t.Fatal(err)
	}
	listen := apptest.FreeAddr(t)
	site := replaceOnce(t, source, string(example), "server 127.0.0.1:8080;", "server "+keysmith+";")
	site = replaceOnce(t, source, site, "server 127.0.0.1:9000;", "server "+service+";")
	site = replaceOnce(t, source, site, "listen 80;", "listen "+listen+";")
	runNginx(t, site, listen)
	return "http://" + listen
}

// runNginx runs site, the blocks of an http { } context, as a foreground nginx with every file
// it writes inside a temporary prefix, and returns once it accepts connections on listen. It
// skips the test when nginx is not installed.
func runNginx(t *testing.T, site, listen string) {
	t.Helper()
	binary := nginxPath(t)
	prefix := t.TempDir()
	var conf strings.Builder
	if os.Geteuid() == 0 {
		// Without it, workers started by root run as nobody and cannot use the temporary prefix.
		conf.WriteString("user root;\n")
	}
	fmt.Fprintf(&conf, "worker_processes 1;\npid %s;\nerror_log %s warn;\nevents { worker_connections 64; }\nhttp {\n    access_log off;\n",
		filepath.Join(prefix, "nginx.pid"), filepath.Join(prefix, "error.log"))
	for _, temp := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&conf, "    %s_temp_path %s;\n", temp, filepath.Join(prefix, temp))
	}
	conf.WriteString(site + "\n}\n")
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(binary, "-p", prefix, "-c", confPath, "-e", filepath.Join(prefix, "error.log"), "-g", "daemon off;")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	output := &apptest.Buffer{}
	cmd.Stdout, cmd.Stderr = output, output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		// A graceful stop first; if nginx hangs, its whole process group goes.
		cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	failed := func(why string) {
		errorLog, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
		t.Fatalf("nginx %s\noutput: %s\nerror.log: %s\nnginx.conf:\n%s", why, output.String(), errorLog, conf.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			failed("exited at start")
		default:
		}
		if conn, err := net.Dial("tcp", listen); err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			failed("did not listen within 10 seconds")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serviceSeen is what the protected service saw of one request.
type serviceSeen struct {
	keyID, scope, secret, authorization, stale string
}

// protectedService is the upstream nginx guards: it answers 200 and remembers the headers of
// each request it receives.
type protectedService struct {
	mu   sync.Mutex
	seen []serviceSeen
}

func (s *protectedService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.seen = append(s.seen, serviceSeen{
		keyID:         r.Header.Get("X-Keysmith-Key-Id"),
		scope:         r.Header.Get("X-Keysmith-Scope"),
		secret:        r.Header.Get("X-API-SECRET"),
		authorization: r.Header.Get("Authorization"),
		stale:         r.Header.Get("X-Keysmith-Stale"),
	})
	s.mu.Unlock()
	io.WriteString(w, "hello from the service")
}

func (s *protectedService) requests() []serviceSeen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]serviceSeen(nil), s.seen...)
}

func TestNginxAuthRequestInFrontOfAService(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		app := apptest.NewOnStore(t, store)
		service := &protectedService{}
		upstream := httptest.NewServer(service)
		t.Cleanup(upstream.Close)
		keysmithURL, _ := url.Parse(app.URL)
		upstreamURL, _ := url.Parse(upstream.URL)
		gateway := startNginx(t, keysmithURL.Host, upstreamURL.Host)

		ctx := context.Background()
		readOnly, readOnlySecret, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "reporting", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		scanner, scannerSecret, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "scanner", Scope: models.ScopeScanner})
		if err != nil {
			t.Fatal(err)
		}

		get := func(headers map[string]string) (int, string, http.Header) {
			t.Helper()
			return gatewayGet(t, gateway, headers)
		}

		status, body, _ := get(map[string]string{"X-API-SECRET": readOnlySecret, "X-Keysmith-Key-Id": "ak_forged"})
		if status != http.StatusOK || body != "hello from the service" {
			t.Fatalf("valid key in X-API-SECRET: status %d body %q, want %d from the service", status, body, http.StatusOK)
		}
		status, _, _ = get(map[string]string{"Authorization": "Bearer " + scannerSecret})
		if status != http.StatusOK {
			t.Fatalf("valid key as Bearer: status %d, want %d", status, http.StatusOK)
		}
		want := []serviceSeen{{keyID: readOnly.PublicID, scope: "read-only"}, {keyID: scanner.PublicID, scope: "scanner"}}
		if got := service.requests(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("the service saw %+v, want %+v (key id and scope from Keysmith, no secret)", got, want)
		}

		if _, err := store.DeleteAPIKey(ctx, readOnly.PublicID); err != nil {
			t.Fatal(err)
		}
		malformed := readOnlySecret[:len(readOnlySecret)-1]
		for name, headers := range map[string]map[string]string{
			"deleted key":   {"X-API-SECRET": readOnlySecret},
			"no key":        {},
			"malformed key": {"Authorization": "Bearer " + malformed},
		} {
			status, _, header := get(headers)
			if status != http.StatusUnauthorized {
				t.Errorf("%s: status %d, want %d", name, status, http.StatusUnauthorized)
			}
			if got, want := header.Get("WWW-Authenticate"), `Bearer realm="keysmith"`; got != want {
				t.Errorf("%s: WWW-Authenticate %q, want %q", name, got, want)
			}
		}
		if got := len(service.requests()); got != 2 {
			t.Fatalf("the service received %d requests, want only the 2 with valid keys", got)
		}
	})
}

// While Keysmith cannot reach its database, nginx lets through a key Keysmith vouches for from
// memory, telling the service so, and answers 503 with Retry-After, not 500, for a key it cannot
// vouch for.
func TestNginxDuringADatabaseOutage(t *testing.T) {
	app, proxy, direct := apptest.NewBehindProxy(t, time.Second, func(cfg *config.Config) {
		cfg.VerifyDBTimeout = 300 * time.Millisecond
		cfg.ShutdownTimeout = 2 * time.Second
	})
	service := &protectedService{}
	upstream := httptest.NewServer(service)
	t.Cleanup(upstream.Close)
	keysmithURL, _ := url.Parse(app.URL)
	upstreamURL, _ := url.Parse(upstream.URL)
	gateway := startNginx(t, keysmithURL.Host, upstreamURL.Host)
	ctx := context.Background()
	cached, cachedSecret, err := direct.CreateAPIKey(ctx, models.NewAPIKey{Name: "verified before", Scope: models.ScopeReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	_, uncachedSecret, err := direct.CreateAPIKey(ctx, models.NewAPIKey{Name: "never verified", Scope: models.ScopeReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	get := func(secret string) (int, string, http.Header) {
		t.Helper()
		return gatewayGet(t, gateway, map[string]string{"X-API-SECRET": secret})
	}
	if status, _, _ := get(cachedSecret); status != http.StatusOK {
		t.Fatalf("before the outage: status %d, want 200", status)
	}
	proxy.Refuse()
	// The key cache's lease, renewed every 250 ms while the listener is connected, runs out.
	time.Sleep(1100 * time.Millisecond)
	if status, body, _ := get(cachedSecret); status != http.StatusOK {
		t.Errorf("key verified before the outage: status %d, body %q, want 200 from the service", status, body)
	}
	if status, body, header := get(uncachedSecret); status != http.StatusServiceUnavailable || header.Get("Retry-After") == "" || !strings.Contains(body, `"error"`) {
		t.Errorf("key never verified: status %d, Retry-After %q, body %q; want 503 with Retry-After and a JSON error", status, header.Get("Retry-After"), body)
	}
	want := []serviceSeen{{keyID: cached.PublicID, scope: "read-only"}, {keyID: cached.PublicID, scope: "read-only", stale: "true"}}
	if got := service.requests(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the service saw %+v, want %+v (the second marked stale)", got, want)
	}
}

// gatewayGet asks the service behind nginx for a page with the given headers, and returns the
// status, body and headers of the answer.
func gatewayGet(t *testing.T, gateway string, headers map[string]string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, gateway+"/reports/latest", nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, value := range headers {
		req.Header.Set(name, value)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body), res.Header
}

// nginxDirectives reduces an nginx configuration to its directives, one per line, without
// comments or layout, so two ways of writing the same configuration compare equal.
func nginxDirectives(conf string) string {
	var tokens []string
	for _, line := range strings.Split(conf, "\n") {
		line, _, _ = strings.Cut(line, "#")
		for _, mark := range []string{"{", "}", ";"} {
			line = strings.ReplaceAll(line, mark, " "+mark+"\n")
		}
		tokens = append(tokens, line)
	}
	var out strings.Builder
	for _, statement := range strings.Split(strings.Join(tokens, " "), "\n") {
		if fields := strings.Fields(statement); len(fields) > 0 {
			out.WriteString(strings.Join(fields, " ") + "\n")
		}
	}
	return out.String()
}

// The API guide shows the configuration that the gateway test runs, shortened but the same.
func TestAPIGuideShowsTheTestedNginxConfiguration(t *testing.T) {
	guide, err := os.ReadFile(filepath.Join("..", apiGuide))
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(filepath.Join("..", "docs", "nginx.conf.example"))
	if err != nil {
		t.Fatal(err)
	}
	_, snippet, found := strings.Cut(string(guide), "```nginx\n")
	snippet, _, closed := strings.Cut(snippet, "```")
	if !found || !closed {
		t.Fatalf("%s has no ```nginx block", apiGuide)
	}
	if got, want := nginxDirectives(snippet), nginxDirectives(string(example)); got != want {
		t.Errorf("%s's nginx block differs from docs/nginx.conf.example:\nguide:\n%s\nexample:\n%s", apiGuide, got, want)
	}
}
