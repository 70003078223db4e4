package models_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// day is a calendar day of the tests' injected clock.
const day = 24 * time.Hour

// claimLease is long enough that no test's claim runs out unless the test moves the clock.
const claimLease = time.Hour

// eventBody is a webhook event's body as a receiver reads it.
type eventBody struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      struct {
		KeyID     string     `json:"key_id"`
		Name      string     `json:"name"`
		Scope     string     `json:"scope"`
		ExpiresAt *time.Time `json:"expires_at"`
	} `json:"data"`
}

func decodeEvent(t *testing.T, event *models.WebhookEvent) eventBody {
	t.Helper()
	var body eventBody
	if err := json.Unmarshal([]byte(event.Body), &body); err != nil {
		t.Fatalf("event %s: body %q is not JSON: %v", event.ID, event.Body, err)
	}
	return body
}

// deliverAll claims every event due and records it delivered, as a sender whose receiver
// accepts everything would.
func deliverAll(t *testing.T, store *models.Store) []*models.WebhookEvent {
	t.Helper()
	var delivered []*models.WebhookEvent
	for {
		event, err := store.ClaimWebhookEvent(context.Background(), claimLease)
		if err != nil {
			t.Fatal(err)
		}
		if event == nil {
			return delivered
		}
		if err := store.WebhookEventDelivered(context.Background(), event); err != nil {
			t.Fatal(err)
		}
		delivered = append(delivered, event)
	}
}

// fixedClock sets the store's clock to start and returns a function that moves it to start+d.
func fixedClock(store *models.Store, start time.Time) func(d time.Duration) {
	var mu sync.Mutex
	now := start
	store.SetClock(func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	})
	return func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		now = start.Add(d)
	}
}

var clockStart = time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)

// A deleted key's event is queued in the delete's own transaction: with the key, once, and
// only when webhooks are on.
func TestDeleteQueuesKeyDeleted(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		fixedClock(store, clockStart)
		expires := clockStart.Add(90 * day)
		quiet, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "before webhooks", Scope: models.ScopeAdmin})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.DeleteAPIKey(ctx, quiet.PublicID); err != nil {
			t.Fatal(err)
		}
		if pending, err := store.PendingWebhookEvents(ctx); err != nil || pending != 0 {
			t.Fatalf("without webhooks, events after a delete: got %d (%v), want 0", pending, err)
		}

		store.EnableWebhookEvents()
		key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Nightly <export> \"ü\"", Scope: models.ScopeScanner, ExpiresAt: &expires})
		if err != nil {
			t.Fatal(err)
		}
		if pending, _ := store.PendingWebhookEvents(ctx); pending != 0 {
			t.Fatalf("events after a create: got %d, want 0 (there is no key.created)", pending)
		}
		if _, err := store.DeleteAPIKey(ctx, key.PublicID); err != nil {
			t.Fatal(err)
		}
		if _, err := store.DeleteAPIKey(ctx, key.PublicID); !errors.Is(err, models.ErrAPIKeyNotFound) {
			t.Fatalf("second delete: got %v, want ErrAPIKeyNotFound", err)
		}
		claimed := deliverAll(t, store)
		if len(claimed) != 1 {
			t.Fatalf("events after deleting once: got %d, want 1", len(claimed))
		}
		event := claimed[0]
		if event.Type != models.KeyEventDeleted || !strings.HasPrefix(event.ID, "evt_") || strings.Contains(event.ID, ".") || event.Attempts != 1 {
			t.Errorf("event: got type %q, id %q, attempts %d; want %q, evt_… without a full stop, 1", event.Type, event.ID, event.Attempts, models.KeyEventDeleted)
		}
		body := decodeEvent(t, event)
		if body.Type != "key.deleted" || !body.Timestamp.Equal(clockStart) || body.Data.KeyID != key.PublicID ||
			body.Data.Name != key.Name || body.Data.Scope != "scanner" || body.Data.ExpiresAt == nil || !body.Data.ExpiresAt.Equal(expires) {
			t.Errorf("body: got %+v, want key.deleted at %v of %s %q scanner expiring %v", body, clockStart, key.PublicID, key.Name, expires)
		}
		for _, field := range []string{`"type":"key.deleted"`, `"timestamp":"2026-11-02T09:30:00Z"`, `"expires_at":"2027-01-31T09:30:00Z"`} {
			if !strings.Contains(event.Body, field) {
				t.Errorf("body: got %s, want it to hold %s (RFC 3339, UTC)", event.Body, field)
			}
		}
	})
}

