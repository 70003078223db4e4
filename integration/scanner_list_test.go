package integration

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// checkInAt records a check-in as if it happened at the given time.
func checkInAt(t *testing.T, app *apptest.App, at time.Time, in models.ScannerCheckIn) {
	t.Helper()
	app.Store.SetClock(func() time.Time { return at })
	defer app.Store.SetClock(time.Now)
	if _, err := app.Store.CheckInScanner(context.Background(), in); err != nil {
		t.Fatal(err)
	}
}

type scannerRowView struct{ name, version, key, status string }

func scannerRows(t *testing.T, body string) []scannerRowView {
	t.Helper()
	var rows []scannerRowView
	doc(t, body).Find(`[data-testid="scanner-row"]`).Each(func(_ int, s *goquery.Selection) {
		status, _ := s.Attr("data-status")
		// The key id's copy button is hidden until app.js shows it: what is read is the cell's text.
		keyCell := s.Find(`[data-testid="scanner-key"]`).Clone()
		keyCell.Find(`[data-testid="copy-key-id"]`).Remove()
		key := strings.TrimSpace(keyCell.Text())
		if publicID := keyCell.Find("code").Text(); publicID != "" {
			key = strings.TrimSpace(strings.TrimSuffix(key, publicID)) + " " + publicID
		}
		rows = append(rows, scannerRowView{
			name:    strings.Join(strings.Fields(s.Find(`[data-testid="scanner-name"]`).Text()), " "),
			version: s.Find(`[data-testid="scanner-version"]`).Text(),
			key:     key,
			status:  status + "/" + s.Find(`[data-testid="scanner-status"]`).Text(),
		})
	})
	return rows
}

func TestScannerListStatuses(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		res := admin.Get("/admin/scanners")
		wantStatus(t, res, http.StatusOK)
		if doc(t, res.Body).Find(`[data-testid="scanner-empty"]`).Length() != 1 || !strings.Contains(res.Body, "Scanner") {
			t.Fatalf("no empty state before any check-in:\n%s", res.Body)
		}

		key, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "warehouse", Scope: models.ScopeScanner})
		if err != nil {
			t.Fatal(err)
		}
		lost, _, _ := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "old key", Scope: models.ScopeScanner})
		now := time.Now()
		checkInAt(t, app, now.Add(-5*time.Second), models.ScannerCheckIn{Name: "a-scanner", Host: "db1", Version: "2.0", APIKeyID: key.ID})
		checkInAt(t, app, now.Add(-10*time.Minute), models.ScannerCheckIn{Name: "b-scanner", Host: "db2", Version: "1.9", APIKeyID: lost.ID})
		checkInAt(t, app, now.Add(-4*24*time.Hour), models.ScannerCheckIn{Name: "c-scanner", Host: "db3", Version: "1.0", APIKeyID: key.ID})
		if _, err := app.Store.DeleteAPIKey(ctx, lost.PublicID); err != nil {
			t.Fatal(err)
		}

		res = admin.Get("/admin/scanners")
		wantStatus(t, res, http.StatusOK)
		rows := scannerRows(t, res.Body)
		// Down first, whatever its name: it is what an admin opens the page for.
		want := []scannerRowView{
			{"b-scanner @ db2", "1.9", "deleted key", "down/Down"},
			{"a-scanner @ db1", "2.0", "warehouse " + key.PublicID, "up/Up"},
		}
		if len(rows) != len(want) {
			t.Fatalf("got rows %+v, want %+v", rows, want)
		}
		for i := range want {
			if rows[i] != want[i] {
				t.Errorf("row %d: got %+v, want %+v", i, rows[i], want[i])
			}
		}
		page := doc(t, res.Body)
		if got := page.Find(`[data-testid="scanner-inactive-hidden"]`).Text(); !strings.Contains(got, "1 inactive scanner hidden") {
			t.Errorf("hidden note %q", got)
		}
		if _, ticked := page.Find(`input[name="include_inactive"]`).Attr("checked"); ticked {
			t.Error("include inactive is ticked by default")
		}
		if got, _ := page.Find(`nav a[href="/admin/scanners"]`).Attr("aria-current"); got != "page" {
			t.Errorf("navigation does not mark Scanners as current: %q", got)
		}

		res = admin.Get("/admin/scanners?include_inactive=1")
		wantStatus(t, res, http.StatusOK)
		rows = scannerRows(t, res.Body)
		if len(rows) != 3 || rows[2].name != "c-scanner @ db3" || rows[2].status != "inactive/Inactive" {
			t.Fatalf("with inactive: %+v", rows)
		}
		page = doc(t, res.Body)
		if _, ticked := page.Find(`input[name="include_inactive"]`).Attr("checked"); !ticked {
			t.Error("include inactive is not ticked when asked for")
		}
		if page.Find(`[data-testid="scanner-inactive-hidden"]`).Length() != 0 {
			t.Error("the hidden note shows while inactive scanners are shown")
		}
	})
}

