package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// signInForm is the login form for email and password.
func signInForm(email, password string) url.Values {
	return url.Values{"email": {email}, "password": {password}}
}

// loginError is the message the login page shows.
func loginError(t *testing.T, res *apptest.Response) string {
	t.Helper()
	return doc(t, res.Body).Find(`[data-testid="login-error"]`).Text()
}

func TestOwnerSignsInFromAnotherAddressAfterAnAttacker(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, _ *apptest.Client) {
		attacker := app.ClientFrom(t, "127.0.0.2")
		attacker.Get("/login")
		for range 5 {
			wantStatus(t, attacker.Post("/login", signInForm(adminEmail, "a guess")), http.StatusUnauthorized)
		}
		res := attacker.Post("/login", signInForm(adminEmail, apptest.DefaultPassword))
		wantStatus(t, res, http.StatusTooManyRequests)
		if got, want := res.Header.Get("Retry-After"), "60"; got != want {
			t.Errorf("Retry-After: got %q, want %q", got, want)
		}
		owner := app.ClientFrom(t, "127.0.0.3")
		owner.Login(adminEmail)
	})
}

func TestMalformedSignInIsRefusedAndCounted(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, _ *apptest.Client) {
		cases := []struct {
			name, email, password, field string
		}{
			{"NUL in the email", "admin\x00@example.com", apptest.DefaultPassword, "email"},
			{"invalid UTF-8 in the email", "admin\xff\xfe@example.com", apptest.DefaultPassword, "email"},
			{"control character in the email", "admin\x7f@example.com", apptest.DefaultPassword, "email"},
			{"email too long", strings.Repeat("a", 300) + "@example.com", apptest.DefaultPassword, "email"},
			{"NUL in the password", adminEmail, "correct\x00horse", "password"},
			{"invalid UTF-8 in the password", adminEmail, "\xc0\xafcorrect", "password"},
			{"password too long", adminEmail, strings.Repeat("p", 5000), "password"},
		}
		visitor := app.ClientFrom(t, "127.0.0.2")
		visitor.Get("/login")
		hashes := metricValue(t, app, "keysmith_password_hashes_total")
		for _, tc := range cases {
			res := visitor.Post("/login", signInForm(tc.email, tc.password))
			if res.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("%s: got status %d, want %d", tc.name, res.StatusCode, http.StatusUnprocessableEntity)
				continue
			}
			if got := loginError(t, res); !strings.Contains(got, "The "+tc.field) {
				t.Errorf("%s: got message %q, want one naming the %s", tc.name, got, tc.field)
			}
			if value, _ := doc(t, res.Body).Find(`#email`).Attr("value"); value != "" {
				t.Errorf("%s: got the email %q shown back, want it left out", tc.name, value)
			}
		}
		if got := metricValue(t, app, "keysmith_password_hashes_total"); got != hashes {
			t.Errorf("password hashes after malformed attempts: got %v, want %v (none more)", got, hashes)
		}

		// The old lockout: a flood of NUL emails from one address is counted, and keeps
		// nobody else out.
		flood := app.ClientFrom(t, "127.0.0.4")
		flood.Get("/login")
		statuses := map[int]int{}
		for i := range 100 {
			statuses[flood.Post("/login", signInForm(fmt.Sprintf("%d\x00@example.com", i), "x")).StatusCode]++
		}
		if want := map[int]int{http.StatusUnprocessableEntity: 20, http.StatusTooManyRequests: 80}; len(statuses) != 2 ||
			statuses[http.StatusUnprocessableEntity] != 20 || statuses[http.StatusTooManyRequests] != 80 {
			t.Errorf("100 attempts with a NUL in the email: got %v, want %v", statuses, want)
		}
		app.ClientFrom(t, "127.0.0.5").Login(adminEmail)
	})
}

