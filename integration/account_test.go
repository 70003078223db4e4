package integration

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// passwordForm is the change-password form.
func passwordForm(current, password, confirm string) url.Values {
	return url.Values{"current_password": {current}, "password": {password}, "password_confirm": {confirm}}
}

// accountError is the message beside the change-password form.
func accountError(t *testing.T, res *apptest.Response) string {
	t.Helper()
	return doc(t, res.Body).Find(`[data-testid="change-password-error"]`).Text()
}

// Your account lists the user's live sessions, with where each started, this one marked; any
// user may open it, whatever their permission. Ending another session signs that browser
// out at once; ending this one signs this browser out.
func TestAccountSessions(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, _ *apptest.Client) {
		app.CreateUser(t, "u@example.com", models.PermissionNone)
		this := app.ClientFrom(t, "127.0.0.2")
		other := app.ClientFrom(t, "127.0.0.3")
		for _, c := range []*apptest.Client{this, other} {
			c.Get("/login")
			req := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"}
			form := signInForm("u@example.com", apptest.DefaultPassword)
			form.Set("_csrf", c.CSRF)
			wantStatus(t, c.Do(http.MethodPost, "/login", strings.NewReader(form.Encode()), req), http.StatusSeeOther)
		}
		page := this.Get("/account")
		wantStatus(t, page, http.StatusOK)
		rows := doc(t, page.Body).Find(`[data-testid="session-row"]`)
		if rows.Length() != 2 {
			t.Fatalf("session rows: %d, want 2:\n%s", rows.Length(), page.Body)
		}
		current := rows.Filter(`[data-current]`)
		if current.Length() != 1 || current.Find(`[data-testid="session-current"]`).Text() != "This browser" {
			t.Fatalf("this browser's row: %d marked, want 1 saying This browser", current.Length())
		}
		if got := current.Find(`[data-testid="session-address"]`).Text(); got != "127.0.0.2" {
			t.Errorf("this session's address: got %q, want 127.0.0.2", got)
		}
		if got := strings.TrimSpace(current.Find(`[data-testid="session-browser"]`).Text()); !strings.HasPrefix(got, "Firefox on Linux") {
			t.Errorf("this session's browser: got %q, want Firefox on Linux", got)
		}
		if n := doc(t, page.Body).Find(`[data-testid="nav-account"][href="/account"]`).Length(); n != 1 {
			t.Errorf("links to Your account in the header: %d, want 1", n)
		}
		otherRow := rows.Not(`[data-current]`)
		action, _ := otherRow.Find(`form`).Attr("action")
		if !strings.HasPrefix(action, "/account/sessions/") {
			t.Fatalf("End form of the other session: action %q", action)
		}
		if strings.Contains(page.Body, other.Cookie("keysmith_session")) || strings.Contains(page.Body, this.Cookie("keysmith_session")) {
			t.Errorf("the page holds a session cookie")
		}
		wantStatus(t, this.Post(action, url.Values{"_csrf": {"forged"}}), http.StatusForbidden)
		if !signedIn(t, other) {
			t.Fatalf("a forged End signed the other browser out")
		}
		this.Get("/account")
		wantStatus(t, this.Post(action, nil), http.StatusSeeOther)
		if signedIn(t, other) {
			t.Errorf("the ended session still works")
		}
		wantStatus(t, this.Post(action, nil), http.StatusNotFound)
		wantStatus(t, this.Post("/account/sessions/not-a-session/end", nil), http.StatusNotFound)

		// Another user's session is not theirs to end.
		stranger := app.Client(t)
		stranger.Login(adminEmail)
		page = this.Get("/account")
		mine := doc(t, page.Body).Find(`[data-testid="session-row"][data-current] form`)
		ownAction, _ := mine.Attr("action")
		res := this.Post(ownAction, nil)
		wantStatus(t, res, http.StatusSeeOther)
		if got := res.Header.Get("Location"); got != "/login" {
			t.Errorf("after ending this session: redirect to %q, want /login", got)
		}
		if signedIn(t, this) {
			t.Errorf("this browser is still signed in after ending its own session")
		}
		if !signedIn(t, stranger) {
			t.Errorf("another user's session ended")
		}
		records := modelstest.AuditRecords(t, app.Store)
		ended := 0
		for _, r := range records {
			if r.Action == "session.ended" && r.TargetLabel == "u@example.com" {
				ended++
			}
		}
		if ended != 2 {
			t.Errorf("session.ended events of the user: %d, want 2", ended)
		}
	})
}

