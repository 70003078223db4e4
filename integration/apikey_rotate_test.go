package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keysmith/app/apptest"
	"keysmith/config"
	"keysmith/models"
	"keysmith/models/modelstest"
	"keysmith/views"
)

// graceSweepInterval is how often each instance ends the graces that are over (web).
const graceSweepInterval = 5 * time.Second

// testClock is a store clock that a test moves by hand; the server's goroutines may read it.
type testClock struct {
	start    time.Time
	unixNano atomic.Int64
}

// setClock gives every store one clock, starting at start (to the microsecond, as the
// databases keep times), and returns it. The clock never goes back, nor starts before the
// real time: the sign-in throttle counts time since the last attempt.
func setClock(start time.Time, stores ...*models.Store) *testClock {
	c := &testClock{start: start.Truncate(time.Microsecond)}
	c.unixNano.Store(c.start.UnixNano())
	for _, store := range stores {
		store.SetClock(c.now)
	}
	return c
}

// nextSecond is the start of the next second: a time just ahead of the real one, at which
// sessions begun a moment ago still hold.
func nextSecond() time.Time { return time.Now().UTC().Truncate(time.Second).Add(time.Second) }

func (c *testClock) now() time.Time          { return time.Unix(0, c.unixNano.Load()).UTC() }
func (c *testClock) advance(d time.Duration) { c.unixNano.Add(int64(d)) }

// move sets the clock to d after its start.
func (c *testClock) move(d time.Duration) { c.unixNano.Store(c.start.Add(d).UnixNano()) }

// rotateForm is the rotate form as a browser sends it.
func rotateForm(grace models.Grace, expiresIn string) url.Values {
	return url.Values{"grace": {string(grace)}, "expires_in": {expiresIn}}
}

// rotatedSecret reads the new secret from the one-time modal or page.
func rotatedSecret(t *testing.T, res *apptest.Response) string {
	t.Helper()
	secret := doc(t, res.Body).Find(`[data-testid="api-key-secret"]`).Text()
	if !secretInPage.MatchString(secret) {
		t.Fatalf("secret shown after the rotation: got %q, want a key secret", secret)
	}
	return secret
}

// rotatingNote is what the list says of the key's grace: "" when nothing.
func rotatingNote(t *testing.T, admin *apptest.Client, publicID string) string {
	t.Helper()
	res := admin.Get("/admin/api-keys")
	wantStatus(t, res, http.StatusOK)
	return strings.Join(strings.Fields(doc(t, res.Body).Find(`[data-key-id="`+publicID+`"] [data-testid="rotating-note"]`).Text()), " ")
}

