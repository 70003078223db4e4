package integration

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keysmith/app/apptest"
	"keysmith/models"
)

// Every error answer, whoever writes it (a handler, Echo's router, the body limit, the CSRF
// check, the static file server), tells caches not to keep it.
func TestErrorAnswersAreNeverStored(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		app.CreateUser(t, "reader@example.com", models.PermissionNone)
		reader := app.Client(t)
		reader.Login("reader@example.com")
		visitor := app.Client(t)
		visitor.Get("/login")
		guesser := app.Client(t)
		guesser.Get("/login")
		wrong := url.Values{"email": {adminEmail}, "password": {"not the password"}}
		for range 5 { // the throttle allows an account five failures from one address
			guesser.Post("/login", wrong)
		}
		form := createForm("too large", models.ScopeManageDocumentation, "30d")
		form.Set("description", strings.Repeat("x", 100_000))

		cases := []struct {
			name   string
			do     func() *apptest.Response
			status int
		}{
			{"page not found", func() *apptest.Response { return visitor.Get("/no-such-page") }, http.StatusNotFound},
			{"page not found, HEAD", func() *apptest.Response {
				return visitor.Do(http.MethodHead, "/no-such-page", nil, nil)
			}, http.StatusNotFound},
			{"page not found over htmx", func() *apptest.Response {
				return visitor.Do(http.MethodGet, "/no-such-page", nil, map[string]string{"HX-Request": "true"})
			}, http.StatusNotFound},
			{"method not allowed", func() *apptest.Response {
				return visitor.Do(madeUpMethod, "/healthz", nil, nil)
			}, http.StatusMethodNotAllowed},
			{"CSRF token refused", func() *apptest.Response {
				return visitor.Post("/login", url.Values{"email": {adminEmail}, "password": {"x"}, "_csrf": {"forged"}})
			}, http.StatusForbidden},
			{"sign-in throttled", func() *apptest.Response { return guesser.Post("/login", wrong) }, http.StatusTooManyRequests},
			{"permission missing", func() *apptest.Response { return reader.Get("/admin/api-keys") }, http.StatusForbidden},
			{"key not found over htmx", func() *apptest.Response {
				return admin.HTMX(http.MethodGet, "/admin/api-keys/ak_nosuchkey/delete", "dialog-slot", nil)
			}, http.StatusNotFound},
			{"form too large", func() *apptest.Response { return admin.Post("/admin/api-keys", form) }, http.StatusRequestEntityTooLarge},
			{"API route not found", func() *apptest.Response { return visitor.Get("/api/v1/no-such-thing") }, http.StatusNotFound},
			{"API key missing", func() *apptest.Response { return visitor.Get("/api/v1/items") }, http.StatusUnauthorized},
			{"static file not found", func() *apptest.Response { return visitor.Get("/static/no-such-file.css?v=0123456789ab") }, http.StatusNotFound},
			{"static directory", func() *apptest.Response { return visitor.Get("/static/?v=0123456789ab") }, http.StatusNotFound},
			{"static range not satisfiable", func() *apptest.Response {
				return visitor.Do(http.MethodGet, "/static/app.css?v=0123456789ab", nil, map[string]string{"Range": "bytes=99999999-"})
			}, http.StatusRequestedRangeNotSatisfiable},
		}
		for _, tc := range cases {
			res := tc.do()
			if res.StatusCode != tc.status {
				t.Errorf("%s: got status %d, want %d", tc.name, res.StatusCode, tc.status)
				continue
			}
			if got := res.Header.Values("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
				t.Errorf("%s: got Cache-Control %q, want %q", tc.name, got, "no-store")
			}
		}

		// A static file that is found is still kept for ever under its checksummed URL.
		res := visitor.Get("/static/app.css?v=0123456789ab")
		if got, want := res.Header.Get("Cache-Control"), "public, max-age=31536000, immutable"; res.StatusCode != http.StatusOK || got != want {
			t.Errorf("static file: got status %d with Cache-Control %q, want %d with %q", res.StatusCode, got, http.StatusOK, want)
		}
	})
}