// The event is part of the delete: when it cannot be queued, the key is not deleted either.
func TestDeleteFailsWithoutItsEvent(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		store.EnableWebhookEvents()
		key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "kept", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Exec(ctx, "DROP TABLE webhook_events"); err != nil {
			t.Fatal(err)
		}
		if _, err := store.DeleteAPIKey(ctx, key.PublicID); err == nil {
			t.Fatal("delete with no outbox: got nil, want an error")
		}
		if _, err := store.APIKeyByPublicID(ctx, key.PublicID); err != nil {
			t.Errorf("the key after a delete whose event failed: got %v, want it still there", err)
		}
	})
}

// expiryStep moves the clock and scans: want are the ids of the events the scan queues.
type expiryStep struct {
	at   time.Duration
	want []string
}

// Each notice is queued once, when its moment comes, if it comes after the key's creation;
// its body says when the notice fell due and names the key.
func TestExpiryEventsQueuedOnceEach(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		move := fixedClock(store, clockStart)
		long := clockStart.Add(60 * day)
		short := clockStart.Add(10 * day)
		longKey, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "long", Scope: models.ScopeReadOnly, ExpiresAt: &long})
		if err != nil {
			t.Fatal(err)
		}
		shortKey, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "short", Scope: models.ScopeAdmin, ExpiresAt: &short})
		if err != nil {
			t.Fatal(err)
		}
		// The first scan looks back a week: this key's 7-day moment is in it, before the key.
		fiveDays := clockStart.Add(5 * day)
		fiveDaysKey, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "five days", Scope: models.ScopeScanner, ExpiresAt: &fiveDays})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "never", Scope: models.ScopeAdmin}); err != nil {
			t.Fatal(err)
		}
		id := func(key *models.APIKey, notice string) string {
			return key.PublicID + "_" + notice + "_" + itoa(key.ExpiresAt.Unix())
		}
		steps := []expiryStep{
			{time.Minute, nil},
			// The short key's 30-day notice would have come before it was made.
			{3*day + time.Minute, []string{id(shortKey, "expiring_7d")}},
			{3*day + 2*time.Minute, nil},
			{4*day + time.Minute, []string{id(fiveDaysKey, "expiring_1d")}},
			{5*day + time.Minute, []string{id(fiveDaysKey, "expired")}},
			{9*day + time.Minute, []string{id(shortKey, "expiring_1d")}},
			{10 * day, []string{id(shortKey, "expired")}},
			{30*day + time.Minute, []string{id(longKey, "expiring_30d")}},
			{30*day + time.Hour, nil},
			{53 * day, []string{id(longKey, "expiring_7d")}},
			{59*day + time.Minute, []string{id(longKey, "expiring_1d")}},
			{60*day + time.Minute, []string{id(longKey, "expired")}},
			{90 * day, nil},
		}
		for _, step := range steps {
			move(step.at)
			n, err := store.QueueExpiryEvents(ctx)
			if err != nil {
				t.Fatal(err)
			}
			claimed := deliverAll(t, store)
			var got []string
			for _, event := range claimed {
				got = append(got, event.ID)
				body := decodeEvent(t, event)
				key := longKey
				for _, k := range []*models.APIKey{shortKey, fiveDaysKey} {
					if strings.HasPrefix(event.ID, k.PublicID) {
						key = k
					}
				}
				before := map[string]time.Duration{"expiring_30d": 30 * day, "expiring_7d": 7 * day, "expiring_1d": day, "expired": 0}[strings.TrimSuffix(strings.TrimPrefix(event.ID, key.PublicID+"_"), "_"+itoa(key.ExpiresAt.Unix()))]
				wantType := "key.expiring"
				if before == 0 {
					wantType = "key.expired"
				}
				if string(event.Type) != wantType || body.Type != wantType || !body.Timestamp.Equal(key.ExpiresAt.Add(-before)) ||
					body.Data.KeyID != key.PublicID || body.Data.Name != key.Name || body.Data.ExpiresAt == nil || !body.Data.ExpiresAt.Equal(*key.ExpiresAt) {
					t.Errorf("at +%v, event %s: got %s, want %s at %v of key %s expiring %v", step.at, event.ID, event.Body, wantType, key.ExpiresAt.Add(-before), key.PublicID, key.ExpiresAt)
				}
			}
			if strings.Join(got, " ") != strings.Join(step.want, " ") || n != len(step.want) {
				t.Errorf("at +%v: got %d queued, %q; want %q", step.at, n, got, step.want)
			}
		}
	})
}

