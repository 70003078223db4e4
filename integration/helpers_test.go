package integration

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keysmith/app/apptest"
	"keysmith/config"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// adminEmail is the Connectivity admin that eachApp signs in.
const adminEmail = "admin@example.com"

// secretInPage matches a key's secret anywhere in a page, to show that none is where it must
// not be.
var secretInPage = regexp.MustCompile(`ksk_[0-9A-Za-z]{49}`)

// eachApp runs fn against a fresh server per database, with a Connectivity admin signed in.
func eachApp(t *testing.T, fn func(t *testing.T, app *apptest.App, admin *apptest.Client), configure ...func(*config.Config)) {
	t.Helper()
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			app := apptest.New(t, target, configure...)
			app.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
			admin := app.Client(t)
			admin.Login(adminEmail)
			admin.Get("/admin/api-keys")
			fn(t, app, admin)
		})
	}
}

// doc parses a page or a fragment, for checks that select what they mean by data-testid.
func doc(t *testing.T, body string) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// wantStatus stops the test when res does not have the status want, and shows the body, which
// says why.
func wantStatus(t *testing.T, res *apptest.Response, want int) {
	t.Helper()
	if res.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body:\n%s", res.Request.Method, res.Request.URL.Path, res.StatusCode, want, res.Body)
	}
}

// rowNames are the names in the rows of the API key list, in the order shown.
func rowNames(t *testing.T, body string) []string {
	t.Helper()
	var names []string
	doc(t, body).Find(`[data-testid="api-key-row"] [data-testid="api-key-name"]`).Each(func(_ int, s *goquery.Selection) {
		names = append(names, s.Text())
	})
	return names
}

// createForm is the new key form, filled in as a browser sends it.
func createForm(name string, scope models.Scope, expiresIn string) url.Values {
	return url.Values{"name": {name}, "scope": {string(scope)}, "expires_in": {expiresIn}}
}

// behindLoopbackProxy configures an app that believes 127.0.0.1, the tests' clients but for
// those of apptest.App.ClientFrom, as a reverse proxy: its X-Forwarded-For and
// X-Request-Id.
func behindLoopbackProxy(cfg *config.Config) {
	_, loopback, _ := net.ParseCIDR("127.0.0.1/32")
	cfg.TrustedProxies = []*net.IPNet{loopback}
}

// seedAudit records n events by the command line, alternately key.created and key.deleted.
func seedAudit(t *testing.T, store *models.Store, n int, at time.Time) {
	t.Helper()
	ctx := models.WithAuditActor(context.Background(), models.AuditActor{Type: models.ActorCLI, Label: "ops"})
	for i := range n {
		action := models.AuditKeyCreated
		if i%2 == 1 {
			action = models.AuditKeyDeleted
		}
		ev := models.AuditEvent{At: at, Action: action, TargetType: models.TargetKey, TargetID: fmt.Sprintf("ak_seed%012d", i), TargetLabel: fmt.Sprintf("seed %d", i)}
		if err := store.RecordAudit(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
}
