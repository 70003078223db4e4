package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"keysmith/handlers/handlerstest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// After a run through every action the audit log records, no audit event, no log line and no
// page (but the two that must: the setup link's, and the one that shows a new secret once)
// holds a key's secret, a password, the setup token or a cookie's value.
func TestNoSecretReachesTheAuditLogTheLogOrAPage(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			ctx := context.Background()
			app := handlerstest.New(t, target)
			clock := setClock(nextSecond(), app.Store)
			var secrets, pages []string
			keep := func(res *handlerstest.Response, want int) *handlerstest.Response {
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
			api := func(path, secret string, want int) *handlerstest.Response {
				t.Helper()
				return keep(app.Client(t).Do(http.MethodGet, path, nil, map[string]string{"X-API-SECRET": secret}), want)
			}
			api("/api/v1/items", doomedSecret, http.StatusUnauthorized)
			api("/api/v1/users", narrowSecret, http.StatusForbidden)
			api("/api/v1/auth/verify", firstSecret, http.StatusUnauthorized)
			api("/api/v1/auth/verify", pausedSecret, http.StatusUnauthorized)
			if err := app.Server.Keys.FlushRefusals(ctx); err != nil {
				t.Fatal(err)
			}
			api("/api/v1/audit-events?limit=1000", feedSecret, http.StatusOK)

			// The cookies' values, before and after signing in again.
			cookies := func() {
				t.Helper()
				for _, name := range []string{"keysmith_session", "keysmith_csrf"} {
					for _, c := range []*handlerstest.Client{root, attacker} {
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

			events := auditTrail(t, app.Store, models.AuditFilter{})
			recorded := map[string]bool{}
			for _, ev := range events {
				recorded[ev.Action] = true
			}
			for _, action := range []string{models.AuditSetupCompleted, models.AuditSignedIn, models.AuditSignInFailed, models.AuditSignInThrottled,
				models.AuditKeyCreated, models.AuditKeyRotated, models.AuditKeyGraceEnded, models.AuditKeyDisabled, models.AuditKeyEnabled,
				models.AuditKeyDeleted, models.AuditKeyRefused, models.AuditSignedOut} {
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
