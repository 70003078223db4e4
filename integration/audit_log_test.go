package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// auditRows reads the audit log page's rows: each row's action, newest first.
func auditRows(t *testing.T, body string) []string {
	t.Helper()
	var actions []string
	doc(t, body).Find(`[data-testid="audit-event"]`).Each(func(_ int, row *goquery.Selection) {
		action, _ := row.Attr("data-action")
		actions = append(actions, action)
	})
	return actions
}

// postAs submits a form as c does, with a User-Agent of its own.
func postAs(c *apptest.Client, path, userAgent string, form url.Values) *apptest.Response {
	if _, ok := form["_csrf"]; !ok {
		form.Set("_csrf", c.CSRF)
	}
	return c.Do(http.MethodPost, path, strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "User-Agent": userAgent})
}

// Administration › Audit log and its export are for Connectivity administration and Super
// admin, linked from the menu; anyone else is told which permission they lack.
func TestAuditLogIsForAdministrators(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		res := admin.Get("/admin/audit-log")
		wantStatus(t, res, http.StatusOK)
		page := doc(t, res.Body)
		if page.Find(`header nav a[href="/admin/audit-log"][aria-current="page"]`).Length() != 1 {
			t.Error("the menu has no current Audit log entry")
		}
		if got := auditRows(t, res.Body); !slices.Equal(got, []string{models.AuditSignedIn, models.AuditUserCreated}) {
			t.Errorf("rows: got %v, want the admin's sign-in and creation", got)
		}

		app.CreateUser(t, "root@example.com", models.PermissionSuperAdmin)
		root := app.Client(t)
		root.Login("root@example.com")
		wantStatus(t, root.Get("/admin/audit-log"), http.StatusOK)
		wantStatus(t, root.Get("/admin/audit-log.csv"), http.StatusOK)

		app.CreateUser(t, "viewer@example.com", models.PermissionNone)
		viewer := app.Client(t)
		viewer.Login("viewer@example.com")
		for _, path := range []string{"/admin/audit-log", "/admin/audit-log.csv"} {
			res := viewer.Get(path)
			wantStatus(t, res, http.StatusForbidden)
			if !strings.Contains(res.Body, "Connectivity administration") || !strings.Contains(res.Body, "Super admin") ||
				strings.Contains(res.Body, `data-testid="audit-event"`) {
				t.Errorf("%s for a user without permission: got %s, want the 403 page naming the permissions", path, res.Body)
			}
		}
		res = app.Client(t).Get("/admin/audit-log")
		wantStatus(t, res, http.StatusSeeOther)
		if !strings.HasPrefix(res.Header.Get("Location"), "/login") {
			t.Errorf("a visitor: sent to %q, want the sign-in page", res.Header.Get("Location"))
		}
	})
}