// Without JavaScript, rotate works as create does: a link from the list to a form page, and
// the new secret on a page of its own, once, in the scope's format. The key keeps its id, name
// and scope; both secrets work during the grace, and the list says until when.
func TestRotateWithoutJavaScript(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		clock := setClock(nextSecond(), app.Store)
		expires := clock.now().AddDate(0, 0, 90)
		key, oldSecret, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "lineage scanner", Scope: models.ScopeScanner, ExpiresAt: &expires})
		if err != nil {
			t.Fatal(err)
		}
		list := doc(t, admin.Get("/admin/api-keys?sort=name").Body)
		link, _ := list.Find(`[data-key-id="` + key.PublicID + `"] [data-testid="rotate-api-key"]`).Attr("href")
		if want := "/admin/api-keys/" + key.PublicID + "/rotate?return=" + url.QueryEscape("/admin/api-keys?sort=name"); link != want {
			t.Fatalf("rotate link in the row: got %q, want %q", link, want)
		}
		res := admin.Get(link)
		wantStatus(t, res, http.StatusOK)
		page := doc(t, res.Body)
		if page.Find(`[data-testid="rotate-api-key-page"]`).Length() != 1 {
			t.Fatalf("rotate page: no rotate-api-key-page in\n%s", res.Body)
		}
		if got, _ := page.Find(`input[name="grace"]:checked`).Attr("value"); got != string(models.GraceUntilUnused) {
			t.Errorf("grace chosen at first: got %q, want %q", got, models.GraceUntilUnused)
		}
		if got, _ := page.Find(`select[name="expires_in"] option:checked`).Attr("value"); got != "180d" {
			t.Errorf("expiry chosen at first: got %q, want %q", got, "180d")
		}
		if got, _ := page.Find(`input[name="return"]`).Attr("value"); got != "/admin/api-keys?sort=name" {
			t.Errorf("return field: got %q, want %q", got, "/admin/api-keys?sort=name")
		}

		form := rotateForm(models.GraceHour, "30d")
		form.Set("return", "/admin/api-keys?sort=name")
		res = admin.Post("/admin/api-keys/"+key.PublicID+"/rotate", form)
		wantStatus(t, res, http.StatusOK)
		if got := res.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control of the secret page: got %q, want %q", got, "no-store")
		}
		secret := rotatedSecret(t, res)
		shown := doc(t, res.Body)
		if secret == oldSecret {
			t.Fatalf("the rotation showed the old secret")
		}
		if got, want := shown.Find(`[data-testid="api-key-secret-formatted"]`).Text(), models.ScopeScanner.CopyFormat(secret); got != want {
			t.Errorf("formatted secret: got %q, want %q", got, want)
		}
		if got := shown.Find(`[data-testid="api-key-public-id"]`).Text(); got != key.PublicID {
			t.Errorf("key id beside the secret: got %q, want %q", got, key.PublicID)
		}
		if got, want := strings.TrimSpace(shown.Find(`#secret-title`).Text()), "API key “lineage scanner” rotated"; got != want {
			t.Errorf("title: got %q, want %q", got, want)
		}
		end := clock.now().Add(time.Hour)
		wantNote := "rotating: previous secret works until " + views.DateTime(end)
		if got := strings.Join(strings.Fields(shown.Find(`[data-testid="rotated-grace"]`).Text()), " "); got != wantNote {
			t.Errorf("grace in the modal: got %q, want %q", got, wantNote)
		}

		stored, err := app.Store.APIKeyByPublicID(ctx, key.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.ID != key.ID || stored.Name != key.Name || stored.Scope != key.Scope || stored.SecretHash != models.HashSecret(secret) {
			t.Errorf("stored key: got %+v, want key %d renamed nothing, with the new secret", stored, key.ID)
		}
		if want := clock.now().AddDate(0, 0, 30); stored.ExpiresAt == nil || !stored.ExpiresAt.Equal(want) {
			t.Errorf("new expiry: got %v, want %v", stored.ExpiresAt, want)
		}
		for _, s := range []string{oldSecret, secret} {
			if got := app.VerifyStatus(t, s); got != http.StatusOK {
				t.Errorf("secret %s in the grace: status %d, want %d", models.SecretHint(s), got, http.StatusOK)
			}
		}
		if got := rotatingNote(t, admin, key.PublicID); got != wantNote {
			t.Errorf("list: got %q, want %q", got, wantNote)
		}
		if got := strings.Count(admin.Get("/admin/api-keys").Body, `data-testid="api-key-row"`); got != 1 {
			t.Errorf("rows after the rotation: got %d, want 1", got)
		}
		if strings.Contains(app.Logs(), secret) || strings.Contains(app.Logs(), oldSecret) {
			t.Errorf("a secret is in the log")
		}

		clock.advance(time.Hour)
		if got := app.VerifyStatus(t, oldSecret); got != http.StatusUnauthorized {
			t.Errorf("old secret after its grace: status %d, want %d", got, http.StatusUnauthorized)
		}
		if got := app.VerifyStatus(t, secret); got != http.StatusOK {
			t.Errorf("new secret after the grace: status %d, want %d", got, http.StatusOK)
		}
		admin.Login(adminEmail)
		if got := rotatingNote(t, admin, key.PublicID); got != "" {
			t.Errorf("list after the grace: got %q, want no note", got)
		}
	})
}

