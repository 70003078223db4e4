package views_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"

	"keysmith/models"
	"keysmith/views"
)

// TestTryCommandSurvivesTheShell: the "Try it" command, run by a POSIX shell, hands curl the
// header line with the secret and the verify URL on the console's base URL, each as one word,
// whatever characters the base URL holds. printf stands in for curl to show the words.
func TestTryCommandSurvivesTheShell(t *testing.T) {
	secret := models.GenerateSecret()
	for _, base := range []string{
		"https://keysmith.example.com",
		"https://keysmith.example.com:8443/console",
		"http://127.0.0.1:8080/it's $HOME `id` \"quoted\"",
	} {
		command := views.CreatedKey{Secret: secret, BaseURL: base}.TryCommand()
		if !strings.HasPrefix(command, "curl -H ") {
			t.Fatalf("command: got %q, want it to start with curl -H", command)
		}
		out, err := exec.Command("sh", "-c", "printf '%s\\n' "+strings.TrimPrefix(command, "curl ")).Output()
		if err != nil {
			t.Fatalf("%s: sh: %v", base, err)
		}
		want := "-H\nX-API-SECRET: " + secret + "\n" + base + "/api/v1/auth/verify\n"
		if got := string(out); got != want {
			t.Errorf("%s: words the shell passes to curl: got %q, want %q", base, got, want)
		}
	}
}

// TestSecretDialogKeepsTheSecretOnEnter: in the confirmation before a secret nobody copied is
// closed, Keep it open comes first and is the primary button (app.js focuses it), Close
// without copying second; the raw secret is a wrapping field, not a one-line input.
func TestSecretDialogKeepsTheSecretOnEnter(t *testing.T) {
	d, _ := render(t, views.SecretDialog(views.CreatedKey{Key: keyNamed("Nightly export"), Secret: models.GenerateSecret(), BaseURL: "https://keysmith.example.com"}))
	buttons := d.Find(`[data-testid="confirm-close"] button`)
	var got []string
	buttons.Each(func(_ int, b *goquery.Selection) {
		got = append(got, b.AttrOr("data-testid", "")+" "+b.AttrOr("class", "primary"))
	})
	if want := []string{"keep-open primary", "close-anyway secondary"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("confirmation buttons in order: got %q, want %q", got, want)
	}
	if tag := goquery.NodeName(d.Find(`[data-testid="api-key-secret"]`)); tag != "textarea" {
		t.Errorf("raw secret field: got <%s>, want <textarea> so that the secret wraps whole", tag)
	}
	if got := d.Find(`[data-testid="try-it"]`).Text(); !strings.Contains(got, "'https://keysmith.example.com/api/v1/auth/verify'") {
		t.Errorf("Try it: got %q, want the verify URL on the base URL", got)
	}
}

// TestKeyIDsHaveACopyButton: every view that names a key by its id offers one copy button
// for it, rendered hidden for app.js to show, carrying the id; the id's own hooks stay.
func TestKeyIDsHaveACopyButton(t *testing.T) {
	key := keyNamed("Nightly export")
	list := views.APIKeyList{Page: models.APIKeyPage{Keys: []models.APIKey{key}, Total: 1, Page: 1, PerPage: 25}, Now: now, Sort: models.DefaultAPIKeySort}
	for _, tc := range []struct {
		name, idHook string
		view         templ.Component
	}{
		{"list", "", views.APIKeyListRegion(list)},
		{"key page", "key-id", views.APIKeyPage(page(), views.KeyPage{Key: key, Now: now})},
		{"secret dialog", "api-key-public-id", views.SecretDialog(views.CreatedKey{Key: key, Secret: models.GenerateSecret()})},
		{"delete dialog", "", views.DeleteDialog(views.DeleteKey{Key: key, Now: now}, "tok")},
		{"rotate dialog", "", views.RotateDialog(views.RotateKey{Key: key, Now: now}, "tok")},
		{"scanners", "", views.ScannerListRegion(views.ScannersView{Scanners: []models.Scanner{{Name: "snowflake-prod", Key: &key, LastCheckInAt: now}}, Now: now})},
		{"audit log", "", views.AuditLogRegion(views.AuditLogView{Events: []models.AuditEvent{{
			ID: 1, At: now, Action: models.AuditKeyDeleted, TargetType: models.TargetKey, TargetID: key.PublicID, TargetLabel: key.Name,
		}}})},
	} {
		d, _ := render(t, tc.view)
		copies := d.Find(`button[data-testid="copy-key-id"]`)
		if copies.Length() != 1 {
			t.Errorf("%s: key id copy buttons: got %d, want 1", tc.name, copies.Length())
			continue
		}
		if got := copies.AttrOr("data-copy-text", ""); got != key.PublicID {
			t.Errorf("%s: the button copies %q, want %q", tc.name, got, key.PublicID)
		}
		if _, hidden := copies.Attr("hidden"); !hidden || copies.AttrOr("data-needs-script", "x") != "" {
			t.Errorf("%s: the copy button is not rendered hidden for the script to show", tc.name)
		}
		if tc.idHook != "" {
			if got := d.Find(`[data-testid="` + tc.idHook + `"]`).Text(); got != key.PublicID {
				t.Errorf("%s: %s: got %q, want %q", tc.name, tc.idHook, got, key.PublicID)
			}
		}
	}
}