// Sign-ins, failed and successful, and sign-outs are recorded with the client's address, user
// agent and request id. The reason of a failure is in the event, never on the page; an email
// that is not text is recorded escaped, and shown escaped.
func TestSignInsAndSignOutsAreAudited(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		const agent = "audit-test-browser/1.0"
		visitor := app.ClientFrom(t, "127.0.0.3")
		visitor.Get("/login")
		var requestIDs []string
		for _, tc := range []struct {
			email  string
			status int
		}{
			{"nobody@example.com", http.StatusUnauthorized},
			{adminEmail, http.StatusUnauthorized},
			{"ad\x00min@example.com", http.StatusUnprocessableEntity},
			{"\xffroot@example.com", http.StatusUnprocessableEntity},
		} {
			res := postAs(visitor, "/login", agent, signInForm(tc.email, "a wrong guess"))
			wantStatus(t, res, tc.status)
			for _, reason := range []string{models.SignInUnknownAccount, models.SignInWrongPassword, models.SignInMalformed, "unknown account", "wrong password"} {
				if strings.Contains(res.Body, reason) {
					t.Errorf("the sign-in page for %q says %q", tc.email, reason)
				}
			}
			requestIDs = append(requestIDs, res.Header.Get("X-Request-Id"))
		}
		res := postAs(visitor, "/login", agent, signInForm(adminEmail, apptest.DefaultPassword))
		wantStatus(t, res, http.StatusSeeOther)
		requestIDs = append(requestIDs, res.Header.Get("X-Request-Id"))
		visitor.Get("/admin/api-keys")
		res = postAs(visitor, "/logout", agent, url.Values{})
		wantStatus(t, res, http.StatusSeeOther)
		requestIDs = append(requestIDs, res.Header.Get("X-Request-Id"))

		admins, err := app.Store.Users(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		adminID := fmt.Sprint(admins[0].ID)
		events := modelstest.AuditEvents(t, app.Store, models.AuditFilter{Action: "session"})[1:] // after the admin's own sign-in
		type row struct{ action, actor, target, detail string }
		var got []row
		for i, ev := range events {
			got = append(got, row{ev.Action, ev.Actor.Type + " " + ev.Actor.ID, ev.TargetID + " " + ev.TargetLabel, ev.Detail})
			if i < len(requestIDs) && (ev.Actor.Address != "127.0.0.3" || ev.Actor.UserAgent != agent || ev.Actor.RequestID != requestIDs[i]) {
				t.Errorf("%s: client %q %q %q, want 127.0.0.3 %q %q", ev.Action, ev.Actor.Address, ev.Actor.UserAgent, ev.Actor.RequestID, agent, requestIDs[i])
			}
		}
		want := []row{
			{models.AuditSignInFailed, "anonymous ", " nobody@example.com", "unknown_account"},
			{models.AuditSignInFailed, "anonymous ", adminID + " " + adminEmail, "wrong_password"},
			{models.AuditSignInFailed, "anonymous ", ` ad\x00min@example.com`, "malformed_input"},
			{models.AuditSignInFailed, "anonymous ", ` \xffroot@example.com`, "malformed_input"},
			{models.AuditSignedIn, "user " + adminID, adminID + " " + adminEmail, ""},
			{models.AuditSignedOut, "user " + adminID, adminID + " " + adminEmail, ""},
		}
		if !slices.Equal(got, want) {
			t.Fatalf("events:\ngot  %q\nwant %q", got, want)
		}

		res = admin.Get("/admin/audit-log?action=session.sign_in_failed")
		wantStatus(t, res, http.StatusOK)
		var targets []string
		doc(t, res.Body).Find(`[data-testid="audit-event"] [data-testid="audit-target"]`).Each(func(_ int, cell *goquery.Selection) {
			targets = append(targets, strings.Fields(cell.Text())[0])
		})
		if want := []string{`\xffroot@example.com`, `ad\x00min@example.com`, adminEmail, "nobody@example.com"}; !slices.Equal(targets, want) {
			t.Errorf("failed sign-ins on the page: got %q, want %q", targets, want)
		}
	})
}

// More than five failed sign-ins from one address in a minute are summed up in one event with
// their count, written by the next failure after the minute.
func TestFailedSignInFloodIsSummarised(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, _ *apptest.Client) {
		clock := setClock(nextSecond().Truncate(time.Minute).Add(time.Minute), app.Store)
		attacker := app.ClientFrom(t, "127.0.0.4")
		attacker.Get("/login")
		for i := range 15 {
			wantStatus(t, attacker.Post("/login", signInForm(fmt.Sprintf("guess-%d@example.com", i), "guess")), http.StatusUnauthorized)
		}
		fromAttacker := func() []models.AuditEvent {
			var events []models.AuditEvent
			for _, ev := range modelstest.AuditEvents(t, app.Store, models.AuditFilter{Action: "session"}) {
				if ev.Actor.Address == "127.0.0.4" {
					events = append(events, ev)
				}
			}
			return events
		}
		if got := len(fromAttacker()); got != 5 {
			t.Fatalf("within the minute: %d events from the attacker, want 5", got)
		}
		clock.advance(time.Minute)
		wantStatus(t, attacker.Post("/login", signInForm("late@example.com", "guess")), http.StatusUnauthorized)
		events := fromAttacker()
		if len(events) != 7 {
			t.Fatalf("after the minute: %d events from the attacker, want 5, the summary and the new failure", len(events))
		}
		if !strings.HasPrefix(events[5].Detail, "10 more from this address") || !strings.HasSuffix(events[5].Detail, "(unknown_account 10)") {
			t.Errorf("summary: got %q, want 10 more unknown accounts", events[5].Detail)
		}
		if events[6].TargetLabel != "late@example.com" {
			t.Errorf("the next failure: got %+v, want late@example.com", events[6])
		}
	})
}