// Each grace: the previous secret works exactly as long, and the list says so meanwhile. A key
// that expires first takes its previous secret with it.
func TestRotateEachGrace(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		clock := setClock(nextSecond(), app.Store)
		for _, tc := range []struct {
			grace   models.Grace
			expires time.Duration // of the key before the rotation; 0 for never
			lasts   time.Duration
			note    string // with %s for the end
		}{
			{models.GraceNone, 0, 0, ""},
			{models.GraceHour, 0, time.Hour, "rotating: previous secret works until %s"},
			{models.GraceDay, 0, 24 * time.Hour, "rotating: previous secret works until %s"},
			{models.GraceWeek, 0, 7 * 24 * time.Hour, "rotating: previous secret works until %s"},
			{models.GraceWeek, 2 * time.Hour, 2 * time.Hour, "rotating: previous secret works until %s"},
			{models.GraceUntilUnused, 0, time.Hour, "rotating: previous secret works until unused for 1 hour (until %s at the latest)"},
		} {
			t.Run(string(tc.grace)+" "+tc.expires.String(), func(t *testing.T) {
				start := clock.now()
				end := start.Add(tc.lasts)
				if tc.grace == models.GraceUntilUnused {
					end = start.Add(models.MaxGrace)
				}
				if tc.note != "" {
					tc.note = fmt.Sprintf(tc.note, views.DateTime(end))
				}
				admin.Login(adminEmail)
				var expiresAt *time.Time
				if tc.expires > 0 {
					at := start.Add(tc.expires)
					expiresAt = &at
				}
				key, oldSecret, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "grace " + string(tc.grace) + " " + tc.expires.String(), Scope: models.ScopeReadOnly, ExpiresAt: expiresAt})
				if err != nil {
					t.Fatal(err)
				}
				// In this instance's cache, as the current secret, when the rotation comes.
				if got := app.VerifyStatus(t, oldSecret); got != http.StatusOK {
					t.Fatalf("before the rotation: status %d, want %d", got, http.StatusOK)
				}
				wantStatus(t, admin.Get("/admin/api-keys/"+key.PublicID+"/rotate"), http.StatusOK)
				res := admin.Post("/admin/api-keys/"+key.PublicID+"/rotate", rotateForm(tc.grace, "never"))
				wantStatus(t, res, http.StatusOK)
				secret := rotatedSecret(t, res)
				if got := rotatingNote(t, admin, key.PublicID); got != tc.note {
					t.Errorf("list: got %q, want %q", got, tc.note)
				}
				if tc.lasts > 0 {
					clock.advance(tc.lasts - time.Second)
					if got := app.VerifyStatus(t, oldSecret); got != http.StatusOK {
						t.Errorf("old secret a second before the end: status %d, want %d", got, http.StatusOK)
					}
					if tc.grace == models.GraceUntilUnused {
						// That use counts: the hour starts again from it, once written.
						if err := app.Keys.FlushUsage(ctx); err != nil {
							t.Fatal(err)
						}
						clock.advance(time.Hour - time.Second)
					}
					clock.advance(time.Second)
				}
				if got := app.VerifyStatus(t, oldSecret); got != http.StatusUnauthorized {
					t.Errorf("old secret at the end: status %d, want %d", got, http.StatusUnauthorized)
				}
				if got := app.VerifyStatus(t, secret); got != http.StatusOK {
					t.Errorf("new secret at the end: status %d, want %d", got, http.StatusOK)
				}
				admin.Login(adminEmail)
				if got := rotatingNote(t, admin, key.PublicID); got != "" {
					t.Errorf("list at the end: got %q, want no note", got)
				}
			})
		}
	})
}

