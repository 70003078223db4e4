package integration

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"keysmith/app/apptest"
	"keysmith/config"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// webhookTimeout is the deadline of each attempt in these tests: short, so that a receiver
// that hangs costs the test little.
const webhookTimeout = 300 * time.Millisecond

// receivedEvent is one request the receiver accepted as signed by Keysmith.
type receivedEvent struct {
	id, timestamp string
	raw           string
	body          struct {
		Type      string    `json:"type"`
		Timestamp time.Time `json:"timestamp"`
		Data      struct {
			KeyID     string     `json:"key_id"`
			Name      string     `json:"name"`
			Scope     string     `json:"scope"`
			ExpiresAt *time.Time `json:"expires_at"`
		} `json:"data"`
	}
}

// webhookReceiver is a local endpoint that checks every request with the Standard Webhooks
// project's own Go library, independently of Keysmith's signing code, and records those
// that pass. It answers 500 to the first failures requests it accepts (or the refusals set
// by refuse), and holds every request while hang is set.
type webhookReceiver struct {
	t      *testing.T
	server *httptest.Server
	// secret is the KEYSMITH_WEBHOOK_SECRET that Keysmith is given.
	secret   string
	verifier *standardwebhooks.Webhook
	// checkTime makes the receiver refuse a timestamp more than 5 minutes from its own clock,
	// as the library does by default; tests that move Keysmith's clock turn it off.
	checkTime bool

	mu       sync.Mutex
	failures int
	// refusals are the answers to the first requests, each a status and a Retry-After
	// (none when empty), before failures are counted.
	refusals []refusal
	hang     bool
	delay    time.Duration
	requests []receivedEvent
	// accepted are the requests answered 2xx: the events delivered.
	accepted []receivedEvent
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	verifier, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	r := &webhookReceiver{t: t, secret: secret, verifier: verifier, checkTime: true}
	released := make(chan struct{})
	r.server = httptest.NewServer(http.HandlerFunc(r.serve(released)))
	t.Cleanup(r.server.Close)
	// Runs before the server closes: a request held by hang lets go.
	t.Cleanup(func() { close(released) })
	return r
}

func (r *webhookReceiver) serve(released chan struct{}) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, req *http.Request) {
		raw, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable", http.StatusBadRequest)
			return
		}
		verify := r.verifier.VerifyIgnoringTimestamp
		if r.checkTime {
			verify = r.verifier.Verify
		}
		if err := verify(raw, req.Header); err != nil {
			r.t.Errorf("receiver: got a request that fails verification (%v): headers %v, body %s", err, req.Header, raw)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
			r.t.Errorf("receiver: got %s with Content-Type %q, want POST with application/json", req.Method, req.Header.Get("Content-Type"))
		}
		event := receivedEvent{id: req.Header.Get("webhook-id"), timestamp: req.Header.Get("webhook-timestamp"), raw: string(raw)}
		if err := json.Unmarshal(raw, &event.body); err != nil {
			r.t.Errorf("receiver: body %s is not the JSON of an event: %v", raw, err)
		}
		r.mu.Lock()
		r.requests = append(r.requests, event)
		refused := refusal{status: http.StatusInternalServerError}
		fail := len(r.refusals) > 0 || r.failures > 0
		if len(r.refusals) > 0 {
			refused, r.refusals = r.refusals[0], r.refusals[1:]
		} else if fail {
			r.failures--
		}
		hang, delay := r.hang, r.delay
		r.mu.Unlock()
		if hang {
			select {
			case <-req.Context().Done():
			case <-released:
			}
			return
		}
		time.Sleep(delay)
		if fail {
			if refused.retryAfter != "" {
				w.Header().Set("Retry-After", refused.retryAfter)
			}
			http.Error(w, "not now", refused.status)
			return
		}
		r.mu.Lock()
		r.accepted = append(r.accepted, event)
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}
}