func TestSignInCountersAreSharedAcrossInstances(t *testing.T) {
	target := modelstest.Postgres(t, "the sign-in throttle of two instances")
	first := apptest.New(t, target)
	second := apptest.NewOnStore(t, modelstest.Open(t, target))
	first.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
	clients := []*apptest.Client{first.Client(t), second.Client(t)}
	for _, c := range clients {
		c.Get("/login")
	}
	for i := range 5 {
		wantStatus(t, clients[i%2].Post("/login", signInForm(adminEmail, "a guess")), http.StatusUnauthorized)
	}
	for _, c := range clients {
		wantStatus(t, c.Post("/login", signInForm(adminEmail, "a guess")), http.StatusTooManyRequests)
	}
}

func TestSignInDuringAnOutageCountsNothing(t *testing.T) {
	app, proxy, _ := faultApp(t)
	app.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
	visitor := app.Client(t)
	visitor.Get("/login")
	faults := []struct {
		name     string
		inject   func()
		attempts int
	}{
		{"refused", proxy.Refuse, 6},
		{"hung", proxy.Hang, 2},
	}
	attempts := 0
	for _, fault := range faults {
		fault.inject()
		for range fault.attempts {
			res := timed(func() *apptest.Response { return visitor.Post("/login", signInForm(adminEmail, "a guess")) })
			wantUnavailable(t, "sign-in with the database "+fault.name, res, faultDBTimeout)
			attempts++
		}
		proxy.Forward()
		eventually(t, "the database back", recoveryBound, func() string {
			if res := visitor.Get("/readyz"); res.StatusCode != http.StatusOK {
				return res.Status
			}
			return ""
		})
	}
	if got := metricValue(t, app, `keysmith_sign_ins_total{result="unavailable"}`); got != float64(attempts) {
		t.Errorf("sign-ins counted unavailable: got %v, want %d", got, attempts)
	}
	// None of them took a token: the account still has its five failures.
	for range 5 {
		wantStatus(t, visitor.Post("/login", signInForm(adminEmail, "a guess")), http.StatusUnauthorized)
	}
	wantStatus(t, visitor.Post("/login", signInForm(adminEmail, "a guess")), http.StatusTooManyRequests)
}

func TestSignInPastTheHashLimitIsRefusedAtOnce(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, _ *apptest.Client) {
		// One hash at a time, nobody waiting; a user whose hash takes a while keeps it busy.
		app.Store.SetPasswordHashLimit(1, 0, 0)
		slow := app.CreateUser(t, "slow@example.com", models.PermissionConnectivityAdmin)
		slowHash := models.PasswordParams{Memory: 8, Time: 30_000, Threads: 1}.Hash(apptest.DefaultPassword)
		if err := app.Store.Exec(t.Context(), "UPDATE users SET password_hash = ? WHERE id = ?", slowHash, slow.ID); err != nil {
			t.Fatal(err)
		}
		owner := app.ClientFrom(t, "127.0.0.2")
		owner.Get("/login")
		var signedIn *apptest.Response
		var wg sync.WaitGroup
		wg.Go(func() { signedIn = owner.Post("/login", signInForm(slow.Email, apptest.DefaultPassword)) })
		for deadline := time.Now().Add(5 * time.Second); app.Store.PasswordHashStats().Running == 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the slow sign-in did not start hashing")
			}
		}
		visitor := app.ClientFrom(t, "127.0.0.3")
		visitor.Get("/login")
		res := timed(func() *apptest.Response { return visitor.Post("/login", signInForm(adminEmail, "a guess")) })
		wg.Wait()
		wantStatus(t, signedIn, http.StatusSeeOther)
		wantStatus(t, res.Response, http.StatusServiceUnavailable)
		if got, want := res.Header.Get("Retry-After"), "1"; got != want {
			t.Errorf("Retry-After: got %q, want %q", got, want)
		}
		if got := loginError(t, res.Response); !strings.Contains(got, "busy") {
			t.Errorf("message: got %q, want one saying Keysmith is busy", got)
		}
		if res.took > faultSlack {
			t.Errorf("the refusal took %v, want it at once (within %v)", res.took, faultSlack)
		}
		if got := metricValue(t, app, `keysmith_sign_ins_total{result="busy"}`); got != 1 {
			t.Errorf("sign-ins counted busy: got %v, want 1", got)
		}
		// The refused attempt took no token.
		for range 5 {
			wantStatus(t, visitor.Post("/login", signInForm(adminEmail, "a guess")), http.StatusUnauthorized)
		}
		wantStatus(t, visitor.Post("/login", signInForm(adminEmail, "a guess")), http.StatusTooManyRequests)
	})
}

