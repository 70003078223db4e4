package e2e

import (
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keysmith/app/apptest"
	"keysmith/config"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// operationsGuide is the production guide whose configurations these tests run.
const operationsGuide = "docs/operations.md"

// guideBlock returns the one fenced block of the given language in the operations guide, and
// fails the test unless there is exactly one.
func guideBlock(t *testing.T, language string) string {
	t.Helper()
	guide, err := os.ReadFile(filepath.Join("..", operationsGuide))
	if err != nil {
		t.Fatal(err)
	}
	fence := "```" + language + "\n"
	if n := strings.Count(string(guide), fence); n != 1 {
		t.Fatalf("%s: %d ```%s blocks, want one", operationsGuide, n, language)
	}
	_, block, _ := strings.Cut(string(guide), fence)
	block, _, closed := strings.Cut(block, "```")
	if !closed {
		t.Fatalf("%s: the ```%s block is not closed", operationsGuide, language)
	}
	return block
}

// withoutTLS turns the guide's https server into a plain http one: the listen line, and the
// ssl_ directives, which need certificates, go.
func withoutTLS(t *testing.T, site, listen string) string {
	t.Helper()
	site = replaceOnce(t, operationsGuide, site, "listen 443 ssl http2;", "listen "+listen+";")
	var kept []string
	removed := 0
	for _, line := range strings.Split(site, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "ssl_") {
			removed++
			continue
		}
		kept = append(kept, line)
	}
	if removed < 2 {
		t.Fatalf("%s: %d ssl_ directives in the nginx block, want the certificate and its key at least", operationsGuide, removed)
	}
	return strings.Join(kept, "\n")
}

// The production guide's deployment works: nginx, with the guide's configuration (TLS swapped
// for plain http), in front of two instances on one PostgreSQL database. An administrator signs
// in, creates a key and deletes it through nginx, each request landing on either instance; the
// console proves the key revoked on both, and both refuse it.
func TestDeploymentBehindNginxWithTwoInstances(t *testing.T) {
	target := modelstest.Postgres(t, "the deployment test (two instances behind nginx share one database)")
	nginxPath(t)
	behindNginx := func(cfg *config.Config) {
		cfg.TrustedProxies = []*net.IPNet{{IP: net.IPv4(127, 0, 0, 1), Mask: net.CIDRMask(32, 32)}}
	}
	first := apptest.NewOnStore(t, modelstest.Open(t, target), behindNginx)
	second := apptest.NewOnStore(t, modelstest.Open(t, target), behindNginx)

	site := guideBlock(t, "nginx")
	for i, app := range []*apptest.App{first, second} {
		instance, _ := url.Parse(app.URL)
		site = replaceOnce(t, operationsGuide, site, "server 10.0.1.1"+strconv.Itoa(i+1)+":8080;", "server "+instance.Host+";")
	}
	plain, secure := apptest.FreeAddr(t), apptest.FreeAddr(t)
	site = replaceOnce(t, operationsGuide, site, "listen 80;", "listen "+plain+";")
	site = withoutTLS(t, site, secure)
	accessLog := filepath.Join(t.TempDir(), "keysmith.access.log")
	site = replaceOnce(t, operationsGuide, site, "access_log /var/log/nginx/keysmith.access.log keysmith;", "access_log "+accessLog+" keysmith;")
	runNginx(t, site, secure)
	gateway := "http://" + secure

	// Plain http only sends browsers to https.
	redirect := first.ClientVia(t, "http://"+plain).Get("/login")
	if location := redirect.Header.Get("Location"); redirect.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(location, "https://") || !strings.HasSuffix(location, "/login") {
		t.Errorf("GET /login over plain http: got %d to %q, want 301 to https://…/login", redirect.StatusCode, location)
	}

	first.CreateUser(t, "ops@example.com", models.PermissionConnectivityAdmin)
	admin := first.ClientVia(t, gateway)
	admin.Login("ops@example.com")
	// Both instances are registered before the key is made, so both must acknowledge its
	// revocation.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res := admin.Get("/admin/instances")
		rows := htmlOf(t, res).Find(`[data-testid="instance-row"]`).Length()
		if res.StatusCode == http.StatusOK && rows == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Administration › Instances through nginx: status %d with %d instances, want 200 with 2", res.StatusCode, rows)
		}
	}

	admin.Get("/admin/api-keys/new")
	created := admin.Post("/admin/api-keys", url.Values{"name": {"nightly export"}, "scope": {"read-only"}, "expires_in": {"30d"}})
	if created.StatusCode != http.StatusOK {
		t.Fatalf("create a key through nginx: status %d, want 200 with the secret; body %.500s", created.StatusCode, created.Body)
	}
	secretPage := htmlOf(t, created)
	secret := secretPage.Find(`[data-testid="api-key-secret"]`).Text()
	keyID := strings.TrimSpace(secretPage.Find(`[data-testid="api-key-public-id"]`).Text())
	if !strings.HasPrefix(secret, "ksk_") || !strings.HasPrefix(keyID, "ak_") {
		t.Fatalf("the secret page shows secret %q and id %q, want ksk_… and ak_…", secret, keyID)
	}
	verify := func(app *apptest.App) int { return app.VerifyStatus(t, secret) }
	viaNginx := func() int {
		return admin.Do(http.MethodGet, "/api/v1/auth/verify", nil, map[string]string{"X-API-SECRET": secret}).StatusCode
	}
	// Each instance vouches for the key, and so holds it in its cache.
	if got := []int{verify(first), verify(second), viaNginx(), viaNginx()}; !slicesAll(got, http.StatusOK) {
		t.Fatalf("the new key from the first instance, the second, and twice through nginx: got %v, want 200 from each", got)
	}

	admin.Get("/admin/api-keys/" + keyID + "/delete")
	deleted := admin.Post("/admin/api-keys/"+keyID+"/delete", url.Values{"confirm_name": {"nightly export"}})
	if deleted.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete through nginx: status %d, want 303; body %.500s", deleted.StatusCode, deleted.Body)
	}
	// The page after a delete shows how far the revocation reached, once settled.
	proof := strings.TrimSpace(htmlOf(t, admin.Get(deleted.Header.Get("Location"))).Find(`[data-testid="revocation-summary"]`).Text())
	if !strings.HasPrefix(proof, "Revoked on 2 of 2 instances in ") {
		t.Errorf("the list after the delete says %q, want “Revoked on 2 of 2 instances in …”", proof)
	}
	if got := []int{verify(first), verify(second), viaNginx(), viaNginx()}; !slicesAll(got, http.StatusUnauthorized) {
		t.Errorf("the deleted key from the first instance, the second, and twice through nginx: got %v, want 401 from each", got)
	}

	// A one-time link's token reaches no log: nginx's logs the path without the query string.
	if res := first.ClientVia(t, gateway).Get("/set-password?token=a-token-that-must-not-be-logged"); res.StatusCode != http.StatusNotFound {
		t.Errorf("a made-up one-time link through nginx: status %d, want 404", res.StatusCode)
	}
	logged, err := os.ReadFile(accessLog)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logged), "GET /set-password HTTP/1.1") || strings.Contains(string(logged), "a-token-that-must-not-be-logged") {
		t.Errorf("nginx's access log: want the path of the one-time link without its token; got:\n%s", logged)
	}

	// nginx shared the signed-in requests between the instances (sessions are the database's,
	// not an instance's), and passed each its request id ($request_id: 32 hex digits).
	signedIn := regexp.MustCompile(`request_id=[0-9a-f]{32} method=GET path=/admin/\S* status=200`)
	for name, app := range map[string]*apptest.App{"first": first, "second": second} {
		if !signedIn.MatchString(app.Logs()) {
			t.Errorf("the %s instance answered no signed-in console page through nginx; its log:\n%s", name, app.Logs())
		}
	}
}