// configure points an app at the receiver.
func (r *webhookReceiver) configure(cfg *config.Config) {
	u, err := url.Parse(r.server.URL + "/hooks/keysmith?token=receiver-token")
	if err != nil {
		r.t.Fatal(err)
	}
	secret, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(r.secret, "whsec_"))
	if err != nil {
		r.t.Fatal(err)
	}
	cfg.WebhookURL, cfg.WebhookSecret, cfg.WebhookTimeout = u, secret, webhookTimeout
}

// refusal is an answer the receiver gives instead of taking an event.
type refusal struct {
	status     int
	retryAfter string
}

// refuse makes the receiver answer its next requests with these refusals, one each.
func (r *webhookReceiver) refuse(refusals ...refusal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refusals = refusals
}

func (r *webhookReceiver) set(failures int, hang bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures, r.hang = failures, hang
}

func (r *webhookReceiver) received() (requests, accepted []receivedEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests), slices.Clone(r.accepted)
}

// waitForRequests waits until the receiver has had n requests, and fails the test if it has
// not within 5 s.
func (r *webhookReceiver) waitForRequests(n int) []receivedEvent {
	r.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		requests, _ := r.received()
		if len(requests) >= n {
			return requests
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("receiver: got %d requests after 5 s, want %d", len(requests), n)
		}
	}
}

// webhookDeliveries reads app's keysmith_webhook_deliveries_total by result.
func webhookDeliveries(t *testing.T, metricsURL string) (delivered, failed, givenUp float64) {
	t.Helper()
	scrape := scrapeMetrics(t, metricsURL)
	delivered, _ = scrape.value("keysmith_webhook_deliveries_total", resultLabel("delivered"))
	failed, _ = scrape.value("keysmith_webhook_deliveries_total", resultLabel("failed"))
	givenUp, _ = scrape.value("keysmith_webhook_deliveries_total", resultLabel("given_up"))
	return delivered, failed, givenUp
}

// waitForDeliveries waits until app's counters reach the wanted values, and fails the test if
// they have not within 5 s.
func waitForDeliveries(t *testing.T, metricsURL string, delivered, failed, givenUp float64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		d, f, g := webhookDeliveries(t, metricsURL)
		if d == delivered && f == failed && g == givenUp {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook deliveries after 5 s: got delivered %v, failed %v, given_up %v; want %v, %v, %v", d, f, g, delivered, failed, givenUp)
		}
	}
}

func metricsServer(t *testing.T, app *apptest.App) string {
	t.Helper()
	server := httptest.NewServer(app.Server.Metrics.Handler())
	t.Cleanup(server.Close)
	return server.URL
}

// deleteThroughConsole deletes key as an administrator does without JavaScript, and returns
// how long the delete took to answer.
func deleteThroughConsole(t *testing.T, admin *apptest.Client, key *models.APIKey) time.Duration {
	t.Helper()
	admin.Get("/admin/api-keys/" + key.PublicID + "/delete")
	start := time.Now()
	res := admin.Post("/admin/api-keys/"+key.PublicID+"/delete", url.Values{"confirm_name": {key.Name}})
	took := time.Since(start)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete through the console: got status %d, want %d; body: %s", res.StatusCode, http.StatusSeeOther, res.Body)
	}
	return took
}