// TestNoPasswordHashAtStartUp: a server starts and shows the login page without hashing, so an
// idle server holds no hash's memory; an unknown account then costs one hash, against a dummy.
func TestNoPasswordHashAtStartUp(t *testing.T) {
	models.SetPasswordParams(models.DefaultPasswordParams)
	t.Cleanup(modelstest.UseFastPasswords)
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			app := apptest.New(t, target)
			visitor := app.Client(t)
			wantStatus(t, visitor.Get("/login"), http.StatusOK)
			runtime.ReadMemStats(&after)
			if allocated, hash := after.TotalAlloc-before.TotalAlloc, uint64(models.DefaultPasswordParams.Memory)*1024; allocated >= hash {
				t.Errorf("starting and showing the login page allocated %d bytes, want less than one hash's %d", allocated, hash)
			}
			if got := metricValue(t, app, "keysmith_password_hashes_total"); got != 0 {
				t.Errorf("password hashes after start-up: got %v, want 0", got)
			}
			wantStatus(t, visitor.Post("/login", signInForm("nobody@example.com", "a guess")), http.StatusUnauthorized)
			if got := metricValue(t, app, "keysmith_password_hashes_total"); got != 1 {
				t.Errorf("password hashes after an unknown account's attempt: got %v, want 1", got)
			}
		})
	}
}

// Signing in without a page to return to leads to the first page the user may open: the
// API Keys list for an administrator, Your account for someone with no administration
// permission, who would meet only a 403 page in the console. So does the site's root.
func TestSignInLeadsWhereTheUserMayGo(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		app.CreateUser(t, "reader@example.com", models.PermissionNone)
		for _, tc := range []struct{ email, want string }{
			{adminEmail, "/admin/api-keys"},
			{"reader@example.com", "/account"},
		} {
			client := app.Client(t)
			client.Get("/login")
			res := client.Post("/login", signInForm(tc.email, apptest.DefaultPassword))
			wantStatus(t, res, http.StatusSeeOther)
			if got := res.Header.Get("Location"); got != tc.want {
				t.Errorf("%s signed in: sent to %q, want %q", tc.email, got, tc.want)
			}
			for _, path := range []string{"/", "/login"} {
				if got := client.Get(path).Header.Get("Location"); got != tc.want {
					t.Errorf("%s signed in, GET %s: sent to %q, want %q", tc.email, path, got, tc.want)
				}
			}
			wantStatus(t, client.Get("/account"), http.StatusOK)
		}
		res := app.Client(t).Get("/")
		if got := res.Header.Get("Location"); got != "/admin/api-keys" {
			t.Errorf("GET / signed out: sent to %q, want /admin/api-keys, which asks to sign in", got)
		}
	})
}

func TestLoginRedirectsAndReturns(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, _ *apptest.Client) {
		visitor := app.Client(t)
		res := visitor.Get("/admin/api-keys?q=gate&sort=name")
		wantStatus(t, res, http.StatusSeeOther)
		if got, want := res.Header.Get("Location"), "/login?next="+url.QueryEscape("/admin/api-keys?q=gate&sort=name"); got != want {
			t.Fatalf("redirect to %q, want %q", got, want)
		}
		visitor.Get(res.Header.Get("Location"))
		login := visitor.Post("/login", url.Values{"email": {adminEmail}, "password": {apptest.DefaultPassword}, "next": {"/admin/api-keys?q=gate&sort=name"}})
		wantStatus(t, login, http.StatusSeeOther)
		if got := login.Header.Get("Location"); got != "/admin/api-keys?q=gate&sort=name" {
			t.Errorf("after login: redirect to %q, want the page asked for", got)
		}
		for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"} {
			other := app.Client(t)
			other.Get("/login")
			res := other.Post("/login", url.Values{"email": {adminEmail}, "password": {apptest.DefaultPassword}, "next": {next}})
			if got := res.Header.Get("Location"); got != "/admin/api-keys" {
				t.Errorf("next=%q: redirect to %q, want /admin/api-keys", next, got)
			}
		}
	})
}