// Each key action in the console is recorded by the signed-in user, from the request.
func TestConsoleKeyActionsAreAudited(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		wantStatus(t, admin.Post("/admin/api-keys", createForm("audited export", models.ScopeReadOnly, "30d")), http.StatusOK)
		list, err := app.Store.ListAPIKeys(context.Background(), models.APIKeyQuery{Search: "audited export"})
		if err != nil || len(list.Keys) != 1 {
			t.Fatalf("the created key: got %+v, %v", list.Keys, err)
		}
		key := list.Keys[0]
		var requestIDs []string
		for _, step := range []struct {
			path   string
			form   url.Values
			status int
		}{
			{"/rotate", rotateForm(models.GraceNone, "30d"), http.StatusOK},
			{"/disable", url.Values{}, http.StatusSeeOther},
			{"/enable", url.Values{}, http.StatusSeeOther},
			{"/delete", url.Values{}, http.StatusSeeOther},
		} {
			res := admin.Post("/admin/api-keys/"+key.PublicID+step.path, step.form)
			wantStatus(t, res, step.status)
			requestIDs = append(requestIDs, res.Header.Get("X-Request-Id"))
			admin.Get("/admin/api-keys")
		}
		events := modelstest.AuditEvents(t, app.Store, models.AuditFilter{Key: key.PublicID})
		want := []string{models.AuditKeyCreated, models.AuditKeyRotated, models.AuditKeyDisabled, models.AuditKeyEnabled, models.AuditKeyDeleted}
		if got := actionsOf(events); !slices.Equal(got, want) {
			t.Fatalf("events of the key: got %v, want %v", got, want)
		}
		for i, ev := range events {
			if ev.Actor.Type != models.ActorUser || ev.Actor.Label != adminEmail || ev.Actor.Address != "127.0.0.1" || ev.Actor.UserAgent != "Go-http-client/1.1" {
				t.Errorf("%s: actor %+v, want the admin from 127.0.0.1", ev.Action, ev.Actor)
			}
			if i > 0 && ev.Actor.RequestID != requestIDs[i-1] {
				t.Errorf("%s: request id %q, want the request's %q", ev.Action, ev.Actor.RequestID, requestIDs[i-1])
			}
		}
		res := admin.Get("/admin/audit-log?key=" + key.PublicID)
		wantStatus(t, res, http.StatusOK)
		slices.Reverse(want)
		if got := auditRows(t, res.Body); !slices.Equal(got, want) {
			t.Errorf("the page filtered by the key: got %v, want %v", got, want)
		}
	})
}

// actionsOf lists the events' actions, in their order.
func actionsOf(events []models.AuditEvent) []string {
	actions := make([]string, len(events))
	for i, ev := range events {
		actions[i] = ev.Action
	}
	return actions
}