func TestScannerListOnlyInactive(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		key, _, _ := app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "k", Scope: models.ScopeScanner})
		checkInAt(t, app, time.Now().Add(-5*24*time.Hour), models.ScannerCheckIn{Name: "old", Host: "h", Version: "1", APIKeyID: key.ID})
		res := admin.Get("/admin/scanners")
		wantStatus(t, res, http.StatusOK)
		page := doc(t, res.Body)
		if len(scannerRows(t, res.Body)) != 0 || page.Find(`[data-testid="scanner-empty"]`).Length() != 0 || page.Find(`[data-testid="scanner-none-active"]`).Length() != 1 {
			t.Fatalf("only an inactive scanner: want no rows, no empty state, a note:\n%s", res.Body)
		}
	})
}

func TestScannerListPermission(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			app := apptest.New(t, target)
			app.CreateUser(t, "nobody@example.com", models.PermissionNone)
			app.CreateUser(t, "super@example.com", models.PermissionSuperAdmin)

			anonymous := app.Client(t)
			res := anonymous.Get("/admin/scanners")
			wantStatus(t, res, http.StatusSeeOther)
			if got := res.Header.Get("Location"); !strings.HasPrefix(got, "/login?next=") {
				t.Errorf("anonymous: Location %q", got)
			}

			nobody := app.Client(t)
			nobody.Login("nobody@example.com")
			res = nobody.Get("/admin/scanners")
			wantStatus(t, res, http.StatusForbidden)
			if strings.Contains(res.Body, `data-testid="scanner-list"`) {
				t.Error("the 403 page shows the scanner list")
			}

			super := app.Client(t)
			super.Login("super@example.com")
			wantStatus(t, super.Get("/admin/scanners"), http.StatusOK)
		})
	}
}

func TestScannerListEscapesHostileNames(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		key, _, _ := app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: `<img src=x onerror=alert(2)>`, Scope: models.ScopeScanner})
		checkInAt(t, app, time.Now(), models.ScannerCheckIn{
			Name: `<script>alert(1)</script>`, Host: `"><b>host</b>`, Version: `1.0<i>`, APIKeyID: key.ID,
		})
		res := admin.Get("/admin/scanners")
		wantStatus(t, res, http.StatusOK)
		for _, raw := range []string{"<script>alert(1)", "<b>host", "<i>", "<img src=x"} {
			if strings.Contains(res.Body, raw) {
				t.Errorf("page contains unescaped %q", raw)
			}
		}
		rows := scannerRows(t, res.Body)
		if len(rows) != 1 || rows[0].name != `<script>alert(1)</script> @ "><b>host</b>` || rows[0].version != "1.0<i>" || !strings.HasPrefix(rows[0].key, "<img src=x") {
			t.Fatalf("hostile values are not shown as text: %+v", rows)
		}
	})
}