// A key deleted in the console is announced to the receiver at once, signed so that the
// Standard Webhooks library accepts it, timestamp included, with the key in the body.
func TestWebhookKeyDeleted(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			receiver := newWebhookReceiver(t)
			app := apptest.New(t, target, receiver.configure)
			app.CreateUser(t, "ada@example.com", models.PermissionConnectivityAdmin)
			admin := app.Client(t)
			admin.Login("ada@example.com")
			expires := time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Second)
			key, _, err := app.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "Nightly export", Scope: models.ScopeScanner, ExpiresAt: &expires})
			if err != nil {
				t.Fatal(err)
			}
			deleted := time.Now()
			deleteThroughConsole(t, admin, key)
			event := receiver.waitForRequests(1)[0]
			t.Logf("key.deleted received %v after the delete", time.Since(deleted).Round(time.Millisecond))

			if event.body.Type != "key.deleted" || event.body.Data.KeyID != key.PublicID || event.body.Data.Name != "Nightly export" ||
				event.body.Data.Scope != "scanner" || event.body.Data.ExpiresAt == nil || !event.body.Data.ExpiresAt.Equal(expires) {
				t.Errorf("event body: got %s, want key.deleted of %s %q (scanner) expiring %v", event.raw, key.PublicID, key.Name, expires)
			}
			if since := time.Since(event.body.Timestamp); since < 0 || since > 10*time.Second {
				t.Errorf("event timestamp: got %v, want the delete's time, about %v", event.body.Timestamp, deleted.UTC())
			}
			if !strings.HasPrefix(event.id, "evt_") || strings.Contains(event.id, ".") {
				t.Errorf("webhook-id: got %q, want evt_… without a full stop", event.id)
			}
			// The independent verifier checks what it is asked to: a changed body, or another
			// secret, fails.
			headers := http.Header{}
			headers.Set("webhook-id", event.id)
			headers.Set("webhook-timestamp", event.timestamp)
			headers.Set("webhook-signature", signatureOf(t, receiver, event))
			if err := receiver.verifier.Verify([]byte(strings.Replace(event.raw, "Nightly", "Nightlz", 1)), headers); err == nil {
				t.Error("the verifier accepts a changed body")
			}
			other, _ := standardwebhooks.NewWebhook("whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 32)))
			if err := other.Verify([]byte(event.raw), headers); err == nil {
				t.Error("the verifier accepts the signature under another secret")
			}
			waitForDeliveries(t, metricsServer(t, app), 1, 0, 0)
			if pending, err := app.Store.PendingWebhookEvents(context.Background()); err != nil || pending != 0 {
				t.Errorf("pending events after delivery: got %d (%v), want 0", pending, err)
			}
			for _, leaked := range []string{receiver.secret, strings.TrimPrefix(receiver.secret, "whsec_"), "receiver-token"} {
				if strings.Contains(app.Logs(), leaked) {
					t.Errorf("the log holds %q, a secret", leaked)
				}
			}
		})
	}
}

