package integration

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keysmith/app/apptest"
	"keysmith/models"
)

// rowOf returns the list row of the key with that public id, in a page or in an htmx answer
// that carries the row alone (which an HTML parser keeps only inside a table).
func rowOf(t *testing.T, body, publicID string) *goquery.Selection {
	t.Helper()
	if strings.HasPrefix(strings.TrimSpace(body), "<tr") {
		body = "<table>" + body + "</table>"
	}
	return doc(t, body).Find(`[data-testid="api-key-row"][data-key-id="` + publicID + `"]`)
}

// badgeOf returns the data-status and the text of the key's status badge in the list.
func badgeOf(t *testing.T, body, publicID string) (status, label string) {
	t.Helper()
	badge := rowOf(t, body, publicID).Find(`[data-testid="status-badge"]`)
	if badge.Length() != 1 {
		t.Fatalf("row of %s has %d status badges, want 1:\n%s", publicID, badge.Length(), body)
	}
	status, _ = badge.Attr("data-status")
	return status, strings.TrimSpace(badge.Text())
}

// checkIn checks a scanner in with secret through the API and returns the status code.
func checkIn(t *testing.T, app *apptest.App, secret string) int {
	t.Helper()
	res := app.Client(t).Do(http.MethodPost, "/api/v1/scanners/checkin", strings.NewReader(`{"name":"warehouse-scanner","host":"db1","version":"3.1"}`),
		map[string]string{"X-API-SECRET": secret, "Content-Type": "application/json"})
	return res.StatusCode
}