// The first refusal of each key in an hour by the API is recorded, by the key, with the
// reason and the route, however many instances refuse it: an expired key, a disabled one, a
// wrong scope, a deleted key's secret and a secret replaced by a rotation, which the
// tombstones name. The next hour's first refusal is recorded again.
func TestFirstAPIRefusalOfEachKeyEachHourIsAudited(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			ctx := context.Background()
			store, other := modelstest.Open(t, target), modelstest.Open(t, target)
			start := time.Now().UTC().Truncate(time.Hour).Add(time.Hour + time.Minute)
			clock := setClock(start, store, other)
			first, second := apptest.NewOnStore(t, store), apptest.NewOnStore(t, other)
			soon := start.Add(10 * time.Minute)
			expiring, expiringSecret, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "expiring", Scope: models.ScopeReadOnly, ExpiresAt: &soon})
			if err != nil {
				t.Fatal(err)
			}
			paused, pausedSecret := createKey(t, store, "paused")
			narrow, narrowSecret := createKey(t, store, "narrow")
			doomed, doomedSecret := createKey(t, store, "doomed")
			rotated, oldSecret := createKey(t, store, "rotated")
			awaitHeard(t, second, expiringSecret, pausedSecret, narrowSecret, doomedSecret, oldSecret)
			for _, secret := range []string{doomedSecret, oldSecret} {
				if got := first.VerifyStatus(t, secret); got != http.StatusOK {
					t.Fatalf("before the changes: status %d, want 200", got)
				}
			}
			if _, _, err := store.DisableAPIKey(ctx, paused.PublicID); err != nil {
				t.Fatal(err)
			}
			if _, err := store.DeleteAPIKey(ctx, doomed.PublicID); err != nil {
				t.Fatal(err)
			}
			if _, _, err := store.RotateAPIKey(ctx, rotated.PublicID, models.Rotation{Grace: models.GraceNone}); err != nil {
				t.Fatal(err)
			}
			clock.advance(20 * time.Minute)

			refuse := func(app *apptest.App, path, secret string, want int) {
				t.Helper()
				res := app.Client(t).Do(http.MethodGet, path, nil, map[string]string{"X-API-SECRET": secret, "User-Agent": "broken-scanner/0.9"})
				wantStatus(t, res, want)
			}
			for _, app := range []*apptest.App{first, second, first, second} {
				refuse(app, "/api/v1/auth/verify", expiringSecret, http.StatusUnauthorized)
				refuse(app, "/api/v1/auth/verify", pausedSecret, http.StatusUnauthorized)
				refuse(app, "/api/v1/users", narrowSecret, http.StatusForbidden)
				refuse(app, "/api/v1/items", doomedSecret, http.StatusUnauthorized)
				refuse(app, "/api/v1/auth/verify", oldSecret, http.StatusUnauthorized)
			}
			flush := func() {
				for _, app := range []*apptest.App{first, second} {
					if err := app.Keys.FlushRefusals(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			flush()
			type row struct{ actor, target, detail string }
			refusals := func() []row {
				var got []row
				for _, ev := range modelstest.AuditEvents(t, store, models.AuditFilter{Action: models.AuditKeyRefused}) {
					if ev.Actor.Address != "127.0.0.1" || ev.Actor.UserAgent != "broken-scanner/0.9" || ev.Actor.RequestID == "" {
						t.Errorf("refusal of %s: client %+v, want the broken scanner's request", ev.TargetID, ev.Actor)
					}
					got = append(got, row{ev.Actor.Type + " " + ev.Actor.ID, ev.TargetID + " " + ev.TargetLabel, ev.Detail})
				}
				slices.SortFunc(got, func(a, b row) int { return strings.Compare(a.detail, b.detail) })
				return got
			}
			want := []row{
				{"key " + doomed.PublicID, doomed.PublicID + " doomed", "deleted (GET /api/v1/items)"},
				{"key " + paused.PublicID, paused.PublicID + " paused", "disabled (GET /api/v1/auth/verify)"},
				{"key " + expiring.PublicID, expiring.PublicID + " expiring", "expired (GET /api/v1/auth/verify)"},
				{"key " + rotated.PublicID, rotated.PublicID + " rotated", "replaced (GET /api/v1/auth/verify)"},
				{"key " + narrow.PublicID, narrow.PublicID + " narrow", "wrong_scope (GET /api/v1/users)"},
			}
			if got := refusals(); !slices.Equal(got, want) {
				t.Fatalf("refusals recorded:\ngot  %q\nwant %q", got, want)
			}

			clock.advance(time.Hour)
			refuse(second, "/api/v1/auth/verify", pausedSecret, http.StatusUnauthorized)
			refuse(first, "/api/v1/auth/verify", pausedSecret, http.StatusUnauthorized)
			flush()
			if got := len(refusals()); got != len(want)+1 {
				t.Errorf("after the next hour's refusals of one key: %d recorded, want %d", got, len(want)+1)
			}
		})
	}
}