func slicesAll(values []int, want int) bool {
	for _, v := range values {
		if v != want {
			return false
		}
	}
	return true
}

// htmlOf parses an HTML answer.
func htmlOf(t *testing.T, res *apptest.Response) *goquery.Document {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(res.Body))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// The guide shows docs/keysmith.service as it is.
func TestOperationsGuideShowsTheSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join("..", "docs", "keysmith.service"))
	if err != nil {
		t.Fatal(err)
	}
	if got := guideBlock(t, "ini"); got != string(unit) {
		t.Errorf("%s's ```ini block differs from docs/keysmith.service:\n%s", operationsGuide, got)
	}
}

// systemd reads docs/keysmith.service without a complaint, and rates its hardening OK or
// better (an exposure level of 2.9 at most, on its scale of 0 to 10).
func TestSystemdUnitIsValidAndHardened(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not found (Debian package systemd): skipping the check of docs/keysmith.service")
	}
	unit, err := os.ReadFile(filepath.Join("..", "docs", "keysmith.service"))
	if err != nil {
		t.Fatal(err)
	}
	// The unit as installed, with ExecStart pointing at a binary that exists here.
	executable, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	installed := filepath.Join(t.TempDir(), "keysmith.service")
	text := replaceOnce(t, "docs/keysmith.service", string(unit), "ExecStart=/usr/local/bin/keysmith serve", "ExecStart="+executable+" serve")
	if err := os.WriteFile(installed, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", installed).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command(analyze, "security", "--offline=true", installed).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security --offline=true: %v\n%s", err, out)
	}
	level := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
	if level == nil {
		t.Fatalf("systemd-analyze security printed no overall exposure level:\n%s", out)
	}
	if exposure, err := strconv.ParseFloat(string(level[1]), 64); err != nil || exposure > 2.9 {
		t.Errorf("systemd-analyze security: exposure level %s, want 2.9 at most (OK)\n%s", level[1], out)
	}
}