// until-unused through the API: the previous secret keeps working while it is used, however
// long, and stops an hour after its last use.
func TestUntilUnusedKeepsWorkingWhileUsed(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		clock := setClock(nextSecond(), app.Store)
		key, oldSecret, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "nightly", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		admin.Get("/admin/api-keys")
		res := admin.Post("/admin/api-keys/"+key.PublicID+"/rotate", rotateForm(models.GraceUntilUnused, "30d"))
		wantStatus(t, res, http.StatusOK)
		secret := rotatedSecret(t, res)
		for i := range 10 {
			clock.advance(55 * time.Minute)
			if got := app.VerifyStatus(t, oldSecret); got != http.StatusOK {
				t.Fatalf("use #%d, 55 minutes after the last: status %d, want %d", i+1, got, http.StatusOK)
			}
			if err := app.Keys.FlushUsage(ctx); err != nil {
				t.Fatal(err)
			}
		}
		lastUse := clock.now()
		admin.Login(adminEmail)
		if got, want := rotatingNote(t, admin, key.PublicID), "rotating: previous secret works until unused for 1 hour"; !strings.HasPrefix(got, want) {
			t.Errorf("list while used: got %q, want it to start %q", got, want)
		}
		stored, err := app.Store.APIKeyByPublicID(ctx, key.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Previous.LastUsedAt == nil || !stored.Previous.LastUsedAt.Equal(lastUse) || stored.LastUsedAt == nil || !stored.LastUsedAt.Equal(lastUse) {
			t.Errorf("last uses: got previous secret %v, key %v; want both %v", stored.Previous.LastUsedAt, stored.LastUsedAt, lastUse)
		}
		clock.advance(time.Hour)
		if got := app.VerifyStatus(t, oldSecret); got != http.StatusUnauthorized {
			t.Errorf("an hour after the last use: status %d, want %d", got, http.StatusUnauthorized)
		}
		if got := app.VerifyStatus(t, secret); got != http.StatusOK {
			t.Errorf("new secret: status %d, want %d", got, http.StatusOK)
		}
	})
}

// Rotating again during a grace ends the older grace at once; the form says so first.
func TestRotateTwice(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		key, first := createKey(t, app.Store, "twice")
		admin.Get("/admin/api-keys")
		res := admin.Post("/admin/api-keys/"+key.PublicID+"/rotate", rotateForm(models.GraceWeek, "30d"))
		wantStatus(t, res, http.StatusOK)
		second := rotatedSecret(t, res)
		// Both in this instance's cache when the second rotation comes.
		for _, secret := range []string{first, second} {
			if got := app.VerifyStatus(t, secret); got != http.StatusOK {
				t.Fatalf("after one rotation: status %d, want %d", got, http.StatusOK)
			}
		}
		form := admin.Get("/admin/api-keys/" + key.PublicID + "/rotate")
		if got := doc(t, form.Body).Find(`[data-testid="rotate-ends-grace"]`).Text(); !strings.Contains(got, "refused at once by this instance and by every instance within a second") {
			t.Errorf("rotate form during a grace: got %q, want a warning that the previous secret is refused at once here and within a second everywhere", got)
		}
		res = admin.Post("/admin/api-keys/"+key.PublicID+"/rotate", rotateForm(models.GraceWeek, "30d"))
		wantStatus(t, res, http.StatusOK)
		third := rotatedSecret(t, res)
		for _, tc := range []struct {
			name, secret string
			want         int
		}{{"first", first, http.StatusUnauthorized}, {"second", second, http.StatusOK}, {"third", third, http.StatusOK}} {
			if got := app.VerifyStatus(t, tc.secret); got != tc.want {
				t.Errorf("%s secret after two rotations: status %d, want %d", tc.name, got, tc.want)
			}
		}
	})
}