// End all other sessions signs out every other browser of the user at once, keeps this one,
// says how many ended, and records one session.ended event; another user's sessions stay.
func TestAccountEndOtherSessions(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, _ *apptest.Client) {
		app.CreateUser(t, "u@example.com", models.PermissionNone)
		this, first, second := app.Client(t), app.Client(t), app.Client(t)
		for _, c := range []*apptest.Client{this, first, second} {
			c.Login("u@example.com")
		}
		stranger := app.Client(t)
		stranger.Login(adminEmail)

		page := this.Get("/account")
		wantStatus(t, page, http.StatusOK)
		form := doc(t, page.Body).Find(`form[data-testid="end-other-sessions-form"]`)
		if action, _ := form.Attr("action"); action != "/account/sessions/end-others" {
			t.Fatalf("End all other sessions form: action %q, want /account/sessions/end-others", action)
		}
		if got := form.Find(`[data-testid="end-other-sessions"]`).Text(); got != "End all other sessions" {
			t.Errorf("button: got %q, want End all other sessions", got)
		}
		wantStatus(t, this.Post("/account/sessions/end-others", url.Values{"_csrf": {"forged"}}), http.StatusForbidden)
		if !signedIn(t, first) || !signedIn(t, second) {
			t.Fatalf("a forged request ended a session")
		}

		this.Get("/account")
		res := this.Post("/account/sessions/end-others", nil)
		wantStatus(t, res, http.StatusSeeOther)
		if got := res.Header.Get("Location"); got != "/account" {
			t.Errorf("redirect to %q, want /account", got)
		}
		page = this.Get("/account")
		if got := doc(t, page.Body).Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "2 other sessions ended") {
			t.Errorf("notice: got %q, want it to say 2 other sessions ended", got)
		}
		if !signedIn(t, this) {
			t.Errorf("this browser was signed out")
		}
		if signedIn(t, first) || signedIn(t, second) {
			t.Errorf("another session of the user survived")
		}
		if !signedIn(t, stranger) {
			t.Errorf("another user's session ended")
		}
		if rows := doc(t, page.Body).Find(`[data-testid="session-row"]`).Length(); rows != 1 {
			t.Errorf("session rows afterwards: %d, want 1", rows)
		}
		if n := doc(t, page.Body).Find(`[data-testid="end-other-sessions"]`).Length(); n != 0 {
			t.Errorf("End all other sessions is offered with no other session")
		}
		var events []string
		for _, r := range modelstest.AuditRecords(t, app.Store) {
			if r.Action == "session.ended" && r.TargetLabel == "u@example.com" {
				events = append(events, r.Detail)
			}
		}
		if len(events) != 1 || !strings.HasPrefix(events[0], "2 sessions ended") {
			t.Errorf("session.ended events of the user: %q, want one saying 2 sessions ended", events)
		}

		// Again, with none left: nothing ends, nothing is recorded, and the notice says so.
		wantStatus(t, this.Post("/account/sessions/end-others", nil), http.StatusSeeOther)
		page = this.Get("/account")
		if got := doc(t, page.Body).Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "No other session") {
			t.Errorf("notice with nothing to end: got %q", got)
		}
		if !signedIn(t, this) {
			t.Errorf("this browser was signed out by a second request")
		}
		for _, r := range modelstest.AuditRecords(t, app.Store) {
			if r.Action == "session.ended" && r.TargetLabel == "u@example.com" && r.Detail != events[0] {
				t.Errorf("an extra session.ended event: %q", r.Detail)
			}
		}
	})
}

