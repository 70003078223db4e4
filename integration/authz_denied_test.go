package integration

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// deniedEvents are the authz.denied events recorded so far, oldest first.
func deniedEvents(t *testing.T, store *models.Store) []models.AuditEvent {
	t.Helper()
	return modelstest.AuditEvents(t, store, models.AuditFilter{Action: models.AuditAuthzDenied})
}

// Every console request refused is recorded as authz.denied with its route, the path and
// why: a permission the account lacks (Users for a Connectivity admin), a guard rail (one's
// own account), a missing or wrong CSRF token or a cross-site request, by the signed-in user
// or, for a visitor, from their address. The audit log shows them, route and all.
func TestRefusedConsoleRequestsAreAudited(t *testing.T) {
	eachSuperAdmin(t, func(t *testing.T, app *apptest.App, root *apptest.Client, rootUser *models.User) {
		const connEmail = "conn@example.com"
		app.CreateUser(t, connEmail, models.PermissionConnectivityAdmin)
		conn := app.Client(t)
		conn.Login(connEmail)
		conn.Get("/admin/api-keys")
		rootID := strconv.FormatInt(rootUser.ID, 10)
		visitor := app.Client(t)
		visitor.Get("/login")

		type want struct{ actor, route, path, detail string }
		var wants []want
		refuse := func(res *apptest.Response, status int, w want) {
			t.Helper()
			wantStatus(t, res, status)
			wants = append(wants, w)
		}
		refuse(conn.Post("/admin/users/"+rootID+"/permission", url.Values{"permission": {"super-admin"}}), http.StatusForbidden,
			want{connEmail, "POST /admin/users/:id/permission", "/admin/users/" + rootID + "/permission", "permission: needs super-admin, has connectivity-admin"})
		refuse(conn.Get("/admin/users"), http.StatusForbidden,
			want{connEmail, "GET /admin/users", "/admin/users", "permission: needs super-admin, has connectivity-admin"})
		refuse(root.Post(userPath(rootUser.ID, "permission"), url.Values{"permission": {"none"}}), http.StatusConflict,
			want{rootEmail, "POST /admin/users/:id/permission", "/admin/users/" + rootID + "/permission", "guard_rail: own account"})
		refuse(root.Post(userPath(rootUser.ID, "disable"), nil), http.StatusConflict,
			want{rootEmail, "POST /admin/users/:id/disable", "/admin/users/" + rootID + "/disable", "guard_rail: own account"})
		refuse(visitor.Post("/login", url.Values{"email": {"a@example.com"}, "password": {"x"}, "_csrf": {""}}), http.StatusForbidden,
			want{"", "POST /login", "/login", "csrf: no token"})
		refuse(conn.Post("/admin/users/"+rootID+"/disable", url.Values{"_csrf": {"forged"}}), http.StatusForbidden,
			want{connEmail, "POST /admin/users/:id/disable", "/admin/users/" + rootID + "/disable", "csrf: wrong token"})
		crossSite := conn.Do(http.MethodPost, "/admin/api-keys", strings.NewReader(createForm("x", models.ScopeReadOnly, "30d").Encode()+"&_csrf="+url.QueryEscape(conn.CSRF)),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site"})
		refuse(crossSite, http.StatusForbidden, want{connEmail, "POST /admin/api-keys", "/admin/api-keys", "csrf: sent from another site"})

		events := deniedEvents(t, app.Store)
		if len(events) != len(wants) {
			t.Fatalf("authz.denied events: got %d, want %d: %+v", len(events), len(wants), events)
		}
		for i, ev := range events {
			w := wants[i]
			actorOK := ev.Actor.Type == models.ActorUser && ev.Actor.Label == w.actor
			if w.actor == "" {
				actorOK = ev.Actor.Type == models.ActorAnonymous && ev.Actor.Address == "127.0.0.1"
			}
			if !actorOK || ev.TargetType != models.TargetRoute || ev.TargetID != w.route || ev.TargetLabel != w.path || ev.Detail != w.detail {
				t.Errorf("event %d: got actor %+v, target %s %q %q, detail %q; want by %q, route %q, path %q, detail %q",
					i, ev.Actor, ev.TargetType, ev.TargetID, ev.TargetLabel, ev.Detail, w.actor, w.route, w.path, w.detail)
			}
		}
		if !signedIn(t, root) || !signedIn(t, conn) {
			t.Error("a refusal signed someone out")
		}

		res := root.Get("/admin/audit-log?action=authz")
		wantStatus(t, res, http.StatusOK)
		rows := doc(t, res.Body).Find(`[data-testid="audit-event"][data-action="authz.denied"]`)
		if rows.Length() != len(wants) {
			t.Fatalf("audit log filtered on authz: %d rows, want %d", rows.Length(), len(wants))
		}
		newest := rows.First()
		if got := newest.Find(`[data-testid="audit-route"]`).Text(); got != "POST /admin/api-keys" {
			t.Errorf("newest row's route: got %q, want %q", got, "POST /admin/api-keys")
		}
		if got := strings.TrimSpace(newest.Find(`[data-testid="audit-detail"]`).Text()); got != "csrf: sent from another site" {
			t.Errorf("newest row's detail: got %q", got)
		}
	})
}

// One actor's refusals are recorded ten an hour one by one, the rest counted; the count of
// the hour still going is written as one summary when the server stops.
func TestRefusalsAreBoundedAndSummedUpAtStop(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			store := modelstest.Open(t, target)
			t.Run("serving", func(t *testing.T) {
				app := apptest.NewOnStore(t, store)
				visitor := app.Client(t)
				visitor.Get("/login")
				for range 14 {
					wantStatus(t, visitor.Post("/login", url.Values{"email": {"a@example.com"}, "password": {"x"}, "_csrf": {"forged"}}), http.StatusForbidden)
				}
				if got := len(deniedEvents(t, store)); got != 10 {
					t.Errorf("authz.denied events while serving: got %d, want 10", got)
				}
			})
			// The server has stopped.
			events := deniedEvents(t, store)
			if len(events) != 11 {
				t.Fatalf("authz.denied events after the stop: got %d, want 10 and a summary", len(events))
			}
			summary := events[10]
			if !strings.HasPrefix(summary.Detail, "4 more refusals by this actor in the hour from ") ||
				!strings.HasSuffix(summary.Detail, "not recorded one by one: csrf POST /login 4") ||
				summary.Actor.Type != models.ActorAnonymous || summary.Actor.Address != "127.0.0.1" {
				t.Errorf("summary at the stop: got %+v, want 4 more csrf refusals from 127.0.0.1", summary)
			}
		})
	}
}