// signatureOf signs event again as the library would, to hand the verifier a request whose
// only change is the one the test makes.
func signatureOf(t *testing.T, r *webhookReceiver, event receivedEvent) string {
	t.Helper()
	seconds, err := strconv.ParseInt(event.timestamp, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	signature, err := r.verifier.Sign(event.id, time.Unix(seconds, 0), []byte(event.raw))
	if err != nil {
		t.Fatal(err)
	}
	return signature
}

// Expiry notices reach the receiver once each, 30, 7 and 1 days before and at the expiry,
// as the clock moves; a notice whose moment came before the key was made is not sent.
func TestWebhookExpiryNotices(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			ctx := context.Background()
			receiver := newWebhookReceiver(t)
			receiver.checkTime = false
			// The clock is the test's, and the keys are there, before the server starts: its
			// first scan looks back a week, and finds the short key's 7-day moment there.
			store := modelstest.Open(t, target)
			clock := setClock(time.Now().UTC().Truncate(time.Second), store)
			day := 24 * time.Hour
			longExpiry, shortExpiry := clock.start.Add(40*day), clock.start.Add(5*day)
			long, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "quarterly report", Scope: models.ScopeReadOnly, ExpiresAt: &longExpiry})
			if err != nil {
				t.Fatal(err)
			}
			short, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "five days", Scope: models.ScopeAdmin, ExpiresAt: &shortExpiry})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "forever", Scope: models.ScopeAdmin}); err != nil {
				t.Fatal(err)
			}
			app := apptest.NewOnStore(t, store, receiver.configure)
			type notice struct {
				key       *models.APIKey
				eventType string
				before    time.Duration
			}
			steps := []struct {
				at   time.Duration
				want []notice
			}{
				{time.Minute, nil},
				// The short key's 30-day and 7-day moments came before it was made.
				{4*day + time.Minute, []notice{{short, "key.expiring", day}}},
				{5*day + time.Minute, []notice{{short, "key.expired", 0}}},
				{10*day + time.Minute, []notice{{long, "key.expiring", 30 * day}}},
				{33*day + time.Minute, []notice{{long, "key.expiring", 7 * day}}},
				{39*day + time.Minute, []notice{{long, "key.expiring", day}}},
				{40*day + time.Minute, []notice{{long, "key.expired", 0}}},
				{50 * day, nil},
			}
			seen := 0
			for _, step := range steps {
				clock.move(step.at)
				app.Webhooks.ScanExpiry(ctx)
				app.Webhooks.DeliverDue(ctx)
				requests := receiver.waitForRequests(seen + len(step.want))
				if len(step.want) == 0 {
					// Give the background sender the time to send what it should not.
					time.Sleep(50 * time.Millisecond)
					requests, _ = receiver.received()
				}
				got := requests[seen:]
				seen = len(requests)
				if len(got) != len(step.want) {
					t.Fatalf("at +%v: got %d events, want %d: %v", step.at, len(got), len(step.want), got)
				}
				for i, want := range step.want {
					event := got[i]
					wantID := fmt.Sprintf("%s_%s_%d", want.key.PublicID, map[time.Duration]string{30 * day: "expiring_30d", 7 * day: "expiring_7d", day: "expiring_1d", 0: "expired"}[want.before], want.key.ExpiresAt.Unix())
					if event.id != wantID || event.body.Type != want.eventType || !event.body.Timestamp.Equal(want.key.ExpiresAt.Add(-want.before)) ||
						event.body.Data.KeyID != want.key.PublicID || event.body.Data.Name != want.key.Name || event.body.Data.ExpiresAt == nil || !event.body.Data.ExpiresAt.Equal(*want.key.ExpiresAt) {
						t.Errorf("at +%v: got event %s %s, want %s: %s of %s at %v", step.at, event.id, event.raw, wantID, want.eventType, want.key.PublicID, want.key.ExpiresAt.Add(-want.before))
					}
					if event.timestamp != strconv.FormatInt(clock.now().Unix(), 10) {
						t.Errorf("at +%v: got webhook-timestamp %s, want the attempt's time %d", step.at, event.timestamp, clock.now().Unix())
					}
				}
			}
		})
	}
}

// deleteWithReceiver starts an app on target whose events go to receiver (timestamps not
// checked), with the store's clock at start, deletes a key named name, and waits for the
// receiver's first request. It returns the app, its metrics' address and the clock.
func deleteWithReceiver(t *testing.T, target modelstest.Target, receiver *webhookReceiver, start time.Time, name string) (*apptest.App, string, *testClock) {
	t.Helper()
	receiver.checkTime = false
	store := modelstest.Open(t, target)
	clock := setClock(start, store)
	app := apptest.NewOnStore(t, store, receiver.configure)
	metrics := metricsServer(t, app)
	key, _ := createKey(t, app.Store, name)
	if _, err := app.Store.DeleteAPIKey(context.Background(), key.PublicID); err != nil {
		t.Fatal(err)
	}
	receiver.waitForRequests(1)
	return app, metrics, clock
}