// Without JavaScript: Disable and Enable are forms in the row that post and come back to the
// list as it was shown, with a notice. A disabled key gets the same 401 as any refused key,
// at once; its scanner shows as down with the reason; enabled, it works again at once.
// Repeating either is harmless.
func TestDisableAndEnableWithoutJavaScript(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		key, secret, err := app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "warehouse", Scope: models.ScopeScanner})
		if err != nil {
			t.Fatal(err)
		}
		if got := checkIn(t, app, secret); got != http.StatusOK {
			t.Fatalf("check-in before disabling: status %d, want %d", got, http.StatusOK)
		}
		unknown := app.Client(t).Do(http.MethodPost, "/api/v1/scanners/checkin", strings.NewReader(`{}`), map[string]string{"X-API-SECRET": models.GenerateSecret()})

		const shown = "/admin/api-keys?q=ware&scope=scanner&sort=name"
		list := admin.Get(shown)
		// Each row has one actions menu, closed, holding Rotate, Disable and Delete in that order.
		menu := rowOf(t, list.Body, key.PublicID).Find(`details[data-testid="row-actions"]`)
		if menu.Length() != 1 || menu.AttrOr("open", "closed") != "closed" {
			t.Fatalf("want one closed actions menu in the key's row:\n%s", list.Body)
		}
		var items []string
		menu.Find(`summary + ul > li [data-testid]`).Each(func(_ int, item *goquery.Selection) { items = append(items, item.AttrOr("data-testid", "")) })
		if got, want := strings.Join(items, " "), "rotate-api-key disable-api-key delete-api-key"; got != want {
			t.Errorf("the actions menu holds %q, want %q", got, want)
		}
		form := menu.Find(`form[action="/admin/api-keys/` + key.PublicID + `/disable"]`)
		if form.Length() != 1 || form.Find(`[data-testid="disable-api-key"]`).Length() != 1 {
			t.Fatalf("no Disable form in the key's row:\n%s", list.Body)
		}
		if got, _ := form.Find(`input[name="return"]`).Attr("value"); got != shown {
			t.Errorf("the Disable form returns to %q, want %q", got, shown)
		}
		if got, _ := form.Find(`input[name="_csrf"]`).Attr("value"); got == "" || got != admin.CSRF {
			t.Errorf("the Disable form carries CSRF token %q, want the page's %q", got, admin.CSRF)
		}

		res := admin.Post("/admin/api-keys/"+key.PublicID+"/disable", url.Values{"return": {shown}})
		wantStatus(t, res, http.StatusSeeOther)
		if got := res.Header.Get("Location"); got != shown {
			t.Errorf("after disable: redirect to %q, want %q", got, shown)
		}
		list = admin.Get(shown)
		if got := doc(t, list.Body).Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "“warehouse” disabled") {
			t.Errorf("notice after disable: got %q, want it to say “warehouse” disabled", got)
		}
		if status, label := badgeOf(t, list.Body, key.PublicID); status != "disabled" || label != "Disabled" {
			t.Errorf("badge after disable: got %q %q, want %q %q", status, label, "disabled", "Disabled")
		}
		if rowOf(t, list.Body, key.PublicID).Find(`form[action="/admin/api-keys/`+key.PublicID+`/enable"] [data-testid="enable-api-key"]`).Length() != 1 {
			t.Errorf("no Enable form in the disabled key's row:\n%s", list.Body)
		}

		refused := app.Client(t).Do(http.MethodPost, "/api/v1/scanners/checkin", strings.NewReader(`{}`), map[string]string{"X-API-SECRET": secret})
		wantStatus(t, refused, http.StatusUnauthorized)
		if got, want := strings.Replace(refused.Body, refused.Header.Get("X-Request-Id"), "", 1), strings.Replace(unknown.Body, unknown.Header.Get("X-Request-Id"), "", 1); got != want {
			t.Errorf("disabled key's 401: got %q, want the unknown key's %q", got, want)
		}
		scanners := admin.Get("/admin/scanners")
		scanner := doc(t, scanners.Body).Find(`[data-testid="scanner-row"]`)
		if status, _ := scanner.Attr("data-status"); status != "down" || scanner.Find(`[data-testid="scanner-down-reason"]`).Text() != "key disabled" {
			t.Errorf("scanner of the disabled key: got status %q, reason %q; want down, %q", status, scanner.Find(`[data-testid="scanner-down-reason"]`).Text(), "key disabled")
		}

		wantStatus(t, admin.Post("/admin/api-keys/"+key.PublicID+"/disable", url.Values{"return": {shown}}), http.StatusSeeOther)
		list = admin.Get(shown)
		if got := doc(t, list.Body).Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "was already disabled") {
			t.Errorf("notice after a second disable: got %q, want it to say it was already disabled", got)
		}
		if got := checkIn(t, app, secret); got != http.StatusUnauthorized {
			t.Errorf("check-in after a second disable: status %d, want %d", got, http.StatusUnauthorized)
		}

		wantStatus(t, admin.Post("/admin/api-keys/"+key.PublicID+"/enable", url.Values{"return": {shown}}), http.StatusSeeOther)
		if got := checkIn(t, app, secret); got != http.StatusOK {
			t.Errorf("check-in right after enable: status %d, want %d", got, http.StatusOK)
		}
		list = admin.Get(shown)
		if got := doc(t, list.Body).Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "“warehouse” enabled") {
			t.Errorf("notice after enable: got %q, want it to say “warehouse” enabled", got)
		}
		if status, _ := badgeOf(t, list.Body, key.PublicID); status != "active" {
			t.Errorf("badge after enable: got %q, want %q", status, "active")
		}
		scanner = doc(t, admin.Get("/admin/scanners").Body).Find(`[data-testid="scanner-row"]`)
		if status, _ := scanner.Attr("data-status"); status != "up" || scanner.Find(`[data-testid="scanner-down-reason"]`).Length() != 0 {
			t.Errorf("scanner after enable: got status %q with reason %q, want up without one", status, scanner.Find(`[data-testid="scanner-down-reason"]`).Text())
		}
		wantStatus(t, admin.Post("/admin/api-keys/"+key.PublicID+"/enable", nil), http.StatusSeeOther)
		if got := checkIn(t, app, secret); got != http.StatusOK {
			t.Errorf("check-in after a second enable: status %d, want %d", got, http.StatusOK)
		}
	})
}