// The page filters by the query string, pages through plain links that htmx follows too, and
// says which filter it did not understand, with 422, rather than failing.
func TestAuditLogPageFiltersAndPages(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		seedAudit(t, app.Store, 60, time.Date(2030, 2, 3, 10, 0, 0, 0, time.UTC))

		res := admin.Get("/admin/audit-log")
		wantStatus(t, res, http.StatusOK)
		page := doc(t, res.Body)
		if got := len(auditRows(t, res.Body)); got != 50 {
			t.Fatalf("first page: %d rows, want 50", got)
		}
		older := page.Find(`[data-testid="page-older"]`)
		href, _ := older.Attr("href")
		hxGet, _ := older.Attr("hx-get")
		push, _ := older.Attr("hx-push-url")
		if href == "" || hxGet != href || push != "true" || page.Find(`[data-testid="page-newer"]`).Length() != 0 {
			t.Fatalf("first page's links: older href %q hx-get %q hx-push-url %q, want the same address pushed, and no newer link", href, hxGet, push)
		}

		res = admin.Get(href)
		wantStatus(t, res, http.StatusOK)
		if got := len(auditRows(t, res.Body)); got != 12 || !strings.Contains(res.Body, "<html") {
			t.Fatalf("second page without htmx: %d rows, want the whole page with the other 12", got)
		}
		newer, _ := doc(t, res.Body).Find(`[data-testid="page-newer"]`).Attr("href")
		if doc(t, res.Body).Find(`[data-testid="page-older"]`).Length() != 0 || newer == "" {
			t.Errorf("second page's links: newer %q, older shown %t; want a newer link only", newer, doc(t, res.Body).Find(`[data-testid="page-older"]`).Length() != 0)
		}
		res = admin.HTMX(http.MethodGet, href, "audit-log", nil)
		wantStatus(t, res, http.StatusOK)
		if got := len(auditRows(t, res.Body)); got != 12 || strings.Contains(res.Body, "<html") || !strings.Contains(res.Body, `id="audit-log"`) {
			t.Errorf("second page with htmx: %d rows, want the region alone with 12", got)
		}
		res = admin.Get(newer)
		if got := len(auditRows(t, res.Body)); got != 50 {
			t.Errorf("back to the newer page: %d rows, want 50", got)
		}

		for _, tc := range []struct {
			query string
			rows  int
			each  string
		}{
			{"action=key.deleted", 30, models.AuditKeyDeleted},
			{"action=key", 60, ""},
			{"actor=ops&key=ak_seed000000000007", 1, models.AuditKeyDeleted},
			{"actor=" + url.QueryEscape(adminEmail), 1, models.AuditSignedIn},
			{"from=2030-02-03&to=2030-02-03&action=key.created", 30, models.AuditKeyCreated},
			{"from=2030-02-04", 0, ""},
		} {
			res := admin.Get("/admin/audit-log?" + tc.query)
			wantStatus(t, res, http.StatusOK)
			rows := auditRows(t, res.Body)
			if len(rows) != min(tc.rows, 50) || tc.each != "" && slices.ContainsFunc(rows, func(a string) bool { return a != tc.each }) {
				t.Errorf("?%s: got rows %v, want %d of %q", tc.query, rows, tc.rows, tc.each)
			}
		}
		if value, _ := doc(t, admin.Get("/admin/audit-log?action=key.deleted").Body).Find(`select[name="action"] option[selected]`).Attr("value"); value != "key.deleted" {
			t.Errorf("the action filter's field: got %q, want what was asked", value)
		}

		for _, tc := range []struct{ query, field string }{
			{"from=yesterday", "from"},
			{"to=2030-13-01", "to"},
			{"from=2030-02-04&to=2030-02-02", "to"},
			{"action=Key.Deleted", "action"},
			{"key=not-a-key", "key"},
			{"before=abc", "before"},
			{"after=-3", "after"},
		} {
			for _, htmx := range []bool{false, true} {
				res := admin.Get("/admin/audit-log?" + tc.query)
				if htmx {
					res = admin.HTMX(http.MethodGet, "/admin/audit-log?"+tc.query, "audit-log", nil)
				}
				wantStatus(t, res, http.StatusUnprocessableEntity)
				message := doc(t, res.Body).Find(`[data-testid="audit-filter-error"]`).Text()
				if !strings.Contains(message, "“"+tc.field+"”") || len(auditRows(t, res.Body)) != 0 {
					t.Errorf("?%s (htmx %t): message %q, want one naming %s and no rows", tc.query, htmx, message, tc.field)
				}
			}
		}
	})
}