// A receiver that fails twice gets the event a third time, after the back-off, with the same
// webhook-id and body, signed anew with each attempt's timestamp.
func TestWebhookRetriesAfterFailures(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			ctx := context.Background()
			receiver := newWebhookReceiver(t)
			receiver.set(2, false)
			app, metrics, clock := deleteWithReceiver(t, target, receiver, time.Now().UTC().Truncate(time.Second), "retried")
			waitForDeliveries(t, metrics, 0, 1, 0)
			// The first retry waits 5 s (and up to a tenth more): not sooner.
			clock.move(4 * time.Second)
			app.Webhooks.DeliverDue(ctx)
			if requests, _ := receiver.received(); len(requests) != 1 {
				t.Fatalf("4 s after the first failure: got %d requests, want 1", len(requests))
			}
			clock.move(6 * time.Second)
			app.Webhooks.DeliverDue(ctx)
			receiver.waitForRequests(2)
			waitForDeliveries(t, metrics, 0, 2, 0)
			// The second retry waits 20 s, and a little more.
			clock.move(6*time.Second + 23*time.Second)
			app.Webhooks.DeliverDue(ctx)
			requests := receiver.waitForRequests(3)
			waitForDeliveries(t, metrics, 1, 2, 0)

			_, accepted := receiver.received()
			if len(requests) != 3 || len(accepted) != 1 {
				t.Fatalf("got %d requests and %d accepted, want 3 and 1", len(requests), len(accepted))
			}
			for i, request := range requests {
				if request.id != requests[0].id || request.raw != requests[0].raw {
					t.Errorf("attempt %d: got id %s, body %s; want those of the first, %s, %s", i+1, request.id, request.raw, requests[0].id, requests[0].raw)
				}
			}
			if requests[0].timestamp == requests[2].timestamp {
				t.Errorf("webhook-timestamp: got %s on the first and third attempts, want each attempt's own", requests[0].timestamp)
			}
			// The log says why, naming the event (a second failure within the second is
			// counted in the next line of its kind: the log's flood guard).
			if want := `msg="webhook attempt failed" event_id=` + requests[0].id + ` type=key.deleted attempt=1`; !strings.Contains(app.Logs(), want) {
				t.Errorf("the log does not hold %q:\n%s", want, app.Logs())
			}
			if pending, _ := app.Store.PendingWebhookEvents(ctx); pending != 0 {
				t.Errorf("pending events: got %d, want 0", pending)
			}
		})
	}
}

// A receiver that answers 503 or 429 with a Retry-After gets the event again no sooner than
// it asked, in seconds or as an HTTP date, rather than after the sender's own shorter delay;
// and no later than the sender's longest delay, whatever it asks.
func TestWebhookHonoursRetryAfter(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			ctx := context.Background()
			receiver := newWebhookReceiver(t)
			start := time.Now().UTC().Truncate(time.Second)
			receiver.refuse(
				refusal{http.StatusServiceUnavailable, "120"},
				refusal{http.StatusTooManyRequests, start.Add(130*time.Second + 10*time.Minute).Format(http.TimeFormat)},
				refusal{http.StatusServiceUnavailable, "86400"},
			)
			app, metrics, clock := deleteWithReceiver(t, target, receiver, start, "throttled")
			waitForDeliveries(t, metrics, 0, 1, 0)
			// attempt delivers what is due elapsed after the start, and wants the receiver to
			// have had n requests in all then.
			attempt := func(elapsed time.Duration, n int, why string) {
				t.Helper()
				clock.move(elapsed)
				app.Webhooks.DeliverDue(ctx)
				if requests, _ := receiver.received(); len(requests) != n {
					t.Fatalf("%s: got %d requests, want %d", why, len(requests), n)
				}
			}
			// The sender alone would retry after 5 s: the receiver asked for 120.
			attempt(10*time.Second, 1, "10 s after a 503 asking for 120 s")
			attempt(119*time.Second, 1, "119 s after a 503 asking for 120 s")
			attempt(121*time.Second, 2, "121 s after a 503 asking for 120 s")
			waitForDeliveries(t, metrics, 0, 2, 0)
			// The 429 asked until an HTTP date ten minutes on; the sender alone would have
			// waited 20 s.
			attempt(121*time.Second+9*time.Minute, 2, "9 minutes after a 429 asking for 10")
			attempt(131*time.Second+10*time.Minute, 3, "10 minutes after a 429 asking for 10")
			waitForDeliveries(t, metrics, 0, 3, 0)
			// A day asked for is held to the sender's longest delay, 2 h (and a tenth).
			attempt(131*time.Second+10*time.Minute+2*time.Hour+13*time.Minute, 4, "2 h 13 min after a 503 asking for a day")
			waitForDeliveries(t, metrics, 1, 3, 0)
			// The log says what the receiver asked for (the attempts after the first come
			// within the same second, and the log's flood guard counts them in one line).
			if want := `retry_at=` + start.Add(120*time.Second).Format("2006-01-02T15:04:05.000Z") + ` webhook_host=` + strings.TrimPrefix(receiver.server.URL, "http://") +
				` error="answered 503 Service Unavailable, asking to retry after 2m0s"`; !strings.Contains(app.Logs(), want) {
				t.Errorf("the log does not hold %q:\n%s", want, app.Logs())
			}
		})
	}
}