// Over htmx the form opens in a dialog; the new secret comes back in the one-time modal with
// the list behind it refreshed, or alone when the form was opened elsewhere (the key page,
// which it then reloads once it closes).
func TestRotateOverHTMX(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		key, _ := createKey(t, app.Store, "gateway")
		admin.Get("/admin/api-keys")
		res := admin.HTMX(http.MethodGet, "/admin/api-keys/"+key.PublicID+"/rotate", "dialog-slot", nil)
		wantStatus(t, res, http.StatusOK)
		dialog := doc(t, res.Body)
		if dialog.Find(`dialog[data-testid="rotate-api-key-dialog"]`).Length() != 1 || dialog.Find("nav").Length() != 0 {
			t.Fatalf("rotate over htmx: want the dialog alone, got\n%s", res.Body)
		}
		if got, _ := dialog.Find(`form[data-testid="rotate-api-key-form"]`).Attr("hx-post"); got != "/admin/api-keys/"+key.PublicID+"/rotate" {
			t.Errorf("form hx-post: got %q, want %q", got, "/admin/api-keys/"+key.PublicID+"/rotate")
		}
		for _, tc := range []struct {
			from     string
			withList bool
		}{{"/admin/api-keys?q=gate", true}, {"/admin/api-keys/" + key.PublicID, false}} {
			headers := map[string]string{"HX-Request": "true", "HX-Target": "dialog-slot", "X-CSRF-Token": admin.CSRF,
				"HX-Current-URL": app.URL + tc.from, "Content-Type": "application/x-www-form-urlencoded"}
			res := admin.Do(http.MethodPost, "/admin/api-keys/"+key.PublicID+"/rotate", strings.NewReader(rotateForm(models.GraceDay, "30d").Encode()), headers)
			wantStatus(t, res, http.StatusOK)
			answer := doc(t, res.Body)
			if answer.Find(`dialog[data-testid="api-key-secret-dialog"] [data-testid="api-key-secret"]`).Length() != 1 {
				t.Errorf("from %s: no secret modal in\n%s", tc.from, res.Body)
			}
			list := answer.Find(`#api-key-list[hx-swap-oob="true"]`)
			if got := list.Length() == 1; got != tc.withList {
				t.Errorf("from %s: list refreshed %v, want %v", tc.from, got, tc.withList)
			}
			if tc.withList && list.Find(`[data-key-id="`+key.PublicID+`"] [data-testid="rotating-note"]`).Length() != 1 {
				t.Errorf("from %s: the refreshed list does not say the key is rotating", tc.from)
			}
			// Over the key page, which the rotation makes out of date, the page is read again
			// once the modal closes.
			if _, reload := answer.Find(`dialog[data-testid="api-key-secret-dialog"]`).Attr("data-reload-on-close"); reload == tc.withList {
				t.Errorf("from %s: the modal reloads the page on close: %v, want %v", tc.from, reload, !tc.withList)
			}
		}
	})
}

// Wrong input is answered 4xx beside the field, and changes nothing; an unknown key is 404.
func TestRotateRefusesBadInput(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		key, secret := createKey(t, app.Store, "kept")
		admin.Get("/admin/api-keys")
		path := "/admin/api-keys/" + key.PublicID + "/rotate"
		for _, tc := range []struct {
			name   string
			form   url.Values
			status int
			field  string
		}{
			{"no grace", url.Values{"expires_in": {"30d"}}, http.StatusUnprocessableEntity, "grace"},
			{"unknown grace", rotateForm("2h", "30d"), http.StatusUnprocessableEntity, "grace"},
			{"grace with a space", rotateForm("1h ", "30d"), http.StatusUnprocessableEntity, "grace"},
			{"huge grace", rotateForm(models.Grace(strings.Repeat("7d", 20_000)), "30d"), http.StatusUnprocessableEntity, "grace"},
			{"NUL in the grace", rotateForm("1h\x00", "30d"), http.StatusUnprocessableEntity, ""},
			{"invalid UTF-8", rotateForm("\xff\xfe", "30d"), http.StatusUnprocessableEntity, ""},
			{"unknown expiry", rotateForm(models.GraceDay, "45d"), http.StatusUnprocessableEntity, "expires_in"},
			{"custom date in the past", url.Values{"grace": {"24h"}, "expires_in": {"custom"}, "expires_at": {"2001-01-01"}}, http.StatusUnprocessableEntity, "expires_at"},
			{"custom date past 9999", url.Values{"grace": {"24h"}, "expires_in": {"custom"}, "expires_at": {"10000-01-01"}}, http.StatusUnprocessableEntity, "expires_at"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := admin.Post(path, tc.form)
				wantStatus(t, res, tc.status)
				if tc.field != "" && doc(t, res.Body).Find(`[data-testid="error-`+tc.field+`"]`).Length() != 1 {
					t.Errorf("no message beside %s in\n%s", tc.field, res.Body)
				}
				if secretInPage.MatchString(res.Body) {
					t.Errorf("a secret in the answer to a refused rotation")
				}
			})
		}
		wantStatus(t, admin.Get("/admin/api-keys/ak_nothing/rotate"), http.StatusNotFound)
		wantStatus(t, admin.Post("/admin/api-keys/ak_nothing/rotate", rotateForm(models.GraceDay, "30d")), http.StatusNotFound)
		wantStatus(t, admin.Post(path, url.Values{"_csrf": {"forged"}, "grace": {"24h"}, "expires_in": {"30d"}}), http.StatusForbidden)
		wantStatus(t, app.Client(t).Post(path, rotateForm(models.GraceDay, "30d")), http.StatusForbidden)
		stored, err := app.Store.APIKeyByPublicID(context.Background(), key.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.SecretHash != models.HashSecret(secret) || stored.RotatedAt != nil {
			t.Errorf("key after refused rotations: got hash %q rotated at %v, want unchanged", stored.SecretHash, stored.RotatedAt)
		}
	})
}

