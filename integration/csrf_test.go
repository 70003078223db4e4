package integration

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// storedKeyCount is how many keys the store holds.
func storedKeyCount(t *testing.T, app *apptest.App) int64 {
	t.Helper()
	page, err := app.Store.ListAPIKeys(context.Background(), models.APIKeyQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return page.Total
}

// A cookie-injecting attacker takes a seed and its token from a browser of their own and
// plants the seed in the victim's browser: the pair must not work beside the victim's session.
func TestCSRFPairFromAnotherBrowserIsRefused(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, victim *apptest.Client) {
		anonymous := app.Client(t)
		anonymous.Get("/login")
		app.CreateUser(t, "mallory@example.com", models.PermissionConnectivityAdmin)
		mallory := app.Client(t)
		mallory.Login("mallory@example.com")
		mallory.Get("/admin/api-keys")
		victimSession := victim.Cookie("keysmith_session")

		// send posts the create form for a key named after the attempt, with the victim's
		// session cookie beside the given seed, the token in the body or in the header.
		send := func(name, seed, token, via string) *apptest.Response {
			headers := map[string]string{
				"Content-Type": "application/x-www-form-urlencoded",
				"Cookie":       "keysmith_session=" + victimSession + "; keysmith_csrf=" + seed,
			}
			form := createForm(name+" via the "+via, models.ScopeManageDocumentation, "30d")
			if via == "header" {
				headers["X-CSRF-Token"] = token
			} else {
				form.Set("_csrf", token)
			}
			// A fresh client: only the cookies above are sent.
			return app.Client(t).Do(http.MethodPost, "/admin/api-keys", strings.NewReader(form.Encode()), headers)
		}
		pairs := []struct{ name, seed, token string }{
			{"another browser's pre-session pair", anonymous.Cookie("keysmith_csrf"), anonymous.CSRF},
			{"another signed-in browser's pair", mallory.Cookie("keysmith_csrf"), mallory.CSRF},
		}
		for _, pair := range pairs {
			if pair.seed == "" || pair.token == "" {
				t.Fatalf("%s: got seed %q and token %q, want both", pair.name, pair.seed, pair.token)
			}
			for _, via := range []string{"body", "header"} {
				if res := send(pair.name, pair.seed, pair.token, via); res.StatusCode != http.StatusForbidden {
					t.Errorf("%s in the %s: got status %d, want %d", pair.name, via, res.StatusCode, http.StatusForbidden)
				}
			}
		}
		if got := storedKeyCount(t, app); got != 0 {
			t.Fatalf("got %d keys created with another browser's CSRF pair, want 0", got)
		}
		// The victim's own pair, sent the same way, works: the pair alone made the difference.
		if res := send("the victim's own pair", victim.Cookie("keysmith_csrf"), victim.CSRF, "body"); res.StatusCode != http.StatusOK {
			t.Fatalf("the victim's own pair: got status %d, want %d; body %.300s", res.StatusCode, http.StatusOK, res.Body)
		}
	})
}

// Sign-in renews the token and the seed: what a browser held before works no more after it,
// and what it held while signed in works no more after sign-out.
func TestCSRFTokenRenewedAtSignInAndSignOut(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			app := apptest.New(t, target)
			app.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
			browser := app.Client(t)
			// signInWith posts the sign-in form with the given token; "" sends the client's.
			signInWith := func(token string) *apptest.Response {
				form := url.Values{"email": {adminEmail}, "password": {apptest.DefaultPassword}}
				if token != "" {
					form.Set("_csrf", token)
				}
				return browser.Post("/login", form)
			}
			browser.Get("/login")
			seedBeforeSignIn, tokenBeforeSignIn := browser.Cookie("keysmith_csrf"), browser.CSRF
			wantStatus(t, signInWith(""), http.StatusSeeOther)
			if got := browser.Cookie("keysmith_csrf"); got == seedBeforeSignIn {
				t.Errorf("seed after sign-in: got %q, the seed from before; want a new one", got)
			}
			wantStatus(t, browser.Post("/admin/api-keys", createForm("with the old token", models.ScopeManageDocumentation, "30d")), http.StatusForbidden)
			if got := storedKeyCount(t, app); got != 0 {
				t.Fatalf("got %d keys created with the token from before sign-in, want 0", got)
			}

			browser.Get("/admin/api-keys")
			tokenSignedIn := browser.CSRF
			if tokenSignedIn == tokenBeforeSignIn {
				t.Fatalf("token after sign-in: got %q, the token from before; want a new one", tokenSignedIn)
			}
			wantStatus(t, browser.Post("/admin/api-keys", createForm("with the new token", models.ScopeManageDocumentation, "30d")), http.StatusOK)

			browser.Get("/admin/api-keys")
			seedSignedIn := browser.Cookie("keysmith_csrf")
			wantStatus(t, browser.Post("/logout", nil), http.StatusSeeOther)
			if got := browser.Cookie("keysmith_csrf"); got == seedSignedIn {
				t.Errorf("seed after sign-out: got %q, the seed from before; want a new one", got)
			}
			for name, token := range map[string]string{"the signed-in session's token": tokenSignedIn, "the token from before sign-in": tokenBeforeSignIn} {
				if res := signInWith(token); res.StatusCode != http.StatusForbidden {
					t.Errorf("sign-in after sign-out with %s: got status %d, want %d", name, res.StatusCode, http.StatusForbidden)
				}
			}
			browser.Get("/login")
			wantStatus(t, signInWith(""), http.StatusSeeOther)
		})
	}
}

