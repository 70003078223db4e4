package integration

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keysmith/app/apptest"
	"keysmith/config"
	"keysmith/models"
)

// instanceRows reads Administration › Instances: each row's cells by test id, by instance id.
func instanceRows(t *testing.T, admin *apptest.Client) map[string]map[string]string {
	t.Helper()
	res := admin.Get("/admin/instances")
	wantStatus(t, res, http.StatusOK)
	rows := map[string]map[string]string{}
	doc(t, res.Body).Find(`[data-testid="instance-row"]`).Each(func(_ int, row *goquery.Selection) {
		id, _ := row.Attr("data-instance-id")
		cells := map[string]string{"self": ""}
		row.Find("[data-testid]").Each(func(_ int, cell *goquery.Selection) {
			name, _ := cell.Attr("data-testid")
			cells[strings.TrimPrefix(name, "instance-")] = strings.TrimSpace(cell.Text())
		})
		cells["listener-state"], _ = row.Find(`[data-testid="instance-listener"]`).Attr("data-state")
		rows[id] = cells
	})
	return rows
}

// Administration › Instances lists every live instance, this one marked, with its version, its
// heartbeat, its revocation listener's state and its cache size as its heartbeat reported them;
// it is linked for administrators, and for them only.
func TestInstancesPageListsLiveInstances(t *testing.T) {
	fast := func(cfg *config.Config) { cfg.HeartbeatInterval = 20 * time.Millisecond }
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		other := models.Instance{ID: "in_other", Address: "10.0.0.2:8080", Hostname: "web-2", Version: "v9.9.9",
			StartedAt: app.Store.Now(), ListenerState: models.ListenerReconnecting, CacheEntries: 7}
		if err := app.Store.Heartbeat(ctx, other, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := app.Store.Heartbeat(ctx, models.Instance{ID: "in_gone", StartedAt: app.Store.Now(), ListenerState: models.ListenerListening}, time.Microsecond); err != nil {
			t.Fatal(err)
		}
		_, secret := createKey(t, app.Store, "cached")
		if got := app.VerifyStatus(t, secret); got != http.StatusOK {
			t.Fatalf("verify: status %d, want %d", got, http.StatusOK)
		}

		self := app.Cluster.ID()
		wantListener := models.ListenerLocal
		if app.Store.Dialect() == models.DialectPostgres {
			wantListener = models.ListenerListening
		}
		var rows map[string]map[string]string
		for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			// The cache size comes with the next heartbeat.
			if rows = instanceRows(t, admin); rows[self]["cache"] == "1" || time.Now().After(deadline) {
				break
			}
		}
		if len(rows) != 2 || rows[self] == nil || rows["in_other"] == nil {
			t.Fatalf("instance rows: got %v, want this instance and in_other", rows)
		}
		mine := rows[self]
		if mine["self"] != "This instance" || mine["version"] == "" || mine["cache"] != "1" || mine["listener-state"] != string(wantListener) ||
			!strings.HasSuffix(mine["heartbeat"], " s ago") {
			t.Errorf("this instance's row: got %v, want marked, a version, 1 cached key, listener %s, heartbeat seconds ago", mine, wantListener)
		}
		theirs := rows["in_other"]
		if theirs["self"] != "" || theirs["version"] != "v9.9.9" || theirs["cache"] != "7" || theirs["listener-state"] != "reconnecting" ||
			theirs["listener"] != "Reconnecting" {
			t.Errorf("the other instance's row: got %v, want v9.9.9, 7 cached keys, reconnecting", theirs)
		}

		if link := doc(t, admin.Get("/admin/api-keys").Body).Find(`nav a[href="/admin/instances"]`); link.Length() != 1 {
			t.Error("no link to Instances in the navigation for an administrator")
		}
		app.CreateUser(t, "nobody@example.com", models.PermissionNone)
		nobody := app.Client(t)
		nobody.Login("nobody@example.com")
		denied := nobody.Get("/admin/instances")
		wantStatus(t, denied, http.StatusForbidden)
		if nav := doc(t, denied.Body).Find("nav"); nav.Find(`a[href="/admin/scanners"], a[href="/admin/instances"]`).Length() != 0 {
			t.Error("the navigation links to Scanners or Instances for a user without the permission")
		}
	}, fast)
}