// The new secret's expiry is chosen as at creation, within the lifetime policy.
func TestRotateWithinTheLifetimePolicy(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		key, _ := createKey(t, app.Store, "policy")
		page := doc(t, admin.Get("/admin/api-keys/"+key.PublicID+"/rotate").Body)
		var choices []string
		page.Find(`select[name="expires_in"] option`).Each(func(_ int, s *goquery.Selection) { choices = append(choices, s.AttrOr("value", "")) })
		if got, want := strings.Join(choices, ","), "7d,30d,custom"; got != want {
			t.Errorf("expiry choices under a 60-day policy: got %q, want %q", got, want)
		}
		res := admin.Post("/admin/api-keys/"+key.PublicID+"/rotate", rotateForm(models.GraceDay, "never"))
		wantStatus(t, res, http.StatusUnprocessableEntity)
		if got, want := doc(t, res.Body).Find(`[data-testid="error-expires_in"]`).Text(), "Your organisation’s policy requires every key to expire within 60 days."; got != want {
			t.Errorf("message beside the expiry: got %q, want %q", got, want)
		}
		res = admin.Post("/admin/api-keys/"+key.PublicID+"/rotate", rotateForm(models.GraceDay, "30d"))
		wantStatus(t, res, http.StatusOK)
	}, func(cfg *config.Config) { cfg.MaxKeyLifetime = 60 * 24 * time.Hour })
}

// Each instance ends, every few seconds, the graces that are over though nobody presents the
// previous secret any more, so that the store, and every instance through it, hear of the end.
func TestGracesNobodyPresentsAreEnded(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			t.Parallel()
			app := apptest.New(t, target)
			clock := setClock(nextSecond(), app.Store)
			key, _ := createKey(t, app.Store, "forgotten")
			if _, _, err := app.Store.RotateAPIKey(context.Background(), key.PublicID, models.Rotation{Grace: models.GraceHour}); err != nil {
				t.Fatal(err)
			}
			clock.advance(time.Hour)
			deadline := time.Now().Add(2 * graceSweepInterval)
			for {
				stored, err := app.Store.APIKeyByPublicID(context.Background(), key.PublicID)
				if err != nil {
					t.Fatal(err)
				}
				if stored.Previous.SecretHash == nil {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("grace over for %v and still in the store, want it ended by the sweep", 2*graceSweepInterval)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// Administrators rotating one key at once each get a secret, none a 5xx; in the end the last
// rotation's secret is current and the one before it previous.
func TestParallelRotationsThroughTheConsole(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		key, _ := createKey(t, app.Store, "contended")
		const rotations = 6
		secrets := make([]string, rotations)
		var wg sync.WaitGroup
		for i := range rotations {
			// One browser each: a client's CSRF token is not for sharing between goroutines.
			browser := app.Client(t)
			browser.Login(adminEmail)
			browser.Get("/admin/api-keys")
			wg.Go(func() {
				res := browser.Post("/admin/api-keys/"+key.PublicID+"/rotate", rotateForm(models.GraceDay, "30d"))
				if res.StatusCode != http.StatusOK {
					t.Errorf("rotation %d: status %d, want %d", i, res.StatusCode, http.StatusOK)
					return
				}
				secrets[i] = secretInPage.FindString(res.Body)
			})
		}
		wg.Wait()
		working := 0
		for _, secret := range secrets {
			if secret != "" && app.VerifyStatus(t, secret) == http.StatusOK {
				working++
			}
		}
		if working != 2 {
			t.Errorf("secrets working after %d rotations at once: got %d, want 2 (the last and the one before)", rotations, working)
		}
	})
}

// Deleting a key during a grace ends both its secrets at once, the previous one too.
func TestDeletingARotatingKeyEndsBothSecrets(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		key, oldSecret := createKey(t, app.Store, "rotating, then deleted")
		_, newSecret, err := app.Store.RotateAPIKey(context.Background(), key.PublicID, models.Rotation{Grace: models.GraceWeek})
		if err != nil {
			t.Fatal(err)
		}
		// Both in this instance's cache when the delete comes.
		for _, secret := range []string{oldSecret, newSecret} {
			if got := app.VerifyStatus(t, secret); got != http.StatusOK {
				t.Fatalf("in the grace: status %d, want %d", got, http.StatusOK)
			}
		}
		admin.Get("/admin/api-keys/" + key.PublicID + "/delete")
		res := admin.Post("/admin/api-keys/"+key.PublicID+"/delete", url.Values{"confirm_name": {key.Name}})
		wantStatus(t, res, http.StatusSeeOther)
		for name, secret := range map[string]string{"previous": oldSecret, "current": newSecret} {
			if got := app.VerifyStatus(t, secret); got != http.StatusUnauthorized {
				t.Errorf("%s secret after the delete: status %d, want %d", name, got, http.StatusUnauthorized)
			}
		}
	})
}