// The token is read from the body, urlencoded or multipart, or from the header; never from
// the query string, which ends up in logs, history and Referer headers.
func TestCSRFTokenIsNeverReadFromTheQueryString(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		query := "?_csrf=" + url.QueryEscape(admin.CSRF)
		form := createForm("token in the query", models.ScopeManageDocumentation, "30d")
		res := admin.Do(http.MethodPost, "/admin/api-keys"+query, strings.NewReader(form.Encode()),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		wantStatus(t, res, http.StatusForbidden)
		key, _ := createKey(t, app.Store, "kept")
		res = admin.Do(http.MethodDelete, "/admin/api-keys/"+key.PublicID+query, nil, map[string]string{"HX-Request": "true"})
		wantStatus(t, res, http.StatusForbidden)
		if got := storedKeyCount(t, app); got != 1 {
			t.Fatalf("got %d keys after requests with the token in the query only, want 1 (the kept key)", got)
		}

		var body bytes.Buffer
		multi := multipart.NewWriter(&body)
		for name, value := range map[string]string{"name": "multipart", "scope": string(models.ScopeManageDocumentation), "expires_in": "30d", "_csrf": admin.CSRF} {
			if err := multi.WriteField(name, value); err != nil {
				t.Fatal(err)
			}
		}
		if err := multi.Close(); err != nil {
			t.Fatal(err)
		}
		res = admin.Do(http.MethodPost, "/admin/api-keys", &body, map[string]string{"Content-Type": multi.FormDataContentType()})
		wantStatus(t, res, http.StatusOK)
		if got := storedKeyCount(t, app); got != 2 {
			t.Fatalf("got %d keys after a multipart form with the token, want 2", got)
		}
	})
}

func TestCSRFIsRequired(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		for name, res := range map[string]*apptest.Response{
			"missing token": admin.Post("/admin/api-keys", url.Values{"name": {"x"}, "scope": {"manage-documentation"}, "expires_in": {"30d"}, "_csrf": {""}}),
			"wrong token":   admin.Post("/admin/api-keys", url.Values{"name": {"x"}, "scope": {"manage-documentation"}, "expires_in": {"30d"}, "_csrf": {"forged"}}),
			"cross-site": admin.Do(http.MethodPost, "/admin/api-keys", strings.NewReader(createForm("x", models.ScopeManageDocumentation, "30d").Encode()+"&_csrf="+url.QueryEscape(admin.CSRF)),
				map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site"}),
			"htmx without header": admin.Do(http.MethodDelete, "/admin/api-keys/ak_whatever", nil, map[string]string{"HX-Request": "true"}),
		} {
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("%s: status %d, want 403", name, res.StatusCode)
			}
		}
		if page, _ := app.Store.ListAPIKeys(context.Background(), models.APIKeyQuery{}); page.Total != 0 {
			t.Errorf("%d keys created without a valid CSRF token", page.Total)
		}
		visitor := app.Client(t)
		res := visitor.Post("/login", url.Values{"email": {adminEmail}, "password": {apptest.DefaultPassword}, "_csrf": {"nope"}})
		wantStatus(t, res, http.StatusForbidden)
		// The same token with the header works, as htmx sends it.
		res = admin.HTMX(http.MethodPost, "/admin/api-keys", "dialog-slot", createForm("via header", models.ScopeManageDocumentation, "30d"))
		wantStatus(t, res, http.StatusOK)
	})
}