// TestScannerListExplainsDownAndWarnsOfExpiringKeys: the page says what Down means and why a
// scanner is down, links each scanner to its key and warns of a key about to expire; its
// filter applies as it changes, answering htmx with the list alone.
func TestScannerListExplainsDownAndWarnsOfExpiringKeys(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		soon := time.Now().Add(2*24*time.Hour + time.Hour)
		key, _, err := app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "warehouse", Scope: models.ScopeScanner, ExpiresAt: &soon})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		checkInAt(t, app, now.Add(-2*time.Minute), models.ScannerCheckIn{Name: "a-scanner", Host: "db1", Version: "2.0", APIKeyID: key.ID})
		checkInAt(t, app, now.Add(-4*24*time.Hour), models.ScannerCheckIn{Name: "c-scanner", Host: "db3", Version: "1.0", APIKeyID: key.ID})

		res := admin.Get("/admin/scanners")
		wantStatus(t, res, http.StatusOK)
		d := doc(t, res.Body)
		if help := d.Find(`[data-testid="scanner-status-help"]`).Text(); !strings.Contains(help, "no check-in for 60 seconds") {
			t.Errorf("the page's help: got %q, want it to say Down means no check-in for 60 seconds", help)
		}
		row := d.Find(`[data-testid="scanner-row"]`)
		if row.Length() != 1 {
			t.Fatalf("rows: got %d, want 1 (the inactive scanner hidden)", row.Length())
		}
		reason := row.Find(`[data-testid="scanner-down-reason"]`)
		if got := strings.Join(strings.Fields(reason.Text()), " "); got != "last seen 2 minutes ago" {
			t.Errorf("why the scanner is down: got %q, want %q", got, "last seen 2 minutes ago")
		}
		if got, want := reason.Find("time").AttrOr("title", ""), now.Add(-2*time.Minute).UTC().Format("Mon 2 Jan 2006 15:04:05 UTC"); got != want {
			t.Errorf("the exact time of the last check-in on hover: got %q, want %q", got, want)
		}
		if got, want := row.Find(`[data-testid="scanner-key-link"]`).AttrOr("href", ""), "/admin/api-keys/"+key.PublicID; got != want {
			t.Errorf("link to the scanner's key: got %q, want %q", got, want)
		}
		expiry := row.Find(`[data-testid="scanner-key-expiry"]`)
		if status := expiry.Find(`[data-testid="status-badge"]`).AttrOr("data-status", ""); status != "expires-soon" || !strings.Contains(expiry.Text(), "in 2 days") {
			t.Errorf("warning of the key about to expire: got status %q, text %q; want expires-soon, in 2 days", status, expiry.Text())
		}
		filter := d.Find(`form[data-testid="scanner-filter"]`)
		if filter.AttrOr("hx-trigger", "") != "change" || filter.AttrOr("hx-target", "") != "#scanner-list" {
			t.Errorf("the filter does not apply as it changes (hx-trigger %q, hx-target %q)", filter.AttrOr("hx-trigger", ""), filter.AttrOr("hx-target", ""))
		}
		if n := filter.Find(`button`).Length(); n != 0 || !strings.Contains(filter.Find(`noscript`).Text(), "Apply") {
			t.Errorf("the filter shows %d buttons, want an Apply button only without JavaScript", n)
		}

		region := admin.HTMX(http.MethodGet, "/admin/scanners?include_inactive=1", "scanner-list", nil)
		wantStatus(t, region, http.StatusOK)
		d = doc(t, region.Body)
		if d.Find("title").Length() != 0 || d.Find(`#scanner-list`).Length() != 1 {
			t.Fatalf("the filter over htmx is not answered with the list alone:\n%s", region.Body)
		}
		if n := d.Find(`[data-testid="scanner-row"]`).Length(); n != 2 {
			t.Errorf("rows with the inactive scanner included: got %d, want 2", n)
		}
	})
}