// With htmx the row is swapped in place, with the notice and the banner of expiring keys
// refreshed out of band; the row keeps the list's search, filters and sort in its forms.
func TestDisableOverHTMXSwapsTheRow(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		soon := time.Now().Add(3 * 24 * time.Hour)
		key, secret, err := app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "nightly", Scope: models.ScopeReadOnly, ExpiresAt: &soon})
		if err != nil {
			t.Fatal(err)
		}
		if got := doc(t, admin.Get("/admin/api-keys").Body).Find(`[data-testid="expiry-banner"]`).Text(); !strings.Contains(got, "1 key expires within 7 days") {
			t.Errorf("banner before disable: got %q, want it to count 1 key", got)
		}
		shown := "/admin/api-keys?q=night&sort=expires&status=expires-soon"
		res := admin.Do(http.MethodPost, "/admin/api-keys/"+key.PublicID+"/disable", nil, map[string]string{
			"HX-Request": "true", "X-CSRF-Token": admin.CSRF, "HX-Current-URL": "http://keysmith.example" + shown,
		})
		wantStatus(t, res, http.StatusOK)
		if strings.Contains(res.Body, "<html") {
			t.Fatalf("htmx disable returned a whole page, want the row:\n%s", res.Body)
		}
		if !strings.HasPrefix(strings.TrimSpace(res.Body), "<tr") {
			t.Errorf("htmx disable answer starts %.40q, want the row first (htmx parses a row only in first place)", res.Body)
		}
		if status, _ := badgeOf(t, res.Body, key.PublicID); status != "disabled" {
			t.Errorf("swapped row's badge: got %q, want %q", status, "disabled")
		}
		row := rowOf(t, res.Body, key.PublicID)
		// Disable was chosen from the row's actions menu: the swapped row's menu stays open, so
		// that the focus can stay on its Enable.
		if menu := row.Find(`details[data-testid="row-actions"]`); menu.Length() != 1 || menu.AttrOr("open", "closed") == "closed" ||
			menu.Find(`[data-testid="enable-api-key"]`).Length() != 1 {
			t.Errorf("swapped row: want one open actions menu holding Enable, got:\n%s", res.Body)
		}
		if got, _ := row.Find(`form[action$="/enable"] input[name="return"]`).Attr("value"); got != shown {
			t.Errorf("swapped row's Enable form returns to %q, want the list as shown, %q", got, shown)
		}
		answer := doc(t, res.Body)
		if !strings.Contains(answer.Find(`#flash[hx-swap-oob]`).Text(), "“nightly” disabled") {
			t.Errorf("htmx disable does not say what it did:\n%s", res.Body)
		}
		if banner := answer.Find(`#expiry-banner[hx-swap-oob]`); banner.Length() != 1 || banner.Find(`[data-testid="expiry-banner"]`).Length() != 0 {
			t.Errorf("htmx disable does not empty the banner out of band (a disabled key does not expire soon):\n%s", res.Body)
		}
		if got := app.VerifyStatus(t, secret); got != http.StatusUnauthorized {
			t.Errorf("key after htmx disable: status %d, want %d", got, http.StatusUnauthorized)
		}

		res = admin.HTMX(http.MethodPost, "/admin/api-keys/"+key.PublicID+"/enable", "", nil)
		wantStatus(t, res, http.StatusOK)
		if status, _ := badgeOf(t, res.Body, key.PublicID); status != "expires-soon" {
			t.Errorf("swapped row after enable: got %q, want %q", status, "expires-soon")
		}
		if got := doc(t, res.Body).Find(`#expiry-banner[hx-swap-oob] [data-testid="expiry-banner"]`).Text(); !strings.Contains(got, "1 key expires") {
			t.Errorf("banner after enable: got %q, want it to count the key again", got)
		}
		if got := app.VerifyStatus(t, secret); got != http.StatusOK {
			t.Errorf("key after htmx enable: status %d, want %d", got, http.StatusOK)
		}
	})
}

