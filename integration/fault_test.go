package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"keysmith/app/apptest"
	"keysmith/config"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// The deadlines of the fault tests: short, so that the tests stay fast, and far enough apart
// that a wait on the wrong one shows.
const (
	faultDBTimeout     = time.Second
	faultVerifyTimeout = 300 * time.Millisecond
	faultStaleFor      = 30 * time.Second
	// faultSlack is what an answer may take beyond its deadline: the round trip, a page's
	// rendering, a password hash.
	faultSlack = 400 * time.Millisecond
	// recoveryBound is the target: everything works again within it once the database
	// is back.
	recoveryBound = 5 * time.Second
)

// faultApp starts Keysmith on PostgreSQL behind a proxy the test controls, with short
// deadlines, and returns a store that reaches the database directly. It skips without
// PostgreSQL.
func faultApp(t *testing.T, configure ...func(*config.Config)) (app *apptest.App, proxy *modelstest.Proxy, direct *models.Store) {
	t.Helper()
	return apptest.NewBehindProxy(t, faultDBTimeout, append([]func(*config.Config){func(cfg *config.Config) {
		cfg.VerifyDBTimeout = faultVerifyTimeout
		cfg.StaleKeysFor = faultStaleFor
		// The test's end stops the server, maybe with the database still away.
		cfg.ShutdownTimeout = 2 * time.Second
	}}, configure...)...)
}

// answer is one request's outcome and how long it took.
type answer struct {
	*apptest.Response
	took time.Duration
}

func timed(do func() *apptest.Response) answer {
	start := time.Now()
	res := do()
	return answer{Response: res, took: time.Since(start)}
}

// verifyAs asks the gateway endpoint about secret, as the given client.
func verifyAs(c *apptest.Client, secret, userAgent string) answer {
	return timed(func() *apptest.Response {
		return c.Do(http.MethodGet, "/api/v1/auth/verify", nil, map[string]string{"X-API-SECRET": secret, "User-Agent": userAgent})
	})
}

// wantUnavailable checks a 503 with Retry-After, kept by no cache, that came within the
// deadline.
func wantUnavailable(t *testing.T, what string, got answer, deadline time.Duration) {
	t.Helper()
	if got.StatusCode != http.StatusServiceUnavailable || got.Header.Get("Retry-After") == "" {
		t.Errorf("%s: status %d with Retry-After %q, want 503 with Retry-After; body %.300s", what, got.StatusCode, got.Header.Get("Retry-After"), got.Body)
	}
	if cc := got.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: got Cache-Control %q, want %q", what, cc, "no-store")
	}
	if got.took > deadline+faultSlack {
		t.Errorf("%s took %v, want at most %v (its deadline) + %v", what, got.took, deadline, faultSlack)
	}
}