// Changing one's password needs the current one; it ends the other sessions and keeps this
// one, and the new password signs in.
func TestAccountPasswordChange(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, _ *apptest.Client) {
		app.CreateUser(t, "u@example.com", models.PermissionConnectivityAdmin)
		this, other := app.Client(t), app.Client(t)
		this.Login("u@example.com")
		other.Login("u@example.com")
		this.Get("/account")
		for _, tc := range []struct {
			name    string
			form    url.Values
			message string
		}{
			{"passwords that differ", passwordForm(apptest.DefaultPassword, "a new long password", "a new long passwork"), "differ"},
			{"a short password", passwordForm(apptest.DefaultPassword, "short", "short"), "at least 12 characters"},
			{"no current password", passwordForm("", "a new long password", "a new long password"), "current password"},
			{"a wrong current password", passwordForm("not my password", "a new long password", "a new long password"), "incorrect"},
		} {
			res := this.Post("/account/password", tc.form)
			wantStatus(t, res, http.StatusUnprocessableEntity)
			if got := accountError(t, res); !strings.Contains(got, tc.message) {
				t.Errorf("%s: message %q, want it to say %q", tc.name, got, tc.message)
			}
		}
		for _, form := range []url.Values{
			passwordForm(apptest.DefaultPassword+"\x00", "a new long password", "a new long password"),
			passwordForm(apptest.DefaultPassword, "a new long\xffpassword", "a new long\xffpassword"),
			passwordForm(strings.Repeat("p", 100_000), "a new long password", "a new long password"),
		} {
			if res := this.Post("/account/password", form); res.StatusCode < 400 || res.StatusCode >= 500 {
				t.Errorf("hostile input: status %d, want a 4xx", res.StatusCode)
			}
			this.Get("/account")
		}
		if !signedIn(t, other) {
			t.Fatalf("a refused change ended the other session")
		}
		stolen := this.Cookie("keysmith_session")
		res := this.Post("/account/password", passwordForm(apptest.DefaultPassword, "a new long password", "a new long password"))
		wantStatus(t, res, http.StatusSeeOther)
		// This browser stays signed in on a new session: a copy of its cookie from before the
		// change is signed out.
		if this.Cookie("keysmith_session") == stolen {
			t.Errorf("the session cookie is the same after the password change")
		}
		if res := app.Client(t).Do(http.MethodGet, "/account", nil, map[string]string{"Cookie": "keysmith_session=" + stolen}); res.StatusCode != http.StatusSeeOther {
			t.Errorf("the cookie from before the change: status %d, want 303 to the sign-in page", res.StatusCode)
		}
		page := this.Get("/account")
		if got := doc(t, page.Body).Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "1 session ended") {
			t.Errorf("notice: got %q, want it to say 1 session ended", got)
		}
		if !signedIn(t, this) {
			t.Errorf("the session that changed the password was signed out")
		}
		if signedIn(t, other) {
			t.Errorf("the other session survived the password change")
		}
		signInWith(t, app, "u@example.com", "a new long password")
		old := app.Client(t)
		old.Get("/login")
		wantStatus(t, old.Post("/login", signInForm("u@example.com", apptest.DefaultPassword)), http.StatusUnauthorized)
		for _, secret := range []string{"a new long password", apptest.DefaultPassword} {
			if strings.Contains(app.Logs(), secret) {
				t.Errorf("the log holds a password")
			}
			for _, r := range modelstest.AuditRecords(t, app.Store) {
				if strings.Contains(r.Detail+r.TargetLabel, secret) {
					t.Errorf("audit event %+v holds a password", r)
				}
			}
		}
		if actions := modelstest.AuditActions(t, app.Store); !slices.Contains(actions, "user.password_changed") {
			t.Errorf("audit actions: got %q, want user.password_changed", actions)
		}
	})
}

// Wrong current passwords count against the sign-in throttle, so the form cannot be used to
// guess: after five from one address, it answers 429, and so does signing in from there. While
// too many passwords are being checked it answers 503, and counts nothing.
func TestAccountPasswordIsThrottled(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, _ *apptest.Client) {
		app.CreateUser(t, "u@example.com", models.PermissionNone)
		client := app.ClientFrom(t, "127.0.0.2")
		client.Login("u@example.com")
		client.Get("/account")
		guess := passwordForm("a guess at it", "a new long password", "a new long password")
		for range 5 {
			wantStatus(t, client.Post("/account/password", guess), http.StatusUnprocessableEntity)
		}
		res := client.Post("/account/password", passwordForm(apptest.DefaultPassword, "a new long password", "a new long password"))
		wantStatus(t, res, http.StatusTooManyRequests)
		if res.Header.Get("Retry-After") == "" || !strings.Contains(accountError(t, res), "Too many") {
			t.Errorf("429: Retry-After %q, message %q", res.Header.Get("Retry-After"), accountError(t, res))
		}
		visitor := app.ClientFrom(t, "127.0.0.2")
		visitor.Get("/login")
		wantStatus(t, visitor.Post("/login", signInForm("u@example.com", apptest.DefaultPassword)), http.StatusTooManyRequests)
		elsewhere := app.ClientFrom(t, "127.0.0.3")
		elsewhere.Login("u@example.com")

		elsewhere.Get("/account")
		app.Store.SetPasswordHashLimit(0, 0, 0)
		busy := elsewhere.Post("/account/password", passwordForm(apptest.DefaultPassword, "a new long password", "a new long password"))
		wantStatus(t, busy, http.StatusServiceUnavailable)
		if busy.Header.Get("Retry-After") != "1" || !strings.Contains(accountError(t, busy), "busy") {
			t.Errorf("503: Retry-After %q, message %q", busy.Header.Get("Retry-After"), accountError(t, busy))
		}
	})
}