// A receiver that answers 410 Gone says that it will never take events at this URL again:
// the event is given up at its first attempt, logged and counted, and not retried.
func TestWebhookGivesUpWhenTheReceiverIsGone(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			ctx := context.Background()
			receiver := newWebhookReceiver(t)
			receiver.refuse(refusal{status: http.StatusGone})
			app, metrics, clock := deleteWithReceiver(t, target, receiver, time.Now().UTC().Truncate(time.Second), "gone")
			requests, _ := receiver.received()
			waitForDeliveries(t, metrics, 0, 0, 1)
			clock.move(24 * time.Hour)
			app.Webhooks.DeliverDue(ctx)
			if requests, _ := receiver.received(); len(requests) != 1 {
				t.Errorf("requests a day after a 410: got %d, want 1", len(requests))
			}
			want := `msg="webhook event given up" event_id=` + requests[0].id + ` type=key.deleted attempts=1`
			if !strings.Contains(app.Logs(), want) || !strings.Contains(app.Logs(), "answered 410 Gone: the receiver says this URL is gone for good") {
				t.Errorf("the log does not hold %q with the 410's reason:\n%s", want, app.Logs())
			}
			if pending, _ := app.Store.PendingWebhookEvents(ctx); pending != 0 {
				t.Errorf("pending events: got %d, want 0", pending)
			}
		})
	}
}

// An event is given up after 20 attempts, or at the first failed attempt 3 days after it was
// queued: once, logged once, counted, and never sent again.
func TestWebhookGivesUp(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			ctx := context.Background()
			receiver := newWebhookReceiver(t)
			receiver.checkTime = false
			receiver.set(1_000, false)
			store := modelstest.Open(t, target)
			clock := setClock(time.Now().UTC().Truncate(time.Second), store)
			app := apptest.NewOnStore(t, store, receiver.configure)
			metrics := metricsServer(t, app)

			// Too many attempts: the 20th is the last, the delays capped at 2 h (and a tenth).
			attempts, _ := createKey(t, app.Store, "attempts")
			if _, err := app.Store.DeleteAPIKey(ctx, attempts.PublicID); err != nil {
				t.Fatal(err)
			}
			var elapsed time.Duration
			for attempt := 1; attempt <= 20; attempt++ {
				receiver.waitForRequests(attempt)
				if attempt < 20 {
					waitForDeliveries(t, metrics, 0, float64(attempt), 0)
					elapsed += 2*time.Hour + 13*time.Minute
					clock.move(elapsed)
					app.Webhooks.DeliverDue(ctx)
				}
			}
			waitForDeliveries(t, metrics, 0, 19, 1)

			// Too old: queued, failed once, then 3 days later fails for the last time.
			age, _ := createKey(t, app.Store, "age")
			if _, err := app.Store.DeleteAPIKey(ctx, age.PublicID); err != nil {
				t.Fatal(err)
			}
			receiver.waitForRequests(21)
			waitForDeliveries(t, metrics, 0, 20, 1)
			clock.move(elapsed + 3*24*time.Hour)
			app.Webhooks.DeliverDue(ctx)
			receiver.waitForRequests(22)
			waitForDeliveries(t, metrics, 0, 20, 2)

			clock.move(elapsed + 30*24*time.Hour)
			app.Webhooks.DeliverDue(ctx)
			time.Sleep(50 * time.Millisecond)
			if requests, _ := receiver.received(); len(requests) != 22 {
				t.Errorf("requests after both events were given up: got %d, want 22", len(requests))
			}
			requests, _ := receiver.received()
			if want := `msg="webhook event given up" event_id=` + requests[0].id + ` type=key.deleted attempts=20`; strings.Count(app.Logs(), want) != 1 {
				t.Errorf("the log does not hold %q once:\n%s", want, app.Logs())
			}
			if pending, _ := app.Store.PendingWebhookEvents(ctx); pending != 0 {
				t.Errorf("pending events: got %d, want 0", pending)
			}
		})
	}
}

