package integration

import (
	"context"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"keysmith/app/apptest"
	"keysmith/config"
	"keysmith/models"
)

// TestTryItRunsAgainstTheConsole: the one-time secret's "Try it" command names the verify
// endpoint on KEYSMITH_BASE_URL with the new secret, after a create (page, no JavaScript) and
// after a rotation (htmx dialog); run by a shell, with curl pointed at this server in place of
// the base URL's host, it gets the key's 200.
func TestTryItRunsAgainstTheConsole(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	const base = "http://keysmith.example:8443"
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		// tryIt checks the command an answer shows, then runs it: the new secret works.
		tryIt := func(what string, answer *apptest.Response) {
			t.Helper()
			wantStatus(t, answer, http.StatusOK)
			d := doc(t, answer.Body)
			secret := d.Find(`[data-testid="api-key-secret"]`).Text()
			key, err := app.Store.APIKeyBySecretHash(context.Background(), models.HashSecret(secret))
			if err != nil {
				t.Fatalf("%s: the secret shown is no key's: %v", what, err)
			}
			command := d.Find(`[data-testid="try-it"]`).Text()
			if want := "curl -H 'X-API-SECRET: " + secret + "' '" + base + "/api/v1/auth/verify'"; command != want {
				t.Fatalf("%s: Try it: got %q, want %q", what, command, want)
			}
			server := strings.TrimPrefix(app.URL, "http://")
			out, err := exec.Command("sh", "-c", curl+" -sS -w '\\n%{http_code}' --connect-to '::"+server+"' "+strings.TrimPrefix(command, "curl ")).Output()
			if err != nil {
				t.Fatalf("%s: running the command: %v", what, err)
			}
			answered := strings.TrimSpace(string(out))
			cut := strings.LastIndex(answered, "\n")
			body, status := answered[:max(cut, 0)], answered[cut+1:]
			if status != "200" || !strings.Contains(body, key.PublicID) {
				t.Errorf("%s: the command's answer: got %s %s, want 200 naming %s", what, status, body, key.PublicID)
			}
		}
		created := admin.Post("/admin/api-keys", createForm("Nightly lineage export", models.ScopeScanner, "30d"))
		tryIt("create", created)
		key := doc(t, created.Body).Find(`[data-testid="api-key-public-id"]`).Text()
		tryIt("rotation", admin.HTMX(http.MethodPost, "/admin/api-keys/"+key+"/rotate", "dialog-slot", rotateForm(models.GraceNone, "30d")))
	}, func(cfg *config.Config) {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		cfg.BaseURL = u
	})
}