// An instance's first scan looks back ExpiryNoticesCatchUp: it sends the latest notice due,
// not the earlier ones it supersedes, and announces no key that expired before that.
func TestExpiryEventsCatchUp(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, target modelstest.Target) {
		ctx := context.Background()
		move := fixedClock(store, clockStart)
		soon := clockStart.Add(20 * day)
		recently := clockStart.Add(14 * day)
		longAgo := clockStart.Add(11 * day)
		soonKey, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "soon", Scope: models.ScopeReadOnly, ExpiresAt: &soon})
		if err != nil {
			t.Fatal(err)
		}
		recentKey, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "recently", Scope: models.ScopeReadOnly, ExpiresAt: &recently})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "long ago", Scope: models.ScopeReadOnly, ExpiresAt: &longAgo}); err != nil {
			t.Fatal(err)
		}
		// First scan 19.5 days on: the soon key's 7-day and 1-day moments have both passed.
		move(19*day + 12*time.Hour)
		if _, err := store.QueueExpiryEvents(ctx); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, event := range deliverAll(t, store) {
			got = append(got, event.ID)
		}
		want := []string{
			soonKey.PublicID + "_expiring_1d_" + itoa(soon.Unix()),
			recentKey.PublicID + "_expired_" + itoa(recently.Unix()),
		}
		slices.Sort(got)
		slices.Sort(want)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("first scan: got %q, want %q", got, want)
		}
		// Another instance, or this one restarted, finds the same notices due, and queues
		// nothing again.
		other := modelstest.Open(t, target)
		other.SetClock(store.Now)
		if n, err := other.QueueExpiryEvents(ctx); err != nil || n != 0 {
			t.Errorf("another instance's first scan: got %d queued (%v), want 0", n, err)
		}
		if pending, err := store.PendingWebhookEvents(ctx); err != nil || pending != 0 {
			t.Errorf("pending events after the second scan: got %d (%v), want 0", pending, err)
		}
	})
}

// A claim counts an attempt and holds the event for its lease; the outcome of an attempt is
// recorded only by the attempt that holds the claim; a delivered or given-up event is never
// claimed again, and is pruned once old.
func TestWebhookEventClaims(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		move := fixedClock(store, clockStart)
		store.EnableWebhookEvents()
		var keys []*models.APIKey
		for i, name := range []string{"first", "second"} {
			move(time.Duration(i) * time.Second)
			key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: name, Scope: models.ScopeReadOnly})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := store.DeleteAPIKey(ctx, key.PublicID); err != nil {
				t.Fatal(err)
			}
			keys = append(keys, key)
		}
		claim := func(lease time.Duration) *models.WebhookEvent {
			t.Helper()
			event, err := store.ClaimWebhookEvent(ctx, lease)
			if err != nil {
				t.Fatal(err)
			}
			return event
		}
		pending := func(want int64) {
			t.Helper()
			if got, err := store.PendingWebhookEvents(ctx); err != nil || got != want {
				t.Errorf("pending events: got %d (%v), want %d", got, err, want)
			}
		}
		first := claim(time.Minute)
		second := claim(5 * time.Minute)
		if first == nil || second == nil || decodeEvent(t, first).Data.KeyID != keys[0].PublicID || decodeEvent(t, second).Data.KeyID != keys[1].PublicID {
			t.Fatalf("claims: got %+v and %+v, want the first key's event, then the second's", first, second)
		}
		if again := claim(time.Minute); again != nil {
			t.Fatalf("claim while both are held: got %s, want none", again.ID)
		}
		pending(2)

		// The first claim runs out: the event is taken again, as a second attempt.
		move(2 * time.Minute)
		retaken := claim(time.Minute)
		if retaken == nil || retaken.ID != first.ID || retaken.Attempts != 2 {
			t.Fatalf("claim after the lease: got %+v, want %s, attempt 2", retaken, first.ID)
		}
		if err := store.RetryWebhookEvent(ctx, first, "503 Service Unavailable", store.Now()); !errors.Is(err, models.ErrWebhookClaimLost) {
			t.Errorf("outcome of the attempt that lost its claim: got %v, want ErrWebhookClaimLost", err)
		}
		if err := store.RetryWebhookEvent(ctx, retaken, "503 Service Unavailable", store.Now().Add(10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if early := claim(time.Minute); early != nil && early.ID == first.ID {
			t.Errorf("claim before the retry time: got %s, want it left alone", early.ID)
		}
		move(2*time.Minute + 10*time.Second)
		third := claim(time.Minute)
		if third == nil || third.ID != first.ID || third.Attempts != 3 || third.LastError != "503 Service Unavailable" {
			t.Fatalf("claim at the retry time: got %+v, want %s, attempt 3, with the last error", third, first.ID)
		}
		if err := store.WebhookEventDelivered(ctx, third); err != nil {
			t.Fatal(err)
		}
		if err := store.GiveUpWebhookEvent(ctx, third, "too late"); !errors.Is(err, models.ErrWebhookClaimLost) {
			t.Errorf("give up a delivered event: got %v, want ErrWebhookClaimLost", err)
		}
		pending(1)

		// The second event's claim runs out too; it is given up at its next attempt.
		move(6 * time.Minute)
		last := claim(time.Minute)
		if last == nil || last.ID != second.ID {
			t.Fatalf("claim: got %+v, want %s", last, second.ID)
		}
		if err := store.GiveUpWebhookEvent(ctx, last, "410 Gone"); err != nil {
			t.Fatal(err)
		}
		pending(0)
		move(time.Hour)
		if event := claim(time.Minute); event != nil {
			t.Errorf("claim with every event delivered or given up: got %s, want none", event.ID)
		}

		move(models.WebhookEventRetention - time.Minute)
		if n, err := store.PruneWebhookEvents(ctx); err != nil || n != 0 {
			t.Errorf("prune before the retention: got %d (%v), want 0", n, err)
		}
		move(models.WebhookEventRetention + time.Minute)
		if n, err := store.PruneWebhookEvents(ctx); err != nil || n != 2 {
			t.Errorf("prune after the retention: got %d (%v), want 2", n, err)
		}
	})
}