// Disable and enable are for key administrators, with a CSRF token, by POST, on a key that
// exists; nothing changes otherwise.
func TestDisableIsGuarded(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		key, secret, err := app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "guarded", Scope: models.ScopeAdmin})
		if err != nil {
			t.Fatal(err)
		}
		app.CreateUser(t, "reader@example.com", models.PermissionNone)
		reader := app.Client(t)
		reader.Login("reader@example.com")
		reader.Get("/login")
		disable := "/admin/api-keys/" + key.PublicID + "/disable"
		for _, tc := range []struct {
			name string
			res  *apptest.Response
			want int
		}{
			{"no permission", reader.Post(disable, nil), http.StatusForbidden},
			{"visitor", app.Client(t).Post(disable, nil), http.StatusForbidden},
			{"no CSRF token", admin.Post(disable, url.Values{"_csrf": {""}}), http.StatusForbidden},
			{"forged CSRF token", admin.Post(disable, url.Values{"_csrf": {"forged"}}), http.StatusForbidden},
			{"htmx without the CSRF header", admin.Do(http.MethodPost, disable, nil, map[string]string{"HX-Request": "true"}), http.StatusForbidden},
			{"GET", admin.Get(disable), http.StatusNotFound},
		} {
			if tc.res.StatusCode != tc.want {
				t.Errorf("%s: status %d, want %d", tc.name, tc.res.StatusCode, tc.want)
			}
		}
		if got := app.VerifyStatus(t, secret); got != http.StatusOK {
			t.Errorf("key after refused disables: status %d, want %d", got, http.StatusOK)
		}
		admin.Get("/admin/api-keys")
		for _, path := range []string{"/admin/api-keys/ak_doesnotexist0000/disable", "/admin/api-keys/ak_doesnotexist0000/enable"} {
			res := admin.Post(path, nil)
			wantStatus(t, res, http.StatusNotFound)
			if !strings.Contains(res.Body, "no longer exists") {
				t.Errorf("%s: 404 without a clear message:\n%s", path, res.Body)
			}
		}
		// A return address elsewhere is not followed.
		for _, elsewhere := range []string{"https://evil.example/", "//evil.example/admin/api-keys", "/login"} {
			res := admin.Post(disable, url.Values{"return": {elsewhere}})
			wantStatus(t, res, http.StatusSeeOther)
			if got := res.Header.Get("Location"); got != "/admin/api-keys" {
				t.Errorf("return %q: redirect to %q, want /admin/api-keys", elsewhere, got)
			}
		}
	})
}

// Two instances on PostgreSQL: a key disabled on one is refused by the other within a second,
// and once enabled it works on the other within a second, though the other remembered it as
// refused a moment before (no cache, negative or stale, shadows it).
func TestDisableAndEnableReachEveryInstanceWithinOneSecond(t *testing.T) {
	first, second, _ := twoInstances(t)
	first.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
	admin := first.Client(t)
	admin.Login(adminEmail)
	admin.Get("/admin/api-keys")
	key, secret := createKey(t, first.Store, "shared")
	awaitHeard(t, second, secret)
	for _, app := range []*apptest.App{first, second, second} {
		if got := app.VerifyStatus(t, secret); got != http.StatusOK {
			t.Fatalf("before disable: status %d, want %d", got, http.StatusOK)
		}
	}

	wantStatus(t, admin.Post("/admin/api-keys/"+key.PublicID+"/disable", nil), http.StatusSeeOther)
	if got := first.VerifyStatus(t, secret); got != http.StatusUnauthorized {
		t.Errorf("first instance after disable: status %d, want %d", got, http.StatusUnauthorized)
	}
	took := waitForStatus(t, second, secret, http.StatusUnauthorized, revocationBound)
	t.Logf("second instance refused the disabled key after %v", took)
	// Refused again: the second instance now remembers the secret as refused.
	if got := second.VerifyStatus(t, secret); got != http.StatusUnauthorized {
		t.Fatalf("second instance, disabled key again: status %d, want %d", got, http.StatusUnauthorized)
	}

	wantStatus(t, admin.Post("/admin/api-keys/"+key.PublicID+"/enable", nil), http.StatusSeeOther)
	if got := first.VerifyStatus(t, secret); got != http.StatusOK {
		t.Errorf("first instance after enable: status %d, want %d", got, http.StatusOK)
	}
	took = waitForStatus(t, second, secret, http.StatusOK, revocationBound)
	t.Logf("second instance accepted the enabled key after %v", took)
}

