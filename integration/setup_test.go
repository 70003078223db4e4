package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"keysmith/app/apptest"
	"keysmith/models/modelstest"
)

// wantSetupDone checks that res is the 409 page saying that setup is done, with a way to sign in.
func wantSetupDone(t *testing.T, res *apptest.Response) {
	t.Helper()
	wantStatus(t, res, http.StatusConflict)
	page := doc(t, res.Body)
	if page.Find(`[data-testid="setup-done"]`).Length() != 1 {
		t.Errorf("%s %s: want the page saying setup is done:\n%s", res.Request.Method, res.Request.URL.Path, res.Body)
	}
	if href, _ := page.Find(`[data-testid="setup-sign-in"]`).Attr("href"); href != "/login" {
		t.Errorf("%s %s: link to sign in %q, want /login", res.Request.Method, res.Request.URL.Path, href)
	}
}

// Two instances started on an empty database each print setup links; used at once, they
// create exactly one Super admin, and every other is told that setup is done (409), as is any
// link opened or sent afterwards.
func TestParallelSetupLinksMakeOneSuperAdmin(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			first := apptest.New(t, target)
			second := apptest.NewOnStore(t, modelstest.Open(t, target))
			const links = 6
			visitors := make([]*apptest.Client, links)
			forms := make([]url.Values, links)
			for i := range links {
				app := []*apptest.App{first, second}[i%2]
				token, err := app.Store.CreateSetupToken(context.Background())
				if err != nil || token == "" {
					t.Fatalf("setup token %d: %q, %v", i, token, err)
				}
				visitors[i] = app.Client(t)
				wantStatus(t, visitors[i].Get("/setup?token="+url.QueryEscape(token)), http.StatusOK)
				forms[i] = url.Values{"token": {token}, "name": {"Root"}, "email": {fmt.Sprintf("root%d@example.com", i)}, "password": {"a long enough password"}}
			}
			responses := make([]*apptest.Response, links)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, visitor := range visitors {
				wg.Go(func() {
					<-start
					responses[i] = visitor.Post("/setup", forms[i])
				})
			}
			close(start)
			wg.Wait()
			created := 0
			for i, res := range responses {
				if res.StatusCode == http.StatusSeeOther {
					created++
					continue
				}
				wantSetupDone(t, res)
				if t.Failed() {
					t.Fatalf("link %d: status %d", i, res.StatusCode)
				}
			}
			users, err := first.Store.CountUsers(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if created != 1 || users != 1 {
				t.Fatalf("links used at once: %d made a Super admin, %d users; want exactly one", created, users)
			}
			late := second.Client(t)
			wantSetupDone(t, late.Get("/setup?token="+url.QueryEscape(forms[0].Get("token"))))
			wantSetupDone(t, late.Get("/setup?token=never-issued"))
			late.Get("/login")
			wantSetupDone(t, late.Post("/setup", forms[1]))
		})
	}
}

func TestSetupLink(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			app := apptest.New(t, target)
			token, err := app.Store.CreateSetupToken(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			visitor := app.Client(t)
			wantStatus(t, visitor.Get("/setup?token=wrong"), http.StatusNotFound)
			wantStatus(t, visitor.Get("/setup?token="+url.QueryEscape(token)), http.StatusOK)
			short := visitor.Post("/setup", url.Values{"token": {token}, "name": {"Root"}, "email": {"root@example.com"}, "password": {"short"}})
			wantStatus(t, short, http.StatusUnprocessableEntity)
			res := visitor.Post("/setup", url.Values{"token": {token}, "name": {"Root"}, "email": {"root@example.com"}, "password": {"a long enough password"}})
			wantStatus(t, res, http.StatusSeeOther)
			wantStatus(t, visitor.Get("/admin/api-keys"), http.StatusOK)
			// Once the first Super admin exists, the link says that setup is done.
			again := app.Client(t)
			wantSetupDone(t, again.Get("/setup?token="+url.QueryEscape(token)))
			if strings.Contains(app.Logs(), token) {
				t.Error("the setup token reached the access log")
			}
		})
	}
}