// Senders claiming together each get their own events: none is claimed twice.
func TestWebhookEventsClaimedOnceByParallelSenders(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		store.EnableWebhookEvents()
		const events, senders = 24, 6
		for i := range events {
			key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "parallel " + itoa(int64(i)), Scope: models.ScopeReadOnly})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := store.DeleteAPIKey(ctx, key.PublicID); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		claimed := map[string]int{}
		var wg sync.WaitGroup
		for range senders {
			wg.Go(func() {
				for {
					event, err := store.ClaimWebhookEvent(ctx, claimLease)
					if err != nil {
						t.Error(err)
						return
					}
					if event == nil {
						return
					}
					mu.Lock()
					claimed[event.ID]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(claimed) != events {
			t.Errorf("events claimed: got %d, want %d", len(claimed), events)
		}
		for id, n := range claimed {
			if n != 1 {
				t.Errorf("event %s: got %d claims, want 1", id, n)
			}
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Whatever a receiver answers, the reason kept for a failed attempt is storable text on both
// databases: no NUL, no invalid UTF-8, no control characters, and short.
func TestWebhookAttemptReasonIsCleaned(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		store.EnableWebhookEvents()
		key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "noisy receiver", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.DeleteAPIKey(ctx, key.PublicID); err != nil {
			t.Fatal(err)
		}
		event, err := store.ClaimWebhookEvent(ctx, time.Minute)
		if err != nil || event == nil {
			t.Fatalf("claim: got %v, %v; want the event", event, err)
		}
		reason := "answered \x00 \xff\xfe \x1b[31mred\x1b[0m \u200b" + strings.Repeat("é", 1_000)
		if err := store.RetryWebhookEvent(ctx, event, reason, store.Now()); err != nil {
			t.Fatalf("record a reason with NUL, invalid UTF-8 and escapes: got %v, want it stored", err)
		}
		event, err = store.ClaimWebhookEvent(ctx, time.Minute)
		if err != nil || event == nil {
			t.Fatalf("claim again: got %v, %v; want the event", event, err)
		}
		if got := event.LastError; !utf8.ValidString(got) || strings.ContainsAny(got, "\x00\x1b") || utf8.RuneCountInString(got) > 300 ||
			!strings.HasPrefix(got, "answered  \uFFFD") {
			t.Errorf("last error: got %q (%d characters), want valid UTF-8 without control characters, at most 300 characters", got, utf8.RuneCountInString(got))
		}
	})
}