// replacesIn reads the secret a rotate form names as the one it replaces.
func replacesIn(t *testing.T, res *apptest.Response) string {
	t.Helper()
	wantStatus(t, res, http.StatusOK)
	replaces, ok := doc(t, res.Body).Find(`form input[name="replaces"]`).Attr("value")
	if !ok || replaces == "" {
		t.Fatalf("%s %s: no form naming the secret it replaces:\n%s", res.Request.Method, res.Request.URL.Path, res.Body)
	}
	return replaces
}

// Two administrators open the rotate form of one key; the second to send it is told, with
// 409, that the first rotated the key and when, and changes nothing: the first one's new
// secret keeps working. So it is on the page and over htmx, and from the key page's Rotate
// secret (the same form, opened from there).
func TestSecondRotationIsRefusedNamingTheFirst(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		key, _ := createKey(t, app.Store, "shared")
		path := "/admin/api-keys/" + key.PublicID + "/rotate"
		app.CreateUser(t, "grace@example.com", models.PermissionConnectivityAdmin)
		other := app.Client(t)
		other.Login("grace@example.com")

		fromPage := replacesIn(t, other.Get(path))
		fromDialog := replacesIn(t, other.HTMX(http.MethodGet, path, "dialog-slot", nil))
		keyPageRotate := doc(t, other.Get("/admin/api-keys/"+key.PublicID).Body).Find(`a[data-testid="rotate-api-key"]`).AttrOr("href", "")
		fromKeyPage := replacesIn(t, other.Get(keyPageRotate))
		if fromPage != key.Hint || fromDialog != key.Hint || fromKeyPage != key.Hint {
			t.Fatalf("forms name %q, %q and %q; want the current secret %q", fromPage, fromDialog, fromKeyPage, key.Hint)
		}
		first := admin.Post(path, url.Values{"grace": {"0"}, "expires_in": {"30d"}, "replaces": {replacesIn(t, admin.Get(path))}})
		winner := rotatedSecret(t, first)

		late := other.Post(path, url.Values{"grace": {"0"}, "expires_in": {"30d"}, "replaces": {fromPage}})
		wantStatus(t, late, http.StatusConflict)
		page := doc(t, late.Body)
		if page.Find(`[data-testid="rotated-meanwhile-page"]`).Length() != 1 || secretInPage.MatchString(late.Body) {
			t.Fatalf("the late rotation's answer: want the rotated-meanwhile page and no secret:\n%s", late.Body)
		}
		if got := page.Find(`[data-testid="rotated-by"]`).Text(); got != adminEmail {
			t.Errorf("rotated by: got %q, want %q", got, adminEmail)
		}
		if got, _ := page.Find(`[data-testid="rotated-at"]`).Attr("datetime"); got == "" {
			t.Error("the answer does not say when the key was rotated")
		}
		rotated, err := app.Store.APIKeyByPublicID(context.Background(), key.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if got := page.Find(`[data-testid="current-hint"]`).Text(); got != rotated.Hint || got == key.Hint {
			t.Errorf("current secret named: got %q, want the first rotation's %q", got, rotated.Hint)
		}
		dialog := other.HTMX(http.MethodPost, path, "dialog-slot", url.Values{"grace": {"0"}, "expires_in": {"30d"}, "replaces": {fromDialog}})
		wantStatus(t, dialog, http.StatusConflict)
		if d := doc(t, dialog.Body); d.Find(`dialog[data-testid="rotated-meanwhile-dialog"] [data-testid="rotated-by"]`).Text() != adminEmail || d.Find("html > head > title").Length() != 0 {
			t.Errorf("over htmx: want the rotated-meanwhile dialog naming %s, alone:\n%s", adminEmail, dialog.Body)
		}
		other.Get("/admin/api-keys/" + key.PublicID)
		wantStatus(t, other.Post(path, url.Values{"grace": {"0"}, "expires_in": {"30d"}, "replaces": {fromKeyPage}}), http.StatusConflict)

		if got := app.VerifyStatus(t, winner); got != http.StatusOK {
			t.Errorf("the first rotation's secret after the late ones: status %d, want 200", got)
		}
		if rotations := modelstest.AuditEvents(t, app.Store, models.AuditFilter{Action: models.AuditKeyRotated}); len(rotations) != 1 {
			t.Errorf("key.rotated events: %d, want 1", len(rotations))
		}
		// A form naming a secret that is no hint is refused as invalid, changing nothing.
		wantStatus(t, other.Post(path, url.Values{"grace": {"0"}, "expires_in": {"30d"}, "replaces": {"ksk_\x00"}}), http.StatusUnprocessableEntity)
		wantStatus(t, other.Post(path, url.Values{"grace": {"0"}, "expires_in": {"30d"}, "replaces": {winner}}), http.StatusUnprocessableEntity)
		if got := app.VerifyStatus(t, winner); got != http.StatusOK {
			t.Errorf("the first rotation's secret after invalid forms: status %d, want 200", got)
		}
	})
}