// wantJSONUnavailable also checks the API's error shape: a message and the request id.
func wantJSONUnavailable(t *testing.T, what string, got answer, deadline time.Duration) {
	t.Helper()
	wantUnavailable(t, what, got, deadline)
	var body struct {
		Error     string `json:"error"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(got.Body), &body); err != nil || body.Error == "" || body.RequestID != got.Header.Get("X-Request-Id") || body.RequestID == "" {
		t.Errorf("%s: body %q, want {\"error\": …, \"request_id\": %q}", what, got.Body, got.Header.Get("X-Request-Id"))
	}
}

// metricValue reads one sample from the server's metrics, or -1 when it is missing.
func metricValue(t *testing.T, app *apptest.App, sample string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	app.Server.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for line := range strings.Lines(rec.Body.String()) {
		if value, ok := strings.CutPrefix(strings.TrimSpace(line), sample+" "); ok {
			var v float64
			if err := json.Unmarshal([]byte(value), &v); err == nil {
				return v
			}
		}
	}
	return -1
}

// awaitLeaseEnd waits until the key cache's lease, renewed every 250 ms by the revocation
// listener, has run out since a fault began: until then the cache answers as before, rightly,
// since every revocation announced before its last ping has been applied.
func awaitLeaseEnd() { time.Sleep(1100 * time.Millisecond) }

// eventually polls check until it returns "" (no complaint) or within has passed, and fails
// the test with the last complaint then. It returns how long it took.
func eventually(t *testing.T, what string, within time.Duration, check func() string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		complaint := check()
		if complaint == "" {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v: %s", what, within, complaint)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDatabaseFaults cuts Keysmith off from PostgreSQL in each way a database goes away and
// checks what every kind of request answers, how long it takes, and that everything comes
// back by itself, including the uses gathered meanwhile.
func TestDatabaseFaults(t *testing.T) {
	faults := []struct {
		name string
		// inject starts the fault.
		inject func(p *modelstest.Proxy)
		// waits is the deadline a request that needs the database runs into: refused
		// connections fail at once, a hung database only at the deadline.
		hangs bool
	}{
		{"refused", (*modelstest.Proxy).Refuse, false},
		{"hung", (*modelstest.Proxy).Hang, true},
	}
	for _, fault := range faults {
		t.Run(fault.name, func(t *testing.T) {
			app, proxy, direct := faultApp(t)
			ctx := context.Background()
			app.CreateUser(t, "ada@example.com", models.PermissionConnectivityAdmin)
			admin := app.Client(t)
			admin.Login("ada@example.com")
			gateway := app.Client(t)
			signIn := app.Client(t)
			signIn.Get("/login")
			cachedKey, cached := createKey(t, direct, "verified before the outage")
			_, uncached := createKey(t, direct, "never verified")
			awaitHeard(t, app, cached, uncached)
			if got := verifyAs(gateway, cached, "before/1.0"); got.StatusCode != http.StatusOK {
				t.Fatalf("before the outage: status %d, want 200", got.StatusCode)
			}
			if err := app.Keys.FlushUsage(ctx); err != nil {
				t.Fatal(err)
			}

			outage := time.Now()
			fault.inject(proxy)
			awaitLeaseEnd()

			// A key verified before the outage keeps verifying, marked stale, and within the
			// verification deadline even while the database hangs; after the first lookup
			// gives up, the next ones do not wait for it.
			for i := range 3 {
				got := verifyAs(gateway, cached, "during-outage/1.0")
				if got.StatusCode != http.StatusOK || got.Header.Get("X-Keysmith-Stale") != "true" || !strings.Contains(got.Body, `"stale":true`) {
					t.Fatalf("cached key during the outage (%d): status %d, X-Keysmith-Stale %q, body %s; want 200, true and \"stale\":true",
						i, got.StatusCode, got.Header.Get("X-Keysmith-Stale"), got.Body)
				}
				if got.took > faultVerifyTimeout+faultSlack {
					t.Errorf("cached key during the outage (%d) took %v, want at most %v", i, got.took, faultVerifyTimeout+faultSlack)
				}
				if i > 0 && got.took > faultSlack {
					t.Errorf("cached key, again during the outage (%d), took %v: it waited for the database again", i, got.took)
				}
			}
			// A key this instance cannot vouch for is neither accepted nor refused.
			wantJSONUnavailable(t, "uncached key during the outage", verifyAs(gateway, uncached, "x"), faultVerifyTimeout)
			// Once a lookup has failed, the next ones do not wait for the database either.
			if again := verifyAs(gateway, uncached, "x"); again.took > faultVerifyTimeout/2 {
				t.Errorf("uncached key, again during the outage, took %v: it waited for the database again", again.took)
			}
			// An API call whose own work needs the database.
			wantJSONUnavailable(t, "GET /api/v1/items during the outage", timed(func() *apptest.Response {
				return gateway.Do(http.MethodGet, "/api/v1/items", nil, map[string]string{"X-API-SECRET": cached})
			}), faultDBTimeout)
			// A console page.
			page := timed(func() *apptest.Response { return admin.Get("/admin/api-keys") })
			wantUnavailable(t, "the list page during the outage", page, faultDBTimeout)
			if !strings.Contains(page.Body, "Keysmith cannot reach its database") || !strings.Contains(page.Body, page.Header.Get("X-Request-Id")) {
				t.Errorf("the list page during the outage says %.500s; want the database message and the reference %q", page.Body, page.Header.Get("X-Request-Id"))
			}
			// The same over htmx: a fragment, with the reference too.
			fragment := timed(func() *apptest.Response {
				return admin.HTMX(http.MethodGet, "/admin/api-keys?q=x", "#key-list", nil)
			})
			wantUnavailable(t, "the list over htmx during the outage", fragment, faultDBTimeout)
			if !strings.Contains(fragment.Body, "Keysmith cannot reach its database") || !strings.Contains(fragment.Body, fragment.Header.Get("X-Request-Id")) {
				t.Errorf("the list over htmx during the outage says %.500s; want the database message and the reference %q", fragment.Body, fragment.Header.Get("X-Request-Id"))
			}
			// Sign-in.
			wantUnavailable(t, "sign-in during the outage", timed(func() *apptest.Response {
				return signIn.Post("/login", url.Values{"email": {"ada@example.com"}, "password": {apptest.DefaultPassword}})
			}), faultDBTimeout)
			// Health: /readyz fails within the verification deadline, /healthz keeps answering.
			ready := timed(func() *apptest.Response { return gateway.Get("/readyz") })
			if ready.StatusCode != http.StatusServiceUnavailable || ready.took > faultVerifyTimeout+faultSlack {
				t.Errorf("/readyz during the outage: status %d after %v, want 503 within %v", ready.StatusCode, ready.took, faultVerifyTimeout+faultSlack)
			}
			if health := timed(func() *apptest.Response { return gateway.Get("/healthz") }); health.StatusCode != http.StatusOK || health.took > faultSlack {
				t.Errorf("/healthz during the outage: status %d after %v, want 200 at once", health.StatusCode, health.took)
			}
			if fault.hangs {
				// A client that gives up before the deadline is not a server failure.
				impatient := &http.Client{Timeout: 100 * time.Millisecond, Jar: admin.HTTP.Jar}
				if res, err := impatient.Get(app.URL + "/admin/api-keys"); err == nil {
					res.Body.Close()
					t.Errorf("impatient client got status %d, want it to give up first", res.StatusCode)
				}
			}
			// Many failing requests make few error lines.
			for range 100 {
				verifyAs(gateway, cached, "during-outage/1.0")
				if fault.hangs {
					continue
				}
				gateway.Do(http.MethodGet, "/api/v1/items", nil, map[string]string{"X-API-SECRET": cached})
			}
			if n := metricValue(t, app, `keysmith_key_verifications_total{result="stale"}`); n < 100 {
				t.Errorf("stale verifications counted: %v, want at least 100", n)
			}

			proxy.Forward()
			back := time.Now()
			took := eventually(t, "recovery", recoveryBound, func() string {
				if got := verifyAs(gateway, uncached, "after/1.0"); got.StatusCode != http.StatusOK || got.Header.Get("X-Keysmith-Stale") != "" {
					return "uncached key: status " + got.Status + ", stale " + got.Header.Get("X-Keysmith-Stale")
				}
				if got := admin.Get("/admin/api-keys"); got.StatusCode != http.StatusOK {
					return "list page: " + got.Status
				}
				if got := gateway.Get("/readyz"); got.StatusCode != http.StatusOK {
					return "/readyz: " + got.Status
				}
				if metricValue(t, app, "keysmith_revocation_listener_up") != 1 {
					return "the revocation listener is not back"
				}
				return ""
			})
			t.Logf("%s: everything answered again %v after the database came back", fault.name, took)
			fresh := app.Client(t)
			fresh.Login("ada@example.com")

			// The uses gathered during the outage are written once the database is back.
			eventually(t, "uses gathered during the outage written", recoveryBound-time.Since(back)+time.Second, func() string {
				clients, err := direct.APIKeyClients(ctx, cachedKey.ID, outage.Add(-time.Minute), 10)
				if err != nil {
					return err.Error()
				}
				for _, c := range clients.Clients {
					if c.Client == "during-outage/1.0" && !c.LastSeenAt.Before(outage.Truncate(time.Second)) {
						return ""
					}
				}
				return "no use by during-outage/1.0 written; log:\n" + app.Logs()
			})
			// So are the requests it counted meanwhile: every one the key authenticated, from
			// memory too, is in the key's daily count (two days, should the test cross midnight).
			// One before the outage, 3 and 100 verifications, and 1 and, while the database
			// refuses, 100 more API calls, each authenticated and then answered 503.
			wantRequests := int64(1 + 3 + 1 + 100)
			if !fault.hangs {
				wantRequests += 100
			}
			// The flusher writes counts once a minute; the key page writes them at once.
			if err := app.Keys.FlushUsage(ctx); err != nil {
				t.Fatal(err)
			}
			days, err := direct.APIKeyDailyUses(ctx, cachedKey.ID, 2)
			if err != nil {
				t.Fatal(err)
			}
			if got := days[0].Requests + days[1].Requests; got != wantRequests {
				t.Errorf("requests of the key counted across the outage: got %d, want %d", got, wantRequests)
			}

			// Revocation works again on this instance: the listener hears a delete made
			// elsewhere.
			if _, err := direct.DeleteAPIKey(ctx, cachedKey.PublicID); err != nil {
				t.Fatal(err)
			}
			waitForStatus(t, app, cached, http.StatusUnauthorized, revocationBound)

			logs := app.Logs()
			if n := strings.Count(logs, "level=ERROR") + strings.Count(logs, "level=WARN"); n > 40 {
				t.Errorf("the outage wrote %d WARN and ERROR lines, want at most 40:\n%s", n, logs)
			}
			if strings.Contains(logs, "status=500") {
				t.Errorf("some request was answered 500 during the outage:\n%s", logs)
			}
			if fault.hangs && !strings.Contains(logs, "status=499") {
				t.Errorf("the client that hung up is not logged with status 499:\n%s", logs)
			}
		})
	}
}

// A key vouched for longer ago than the stale window is not accepted without the database, and
// neither is one that expired since.
func TestStaleKeysOnlyWithinTheirWindow(t *testing.T) {
	app, proxy, direct := faultApp(t)
	clock := setClock(time.Now(), app.Store)
	expiresAt := clock.now().Add(faultStaleFor / 2)
	_, expiring, err := direct.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "expires soon", Scope: models.ScopeReadOnly, ExpiresAt: &expiresAt})
	if err != nil {
		t.Fatal(err)
	}
	_, lasting := createKey(t, direct, "lasting")
	awaitHeard(t, app, expiring, lasting)
	gateway := app.Client(t)
	for _, secret := range []string{expiring, lasting} {
		if got := verifyAs(gateway, secret, "x"); got.StatusCode != http.StatusOK {
			t.Fatalf("before the outage: status %d, want 200", got.StatusCode)
		}
	}
	proxy.Refuse()
	awaitLeaseEnd()
	clock.move(faultStaleFor - time.Second)
	if got := verifyAs(gateway, lasting, "x"); got.StatusCode != http.StatusOK || got.Header.Get("X-Keysmith-Stale") != "true" {
		t.Fatalf("within the stale window: status %d, stale %q, want 200 and true", got.StatusCode, got.Header.Get("X-Keysmith-Stale"))
	}
	clock.move(faultStaleFor / 2)
	if got := verifyAs(gateway, expiring, "x"); got.StatusCode != http.StatusUnauthorized {
		t.Errorf("key expired during the outage: status %d, want 401", got.StatusCode)
	}
	clock.move(faultStaleFor/2 + faultStaleFor)
	wantJSONUnavailable(t, "past the stale window", verifyAs(gateway, lasting, "x"), faultVerifyTimeout)
}

// With KEYSMITH_STALE_KEYS_FOR=0 no key is accepted without the database.
func TestStaleKeysCanBeTurnedOff(t *testing.T) {
	app, proxy, direct := faultApp(t, func(cfg *config.Config) { cfg.StaleKeysFor = 0 })
	_, secret := createKey(t, direct, "cached")
	awaitHeard(t, app, secret)
	gateway := app.Client(t)
	if got := verifyAs(gateway, secret, "x"); got.StatusCode != http.StatusOK {
		t.Fatalf("before the outage: status %d, want 200", got.StatusCode)
	}
	proxy.Refuse()
	awaitLeaseEnd()
	wantJSONUnavailable(t, "cached key with stale answers off", verifyAs(gateway, secret, "x"), faultVerifyTimeout)
}

// A dropped connection is a blip: requests that met it are answered 503, never 500, and the
// next ones work.
func TestDroppedConnectionsAreABlip(t *testing.T) {
	app, proxy, direct := faultApp(t)
	app.CreateUser(t, "ada@example.com", models.PermissionConnectivityAdmin)
	admin := app.Client(t)
	admin.Login("ada@example.com")
	_, secret := createKey(t, direct, "key")
	awaitHeard(t, app, secret)
	gateway := app.Client(t)
	proxy.Drop()
	for i := range 20 {
		for what, got := range map[string]*apptest.Response{
			"list page": admin.Get("/admin/api-keys"),
			"items":     gateway.Do(http.MethodGet, "/api/v1/items", nil, map[string]string{"X-API-SECRET": secret}),
		} {
			if got.StatusCode != http.StatusOK && got.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("%s after the drop (%d): status %d, want 200 or 503", what, i, got.StatusCode)
			}
		}
	}
	eventually(t, "recovery after a drop", recoveryBound, func() string {
		if got := admin.Get("/admin/api-keys"); got.StatusCode != http.StatusOK {
			return got.Status
		}
		return ""
	})
}

// A lookup that waits out its deadline while other lookups are answered met a busy pool, not
// a database gone: the requests after it still ask the database, rather than being answered
// 503 at once for a second. The database here takes no new connection while the pool's open
// ones go on, as when its max_connections is reached.
func TestALookupThatTimesOutAloneTakesNothingDown(t *testing.T) {
	app, proxy, direct := faultApp(t)
	ctx := context.Background()
	_, first := createKey(t, direct, "opens a connection")
	_, slow := createKey(t, direct, "needs a new connection")
	_, answered := createKey(t, direct, "finds an open connection")
	_, after := createKey(t, direct, "asked after the slow one failed")
	awaitHeard(t, app, first, slow, answered, after)
	gateway, other := app.Client(t), app.Client(t)
	if got := verifyAs(gateway, first, "x"); got.StatusCode != http.StatusOK {
		t.Fatalf("before the fault: status %d, want 200", got.StatusCode)
	}

	proxy.HangNew()
	// Every open connection is held, so that the next lookup must open one, which hangs. One
	// that a background job (the heartbeat, the audit checks) has in use is waited for and
	// held too: given back later, it would answer the slow lookup.
	pool := app.Store.Pool()
	var held []*sql.Conn
	for start := time.Now(); ; {
		stats := pool.Stats()
		if stats.Idle == 0 && stats.InUse == len(held) {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("background jobs kept %d connections for 5 s", stats.InUse-len(held))
		}
		if stats.Idle == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		// Bounded: a job may take the idle connection first, and a new one hangs.
		taking, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		conn, err := pool.Conn(taking)
		cancel()
		if err == nil {
			held = append(held, conn)
		}
	}
	hung := proxy.Connections()
	slowAnswer := make(chan answer, 1)
	go func() { slowAnswer <- verifyAs(other, slow, "x") }()
	eventually(t, "the slow lookup's new connection", time.Second, func() string {
		if proxy.Connections() <= hung {
			return "no new connection yet"
		}
		return ""
	})
	// Open connections come back to the pool: the lookups from here on find them.
	for _, conn := range held {
		conn.Close()
	}
	if got := verifyAs(gateway, answered, "x"); got.StatusCode != http.StatusOK {
		t.Fatalf("a lookup on an open connection while the slow one waits: status %d, want 200", got.StatusCode)
	}
	wantJSONUnavailable(t, "the lookup whose connection hangs", <-slowAnswer, faultVerifyTimeout)
	if got := verifyAs(gateway, after, "x"); got.StatusCode != http.StatusOK {
		t.Errorf("a key asked for after the slow lookup failed: status %d, want 200 (the database answers); body %.200s", got.StatusCode, got.Body)
	}
}