// A receiver that hangs slows no request: the delete answers at once, and the attempt ends at
// its deadline, to be retried.
func TestWebhookHangingReceiverSlowsNoRequest(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			receiver := newWebhookReceiver(t)
			receiver.set(0, true)
			app := apptest.New(t, target, receiver.configure)
			metrics := metricsServer(t, app)
			app.CreateUser(t, "ada@example.com", models.PermissionConnectivityAdmin)
			admin := app.Client(t)
			admin.Login("ada@example.com")
			var tooSlow []string
			for i := range 3 {
				key, _ := createKey(t, app.Store, "hung "+strconv.Itoa(i))
				if took := deleteThroughConsole(t, admin, key); took > webhookTimeout/2 {
					tooSlow = append(tooSlow, took.String())
				}
			}
			if len(tooSlow) > 0 {
				t.Errorf("deletes while the receiver hangs: got %v, want each well under the attempt's deadline of %v", tooSlow, webhookTimeout)
			}
			started := time.Now()
			receiver.waitForRequests(1)
			waitForDeliveries(t, metrics, 0, 1, 0)
			if took := time.Since(started); took > webhookTimeout+time.Second {
				t.Errorf("attempt on a hanging receiver: ended after %v, want about %v", took, webhookTimeout)
			}
			if want := "no answer within " + webhookTimeout.String(); !strings.Contains(app.Logs(), want) {
				t.Errorf("the log does not say %q:\n%s", want, app.Logs())
			}
			// The sender counts what waits after each round: the three events.
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				pending, _ := scrapeMetrics(t, metrics).value("keysmith_webhook_events_pending", nil)
				if pending == 3 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("keysmith_webhook_events_pending: got %v after 5 s, want 3", pending)
				}
			}
		})
	}
}

// Without KEYSMITH_WEBHOOK_URL nothing is queued and nothing is sent.
func TestNoWebhookWithoutURL(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			ctx := context.Background()
			receiver := newWebhookReceiver(t)
			app := apptest.New(t, target)
			if app.Webhooks != nil {
				t.Fatal("got a webhook sender without a webhook URL, want none")
			}
			app.CreateUser(t, "ada@example.com", models.PermissionConnectivityAdmin)
			admin := app.Client(t)
			admin.Login("ada@example.com")
			key, _ := createKey(t, app.Store, "unannounced")
			deleteThroughConsole(t, admin, key)
			expired := time.Now().Add(-time.Minute)
			if _, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "expired", Scope: models.ScopeReadOnly, ExpiresAt: &expired}); err != nil {
				t.Fatal(err)
			}
			if pending, err := app.Store.PendingWebhookEvents(ctx); err != nil || pending != 0 {
				t.Errorf("events queued without a webhook URL: got %d (%v), want 0", pending, err)
			}
			if requests, _ := receiver.received(); len(requests) != 0 {
				t.Errorf("requests without a webhook URL: got %d, want 0", len(requests))
			}
		})
	}
}