// Administrators who opened the rotate form of one key send it at once, with no grace: one
// gets a new secret, which works; every other is told 409 that the key was rotated meanwhile.
func TestParallelRotationsOfOneFormThroughTheConsole(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		key, _ := createKey(t, app.Store, "contended")
		path := "/admin/api-keys/" + key.PublicID + "/rotate"
		const rotations = 6
		responses := make([]*apptest.Response, rotations)
		browsers := make([]*apptest.Client, rotations)
		forms := make([]url.Values, rotations)
		for i := range browsers {
			// One browser each: a client's CSRF token is not for sharing between goroutines.
			browsers[i] = app.Client(t)
			browsers[i].Login(adminEmail)
			forms[i] = url.Values{"grace": {"0"}, "expires_in": {"30d"}, "replaces": {replacesIn(t, browsers[i].Get(path))}}
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, browser := range browsers {
			wg.Go(func() {
				<-start
				responses[i] = browser.Post(path, forms[i])
			})
		}
		close(start)
		wg.Wait()
		var secrets []string
		for i, res := range responses {
			switch res.StatusCode {
			case http.StatusOK:
				secrets = append(secrets, rotatedSecret(t, res))
			case http.StatusConflict:
				if doc(t, res.Body).Find(`[data-testid="rotated-meanwhile"]`).Length() != 1 {
					t.Errorf("rotation %d: 409 without saying the key was rotated meanwhile", i)
				}
			default:
				t.Errorf("rotation %d: status %d, want 200 or 409", i, res.StatusCode)
			}
		}
		if len(secrets) != 1 {
			t.Fatalf("rotations that got a secret: %d, want 1", len(secrets))
		}
		if got := app.VerifyStatus(t, secrets[0]); got != http.StatusOK {
			t.Errorf("the one new secret: status %d, want 200", got)
		}
	})
}