func TestLoginFailureIsGenericAndThrottled(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, _ *apptest.Client) {
		visitor := app.Client(t)
		visitor.Get("/login")
		wrongPassword := visitor.Post("/login", url.Values{"email": {adminEmail}, "password": {"not the password"}})
		unknownUser := visitor.Post("/login", url.Values{"email": {"ghost@example.com"}, "password": {"not the password"}})
		wantStatus(t, wrongPassword, http.StatusUnauthorized)
		wantStatus(t, unknownUser, http.StatusUnauthorized)
		a := doc(t, wrongPassword.Body).Find(`[data-testid="login-error"]`).Text()
		b := doc(t, unknownUser.Body).Find(`[data-testid="login-error"]`).Text()
		if a == "" || a != b {
			t.Errorf("messages differ or are empty: %q vs %q", a, b)
		}
		for range 4 {
			visitor.Post("/login", url.Values{"email": {adminEmail}, "password": {"still wrong"}})
		}
		// Five failures for the account: even the right password now waits.
		res := visitor.Post("/login", url.Values{"email": {adminEmail}, "password": {apptest.DefaultPassword}})
		wantStatus(t, res, http.StatusTooManyRequests)
		if retry := res.Header.Get("Retry-After"); retry == "" || retry == "0" {
			t.Errorf("Retry-After = %q, want seconds to wait", retry)
		}
		if !strings.Contains(doc(t, res.Body).Find(`[data-testid="login-error"]`).Text(), "Too many failed sign-in attempts") {
			t.Errorf("429 page does not explain the wait: %s", res.Body)
		}
		// Another account from the same address still gets through.
		app.CreateUser(t, "other@example.com", models.PermissionConnectivityAdmin)
		res = visitor.Post("/login", url.Values{"email": {"other@example.com"}, "password": {apptest.DefaultPassword}})
		wantStatus(t, res, http.StatusSeeOther)
		// Twenty failures from one address lock it for every account.
		attacker := app.Client(t)
		attacker.Get("/login")
		for i := range 20 {
			attacker.Post("/login", url.Values{"email": {"spray" + string(rune('a'+i)) + "@example.com"}, "password": {"x"}})
		}
		app.CreateUser(t, "third@example.com", models.PermissionConnectivityAdmin)
		res = attacker.Post("/login", url.Values{"email": {"third@example.com"}, "password": {apptest.DefaultPassword}})
		wantStatus(t, res, http.StatusTooManyRequests)
	})
}

func TestParallelGuessesAreThrottledToo(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, _ *apptest.Client) {
		// One browser each (a client remembers the CSRF token of each answer, so it is not
		// shared between goroutines), all from the same address.
		attackers := make([]*apptest.Client, 12)
		for i := range attackers {
			attackers[i] = app.Client(t)
			attackers[i].Get("/login")
		}
		statuses := make(chan int, len(attackers))
		var wg sync.WaitGroup
		for _, attacker := range attackers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := attacker.Post("/login", url.Values{"email": {adminEmail}, "password": {"guess"}})
				statuses <- res.StatusCode
			}()
		}
		wg.Wait()
		close(statuses)
		counts := map[int]int{}
		for status := range statuses {
			counts[status]++
		}
		if counts[http.StatusUnauthorized] != 5 || counts[http.StatusTooManyRequests] != 7 {
			t.Errorf("12 parallel guesses: %v, want exactly 5 checked (401) and 7 refused (429)", counts)
		}
		// A successful sign-in gives its attempt back: the account is not locked by its owner.
		owner := app.Client(t)
		other := app.CreateUser(t, "owner@example.com", models.PermissionConnectivityAdmin)
		for range 8 {
			owner.Login(other.Email)
		}
	})
}