// Stale-if-error never answers for a key this instance knows to be disabled: the disable's
// notice drops the cached entry, and so does a lookup that finds the key disabled. Only an
// instance cut off from the database when the key is disabled elsewhere cannot know; its
// answers are marked stale, and it refuses the key as soon as the database answers again, even
// through a later outage.
func TestDisabledKeyIsNeverAnsweredStale(t *testing.T) {
	app, proxy, direct := faultApp(t)
	ctx := context.Background()
	gateway := app.Client(t)
	verify := func(secret string) answer { return verifyAs(gateway, secret, "probe") }

	// Disabled here, while the database answers: the notice drops the cached entry.
	heard, heardSecret := createKey(t, direct, "disabled with notice")
	// Disabled by another instance without a notice this one hears: a lookup finds it.
	silent, silentSecret := createKey(t, direct, "disabled silently")
	// Disabled by another instance while this one is cut off.
	cutOff, cutOffSecret := createKey(t, direct, "disabled during the outage")
	awaitHeard(t, app, heardSecret, silentSecret, cutOffSecret)
	for _, secret := range []string{heardSecret, silentSecret, cutOffSecret} {
		if got := verify(secret); got.StatusCode != http.StatusOK {
			t.Fatalf("before: status %d, want 200", got.StatusCode)
		}
	}
	if _, _, err := app.Store.DisableAPIKey(ctx, heard.PublicID); err != nil {
		t.Fatal(err)
	}
	if err := direct.Exec(ctx, "UPDATE api_keys SET disabled_at = ? WHERE id = ?", time.Now(), silent.ID); err != nil {
		t.Fatal(err)
	}
	// Dropping every connection ends the listener's, so the cache is read again.
	proxy.Drop()
	eventually(t, "the silently disabled key refused once looked up", recoveryBound, func() string {
		if got := verify(silentSecret); got.StatusCode != http.StatusUnauthorized {
			return "status " + http.StatusText(got.StatusCode)
		}
		return ""
	})

	proxy.Refuse()
	awaitLeaseEnd()
	if _, _, err := direct.DisableAPIKey(ctx, cutOff.PublicID); err != nil {
		t.Fatal(err)
	}
	wantJSONUnavailable(t, "key disabled here, during an outage", verify(heardSecret), faultVerifyTimeout)
	wantJSONUnavailable(t, "key found disabled, during an outage", verify(silentSecret), faultVerifyTimeout)
	if got := verify(cutOffSecret); got.StatusCode != http.StatusOK || got.Header.Get("X-Keysmith-Stale") != "true" {
		t.Errorf("key disabled elsewhere while cut off: status %d, stale %q; want 200 marked stale (this instance cannot know)", got.StatusCode, got.Header.Get("X-Keysmith-Stale"))
	}

	proxy.Forward()
	eventually(t, "the key disabled during the outage refused once the database is back", recoveryBound, func() string {
		if got := verify(cutOffSecret); got.StatusCode != http.StatusUnauthorized {
			return "status " + http.StatusText(got.StatusCode)
		}
		return ""
	})
	proxy.Refuse()
	awaitLeaseEnd()
	wantJSONUnavailable(t, "key disabled during the last outage, in the next", verify(cutOffSecret), faultVerifyTimeout)
}
