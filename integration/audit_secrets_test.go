package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// After a run through every action the audit log records, no audit event, no log line and no
// page (but those that must: the setup link's, a one-time link's, and the one that shows a new
// secret once) holds a key's secret, a password, the setup token, a one-time link's token or a
// cookie's value.
func TestNoSecretReachesTheAuditLogTheLogOrAPage(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			ctx := context.Background()
			app := apptest.New(t, target)
			clock := setClock(nextSecond(), app.Store)
			var secrets, pages []string
			keep := func(res *apptest.Response, want int) *apptest.Response {
				t.Helper()
				wantStatus(t, res, want)
				pages = append(pages, res.Request.Method+" "+res.Request.URL.String()+"\n"+res.Header.Get("Location")+"\n"+res.Body)
				return res
			}

			// Setup, through the link the log would print.
			token, err := app.Store.CreateSetupToken(ctx)
			if err != nil {
				t.Fatal(err)
			}
			const rootPassword = "root's own long passphrase"
			secrets = append(secrets, token, rootPassword)
			root := app.Client(t)
			wantStatus(t, root.Get("/setup?token="+url.QueryEscape(token)), http.StatusOK)
			keep(root.Post("/setup", url.Values{"token": {token}, "email": {"root@example.com"}, "name": {"Root"}, "password": {rootPassword}}), http.StatusSeeOther)
			keep(root.Get("/admin/api-keys"), http.StatusOK)

			// Failed sign-ins, malformed and throttled ones.
			const wrongPassword = "a wrong but plausible passphrase"
			secrets = append(secrets, wrongPassword)
			attacker := app.ClientFrom(t, "127.0.0.5")
			attacker.Get("/login")
			for range 5 {
				keep(attacker.Post("/login", signInForm("root@example.com", wrongPassword)), http.StatusUnauthorized)
			}
			keep(attacker.Post("/login", signInForm("root@example.com", wrongPassword)), http.StatusTooManyRequests)
			keep(attacker.Post("/login", signInForm("nobody@example.com", wrongPassword)), http.StatusUnauthorized)
			keep(attacker.Post("/login", signInForm("no\x00body@example.com", wrongPassword)), http.StatusUnprocessableEntity)

			// Every key action in the console; each new secret is shown once, and remembered.
			create := func(name string, scope models.Scope) (*models.APIKey, string) {
				t.Helper()
				res := root.Post("/admin/api-keys", createForm(name, scope, "30d"))
				wantStatus(t, res, http.StatusOK)
				secret := rotatedSecret(t, res)
				secrets = append(secrets, secret)
				key, err := app.Store.APIKeyBySecretHash(ctx, models.HashSecret(secret))
				if err != nil {
					t.Fatal(err)
				}
				root.Get("/admin/api-keys")
				return key, secret
			}
			rotate := func(key *models.APIKey, grace models.Grace) string {
				t.Helper()
				res := root.Post("/admin/api-keys/"+key.PublicID+"/rotate", rotateForm(grace, "30d"))
				wantStatus(t, res, http.StatusOK)
				secret := rotatedSecret(t, res)
				secrets = append(secrets, secret)
				root.Get("/admin/api-keys")
				return secret
			}
			feed, _ := create("siem feed", models.ScopeAdmin)
			firstSecret := secrets[len(secrets)-1]
			rotate(feed, models.GraceHour)
			feedSecret := rotate(feed, models.GraceHour)
			keep(root.Post("/admin/api-keys/"+feed.PublicID+"/disable", url.Values{}), http.StatusSeeOther)
			keep(root.Post("/admin/api-keys/"+feed.PublicID+"/enable", url.Values{}), http.StatusSeeOther)
			doomed, doomedSecret := create("doomed", models.ScopeReadOnly)
			keep(root.Post("/admin/api-keys/"+doomed.PublicID+"/delete", url.Values{}), http.StatusSeeOther)
			_, narrowSecret := create("narrow", models.ScopeReadOnly)
			paused, pausedSecret := create("paused", models.ScopeScanner)
			keep(root.Post("/admin/api-keys/"+paused.PublicID+"/disable", url.Values{}), http.StatusSeeOther)

			// The API's refusals, and the feed read with a key.
			api := func(path, secret string, want int) *apptest.Response {
				t.Helper()
				return keep(app.Client(t).Do(http.MethodGet, path, nil, map[string]string{"X-API-SECRET": secret}), want)
			}
			api("/api/v1/items", doomedSecret, http.StatusUnauthorized)
			api("/api/v1/users", narrowSecret, http.StatusForbidden)
			api("/api/v1/auth/verify", firstSecret, http.StatusUnauthorized)
			api("/api/v1/auth/verify", pausedSecret, http.StatusUnauthorized)
			if err := app.Keys.FlushRefusals(ctx); err != nil {
				t.Fatal(err)
			}
			api("/api/v1/audit-events?limit=1000", feedSecret, http.StatusOK)

			// Every user action: an invitation, its link used, a sign-in, a password changed on
			// Your account, another session ended there, a permission changed, a reset link,
			// disable and enable. The pages that show a one-time link, and the link's own page,
			// hold its token by design: they are not kept.
			invite := root.Post("/admin/users", url.Values{"email": {"ada@example.com"}, "name": {"Ada"}, "permission": {"connectivity-admin"}})
			wantStatus(t, invite, http.StatusOK)
			_, inviteToken := linkPath(t, invite.Body)
			const adaPassword, adaNewPassword = "ada's own long passphrase", "ada's second long passphrase"
			secrets = append(secrets, inviteToken, adaPassword, adaNewPassword)
			ada := app.Client(t)
			wantStatus(t, ada.Get("/set-password?token="+url.QueryEscape(inviteToken)), http.StatusOK)
			keep(ada.Post("/set-password", url.Values{"token": {inviteToken}, "password": {adaPassword}, "password_confirm": {adaPassword}}), http.StatusSeeOther)
			signInWith(t, app, "ada@example.com", adaPassword) // a second browser, which the change of password signs out
			ada.Get("/login")
			keep(ada.Post("/login", signInForm("ada@example.com", adaPassword)), http.StatusSeeOther)
			keep(ada.Get("/account"), http.StatusOK)
			keep(ada.Post("/account/password", passwordForm(adaPassword, adaNewPassword, adaNewPassword)), http.StatusSeeOther)
			adaElsewhere := signInWith(t, app, "ada@example.com", adaNewPassword)
			secrets = append(secrets, adaElsewhere.Cookie("keysmith_session"))
			sessions := doc(t, keep(ada.Get("/account"), http.StatusOK).Body)
			end, _ := sessions.Find(`[data-testid="session-row"]:not([data-current]) form`).Attr("action")
			keep(ada.Post(end, nil), http.StatusSeeOther)
			adaUser, err := app.Store.UserByEmail(ctx, "ada@example.com")
			if err != nil {
				t.Fatal(err)
			}
			keep(root.Post(userPath(adaUser.ID, "permission"), url.Values{"permission": {"none"}}), http.StatusSeeOther)
			reset := root.Post(userPath(adaUser.ID, "reset-link"), nil)
			wantStatus(t, reset, http.StatusOK)
			_, resetToken := linkPath(t, reset.Body)
			secrets = append(secrets, resetToken)
			keep(root.Get("/admin/users"), http.StatusOK)
			keep(root.Post(userPath(adaUser.ID, "disable"), nil), http.StatusSeeOther)
			keep(root.Post(userPath(adaUser.ID, "enable"), nil), http.StatusSeeOther)
			keep(root.Get("/admin/users"), http.StatusOK)

			// The cookies' values, before and after signing in again.
			cookies := func() {
				t.Helper()
				for _, name := range []string{"keysmith_session", "keysmith_csrf"} {
					for _, c := range []*apptest.Client{root, attacker, ada} {
						if value := c.Cookie(name); value != "" {
							secrets = append(secrets, value)
						}
					}
				}
			}
			cookies()

			// The end of a grace, by Keysmith, two hours later: root's session is over by then.
			clock.advance(2 * time.Hour)
			if ended, err := app.Store.EndOverGraces(ctx); err != nil || ended != 1 {
				t.Fatalf("end over graces: got %d, %v; want 1", ended, err)
			}
			// What a job does every few seconds: the attacker's sixth refusal and later ones
			// were counted, not recorded one by one.
			if _, err := app.Store.RecordSignInSummaries(ctx); err != nil {
				t.Fatal(err)
			}
			keep(root.Get("/login"), http.StatusOK)
			keep(root.Post("/login", signInForm("root@example.com", rootPassword)), http.StatusSeeOther)
			cookies()

			// The audit log in the console, its export, and signing out.
			keep(root.Get("/admin/api-keys"), http.StatusOK)
			keep(root.Get("/admin/audit-log"), http.StatusOK)
			keep(root.Get("/admin/audit-log?action=key"), http.StatusOK)
			keep(root.Get("/admin/audit-log.csv"), http.StatusOK)
			keep(root.Post("/logout", url.Values{}), http.StatusSeeOther)

			events := modelstest.AuditEvents(t, app.Store, models.AuditFilter{})
			recorded := map[string]bool{}
			for _, ev := range events {
				recorded[ev.Action] = true
			}
			for _, action := range []string{models.AuditSetupCompleted, models.AuditSignedIn, models.AuditSignInFailed, models.AuditSignInThrottled,
				models.AuditKeyCreated, models.AuditKeyRotated, models.AuditKeyGraceEnded, models.AuditKeyDisabled, models.AuditKeyEnabled,
				models.AuditKeyDeleted, models.AuditKeyRefused, models.AuditSignedOut,
				models.AuditUserCreated, models.AuditUserActivated, models.AuditUserPasswordChanged, models.AuditSessionEnded,
				models.AuditUserPermissionChanged, models.AuditUserResetLink, models.AuditUserDisabled, models.AuditUserEnabled} {
				if !recorded[action] {
					t.Errorf("the run recorded no %s", action)
				}
			}
			encoded, err := json.Marshal(events)
			if err != nil {
				t.Fatal(err)
			}
			for where, text := range map[string]string{"the audit log": string(encoded), "the server's log": app.Logs(), "the pages": strings.Join(pages, "\n")} {
				if text == "" {
					t.Fatalf("%s: empty, nothing to check", where)
				}
				for _, secret := range secrets {
					if strings.Contains(text, secret) {
						t.Errorf("%s holds %q", where, secret)
					}
				}
			}
		})
	}
}
