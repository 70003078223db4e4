package integration

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"keysmith/app/apptest"
	"keysmith/config"
)

func TestSessionRenewedOnLoginAndEndedByLogout(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		before := admin.Cookie("keysmith_session")
		if before == "" {
			t.Fatal("no session cookie after login")
		}
		admin.Login(adminEmail)
		after := admin.Cookie("keysmith_session")
		if after == before {
			t.Fatal("logging in again kept the same session")
		}
		replay := func(cookie string) *apptest.Response {
			c := app.Client(t)
			return c.Do(http.MethodGet, "/admin/api-keys", nil, map[string]string{"Cookie": "keysmith_session=" + cookie})
		}
		wantStatus(t, replay(before), http.StatusSeeOther)
		wantStatus(t, replay(after), http.StatusOK)
		admin.Get("/admin/api-keys")
		res := admin.Post("/logout", nil)
		wantStatus(t, res, http.StatusSeeOther)
		if res := replay(after); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
			t.Errorf("replayed cookie after logout: status %d to %q, want 303 to /login", res.StatusCode, res.Header.Get("Location"))
		}
	})
}

func TestSessionCookieFlags(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, _ *apptest.Client) {
		c := app.Client(t)
		c.Get("/login")
		res := c.Post("/login", url.Values{"email": {adminEmail}, "password": {apptest.DefaultPassword}})
		var found bool
		for _, cookie := range res.Cookies() {
			if cookie.Name != "__Host-keysmith_session" {
				continue
			}
			found = true
			if !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" || cookie.Domain != "" {
				t.Errorf("cookie %+v: want HttpOnly, Secure, SameSite=Strict, Path=/ and no Domain", cookie)
			}
		}
		if !found {
			t.Errorf("no __Host-keysmith_session cookie with an https base URL; got %v", res.Cookies())
		}
	}, func(cfg *config.Config) { cfg.BaseURL, _ = url.Parse("https://keys.example.com") })
}

func TestIdleAndAbsoluteTimeouts(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		start := time.Now()
		now := start
		app.Store.SetClock(func() time.Time { return now })
		admin.Login(adminEmail)
		for now = start; now.Before(start.Add(2 * time.Hour)); now = now.Add(25 * time.Minute) {
			wantStatus(t, admin.Get("/admin/api-keys"), http.StatusOK)
		}
		now = now.Add(31 * time.Minute)
		wantStatus(t, admin.Get("/admin/api-keys"), http.StatusSeeOther)

		admin.Login(adminEmail)
		start = now
		for ; now.Before(start.Add(8 * time.Hour)); now = now.Add(20 * time.Minute) {
			wantStatus(t, admin.Get("/admin/api-keys"), http.StatusOK)
		}
		now = start.Add(8*time.Hour + time.Minute)
		wantStatus(t, admin.Get("/admin/api-keys"), http.StatusSeeOther)
	})
}