// Two instances on one PostgreSQL database, both scanning for expiry notices and both
// sending, deliver each event exactly once: deletions made on either, and every notice.
func TestWebhookEventsOnceWithTwoInstances(t *testing.T) {
	ctx := context.Background()
	target := modelstest.Postgres(t, "the two-instance webhook test")
	receiver := newWebhookReceiver(t)
	receiver.checkTime = false
	receiver.delay = 10 * time.Millisecond // attempts overlap more
	stores := []*models.Store{modelstest.Open(t, target), modelstest.Open(t, target)}
	clock := setClock(time.Now().UTC().Truncate(time.Second), stores...)
	first := apptest.NewOnStore(t, stores[0], receiver.configure)
	second := apptest.NewOnStore(t, stores[1], receiver.configure)
	instances := []*apptest.App{first, second}
	day := 24 * time.Hour
	want := map[string]int{}
	var keys []*models.APIKey
	for i := range 8 {
		expires := clock.start.Add(time.Duration(35+i) * day)
		key, _, err := first.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "shared " + strconv.Itoa(i), Scope: models.ScopeReadOnly, ExpiresAt: &expires})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	for i, key := range keys[6:] {
		if _, err := instances[i].Store.DeleteAPIKey(ctx, key.PublicID); err != nil {
			t.Fatal(err)
		}
		want["key.deleted"]++
	}
	for range keys[:6] {
		want["key.expiring"] += 3
		want["key.expired"]++
	}

	for at := time.Duration(0); at <= 45*day; at += 12 * time.Hour {
		clock.move(at)
		var wg sync.WaitGroup
		for _, app := range instances {
			for range 2 {
				wg.Go(func() {
					app.Webhooks.ScanExpiry(ctx)
					app.Webhooks.DeliverDue(ctx)
				})
			}
		}
		wg.Wait()
		// Every event queued so far is delivered before the clock moves on, so no claim runs
		// out while its attempt is under way.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			pending, err := first.Store.PendingWebhookEvents(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if pending == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("at +%v: %d events still pending after 5 s", at, pending)
			}
		}
	}
	// Time for a second attempt at an event already delivered to arrive, were there one: it
	// would have begun before the first was recorded.
	time.Sleep(20 * receiver.delay)

	requests, accepted := receiver.received()
	perID := map[string]int{}
	got := map[string]int{}
	for _, event := range accepted {
		perID[event.id]++
		got[event.body.Type]++
	}
	for id, n := range perID {
		if n != 1 {
			t.Errorf("event %s: received %d times, want once", id, n)
		}
	}
	if len(requests) != len(accepted) {
		t.Errorf("requests: got %d, of which %d accepted; want every one accepted", len(requests), len(accepted))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events received by type: got %v, want %v", got, want)
	}
	var sentBy []float64
	for _, app := range instances {
		delivered, _, _ := webhookDeliveries(t, metricsServer(t, app))
		sentBy = append(sentBy, delivered)
	}
	t.Logf("events delivered by each instance: %v", sentBy)
}

// Disabling and enabling a key each send one event; disabling a key disabled already sends
// none.
func TestWebhookKeyDisabledAndEnabled(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			receiver := newWebhookReceiver(t)
			app := apptest.New(t, target, receiver.configure)
			ctx := context.Background()
			key, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Paused export", Scope: models.ScopeReadOnly})
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, _, err := app.Store.DisableAPIKey(ctx, key.PublicID); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := app.Store.EnableAPIKey(ctx, key.PublicID); err != nil {
				t.Fatal(err)
			}
			waitForDeliveries(t, metricsServer(t, app), 2, 0, 0)
			events, _ := receiver.received()
			var got []string
			for _, event := range events {
				if event.body.Data.KeyID != key.PublicID {
					t.Errorf("event %s: key %q, want %q", event.body.Type, event.body.Data.KeyID, key.PublicID)
				}
				got = append(got, event.body.Type)
			}
			if want := []string{"key.disabled", "key.enabled"}; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("events: got %v, want %v", got, want)
			}
		})
	}
}

// Rotating sends key.rotated; rotating again during the grace ends it, which sends
// key.grace_ended first. (A grace that ends when it is over is in the models' tests.)
func TestWebhookKeyRotatedAndGraceEnded(t *testing.T) {
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			receiver := newWebhookReceiver(t)
			app := apptest.New(t, target, receiver.configure)
			ctx := context.Background()
			key, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Rotated export", Scope: models.ScopeReadOnly})
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, _, err := app.Store.RotateAPIKey(ctx, key.PublicID, models.Rotation{Grace: models.GraceHour}); err != nil {
					t.Fatal(err)
				}
			}
			waitForDeliveries(t, metricsServer(t, app), 3, 0, 0)
			events, _ := receiver.received()
			var got []string
			for _, event := range events {
				got = append(got, event.body.Type)
			}
			if want := []string{"key.rotated", "key.grace_ended", "key.rotated"}; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("events: got %v, want %v", got, want)
			}
		})
	}
}
