package models_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// testClock is a store clock that a test moves by hand, safe to read from other goroutines.
type testClock struct{ unixNano atomic.Int64 }

// setClock gives store a clock that starts at start, to the microsecond as the databases keep
// times, and returns it.
func setClock(store *models.Store, start time.Time) *testClock {
	c := &testClock{}
	c.unixNano.Store(start.Truncate(time.Microsecond).UnixNano())
	store.SetClock(c.now)
	return c
}

func (c *testClock) now() time.Time          { return time.Unix(0, c.unixNano.Load()).UTC() }
func (c *testClock) advance(d time.Duration) { c.unixNano.Add(int64(d)) }

// rotationStart is a second boundary, so that rotated_at (kept to the second) is the rotation.
var rotationStart = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// holder tells whose secret hash is: the key's current secret, its previous one, or nothing.
func holder(t *testing.T, store *models.Store, hash string) string {
	t.Helper()
	key, err := store.APIKeyBySecretHash(context.Background(), hash)
	switch {
	case errors.Is(err, models.ErrAPIKeyNotFound):
		return "none"
	case err != nil:
		t.Fatal(err)
	case key.SecretHash == hash:
		return "current"
	case key.Previous.SecretHash != nil && *key.Previous.SecretHash == hash:
		return "previous"
	}
	return "wrong key"
}

func rotate(t *testing.T, store *models.Store, publicID string, grace models.Grace, expiresAt *time.Time) (*models.APIKey, string) {
	t.Helper()
	key, secret, err := store.RotateAPIKey(context.Background(), publicID, models.Rotation{Grace: grace, ExpiresAt: expiresAt})
	if err != nil {
		t.Fatalf("rotate with grace %q: %v", grace, err)
	}
	return key, secret
}

// Each grace keeps the previous secret working exactly as long as it says, then the store ends
// it, once; the key keeps everything but its secret and expiry.
func TestRotateAPIKeyGraces(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		for _, tc := range []struct {
			grace models.Grace
			lasts time.Duration
		}{
			{models.GraceNone, 0},
			{models.GraceHour, time.Hour},
			{models.GraceDay, 24 * time.Hour},
			{models.GraceWeek, 7 * 24 * time.Hour},
			{models.GraceUntilUnused, time.Hour},
		} {
			t.Run(string(tc.grace), func(t *testing.T) {
				clock := setClock(store, rotationStart)
				oldExpiry := clock.now().AddDate(0, 0, 90)
				key, oldSecret, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "nightly " + string(tc.grace), Scope: models.ScopeScanner, ExpiresAt: &oldExpiry})
				if err != nil {
					t.Fatal(err)
				}
				clock.advance(time.Hour)
				newExpiry := clock.now().AddDate(0, 0, 30)
				rotated, newSecret := rotate(t, store, key.PublicID, tc.grace, &newExpiry)
				oldHash, newHash := models.HashSecret(oldSecret), models.HashSecret(newSecret)

				stored, err := store.APIKeyByPublicID(ctx, key.PublicID)
				if err != nil {
					t.Fatal(err)
				}
				if stored.ID != key.ID || stored.Name != key.Name || stored.Scope != key.Scope || !stored.CreatedAt.Equal(key.CreatedAt) {
					t.Errorf("rotated key: got id %d name %q scope %q created %v, want %d %q %q %v", stored.ID, stored.Name, stored.Scope, stored.CreatedAt, key.ID, key.Name, key.Scope, key.CreatedAt)
				}
				if stored.SecretHash != newHash || stored.Hint != models.SecretHint(newSecret) || rotated.SecretHash != newHash {
					t.Errorf("stored secret: got hash %q hint %q, want the new secret's %q %q", stored.SecretHash, stored.Hint, newHash, models.SecretHint(newSecret))
				}
				if stored.ExpiresAt == nil || !stored.ExpiresAt.Equal(newExpiry) {
					t.Errorf("new expiry: got %v, want %v", stored.ExpiresAt, newExpiry)
				}
				if got := holder(t, store, newHash); got != "current" {
					t.Errorf("new secret: got %s, want current", got)
				}
				if tc.lasts == 0 {
					if got := holder(t, store, oldHash); got != "none" {
						t.Errorf("old secret without a grace: got %s, want none", got)
					}
					if stored.Rotating(clock.now()) {
						t.Errorf("Rotating without a grace: got true, want false")
					}
					return
				}
				if got := holder(t, store, oldHash); got != "previous" {
					t.Fatalf("old secret in its grace: got %s, want previous", got)
				}
				if want := clock.now().Add(tc.lasts); !stored.PreviousEndsAt().Equal(want) {
					t.Errorf("previous secret ends at: got %v, want %v", stored.PreviousEndsAt(), want)
				}
				if stored.Previous.Hint != key.Hint || stored.Previous.UntilUnused != (tc.grace == models.GraceUntilUnused) {
					t.Errorf("previous secret: got hint %q until unused %v, want %q %v", stored.Previous.Hint, stored.Previous.UntilUnused, key.Hint, tc.grace == models.GraceUntilUnused)
				}

				clock.advance(tc.lasts - time.Second)
				if !stored.Rotating(clock.now()) {
					t.Errorf("Rotating a second before the end: got false, want true")
				}
				if ended, err := store.EndGrace(ctx, key.ID, oldHash); err != nil || ended {
					t.Errorf("EndGrace a second before the end: got %v, %v; want false", ended, err)
				}
				clock.advance(time.Second)
				if stored.Rotating(clock.now()) {
					t.Errorf("Rotating at the end: got true, want false")
				}
				notices := hearNotices(t, store)
				for i, want := range []bool{true, false} {
					if ended, err := store.EndGrace(ctx, key.ID, oldHash); err != nil || ended != want {
						t.Errorf("EndGrace #%d at the end: got %v, %v; want %v", i+1, ended, err, want)
					}
				}
				if want := fmt.Sprint([]models.KeyNotice{{KeyID: key.ID, Hashes: []string{oldHash}, Revoked: true}}); fmt.Sprint(*notices) != want {
					t.Errorf("notices of ending it twice: got %v, want %v", *notices, want)
				}
				if got := holder(t, store, oldHash); got != "none" {
					t.Errorf("old secret after its grace: got %s, want none", got)
				}
				if got := holder(t, store, newHash); got != "current" {
					t.Errorf("new secret after the grace: got %s, want current", got)
				}
			})
		}
	})
}

// During the grace the previous secret keeps its old expiry too, whichever ends first; an
// expired key may be rotated, and its old secret does not come back.
func TestRotatedSecretKeepsItsOldExpiry(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		clock := setClock(store, rotationStart)
		soon := clock.now().Add(2 * time.Hour)
		key, oldSecret, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "expires soon", Scope: models.ScopeReadOnly, ExpiresAt: &soon})
		if err != nil {
			t.Fatal(err)
		}
		rotated, _ := rotate(t, store, key.PublicID, models.GraceWeek, nil)
		if !rotated.PreviousEndsAt().Equal(soon) {
			t.Errorf("previous secret of a key expiring in 2 hours, 7-day grace: ends at %v, want %v", rotated.PreviousEndsAt(), soon)
		}
		if rotated.ExpiresAt != nil {
			t.Errorf("new expiry: got %v, want never", rotated.ExpiresAt)
		}
		clock.advance(2 * time.Hour)
		if ended, err := store.EndGrace(ctx, key.ID, models.HashSecret(oldSecret)); err != nil || !ended {
			t.Errorf("EndGrace at the old expiry: got %v, %v; want true", ended, err)
		}

		expired, expiredSecret, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "expired", Scope: models.ScopeReadOnly, ExpiresAt: &soon})
		if err != nil {
			t.Fatal(err)
		}
		clock.advance(time.Hour)
		renewed, _ := rotate(t, store, expired.PublicID, models.GraceDay, nil)
		if renewed.Previous.SecretHash != nil {
			t.Errorf("previous secret of an expired key: got %q, want none", *renewed.Previous.SecretHash)
		}
		if got := holder(t, store, models.HashSecret(expiredSecret)); got != "none" {
			t.Errorf("old secret of an expired key: got %s, want none", got)
		}
	})
}

// Rotating again during a grace ends the older grace at once: one notice names every secret
// concerned, the oldest among them.
func TestRotateTwiceEndsTheOlderGrace(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		setClock(store, rotationStart)
		key, first, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "twice", Scope: models.ScopeAdmin})
		if err != nil {
			t.Fatal(err)
		}
		_, second := rotate(t, store, key.PublicID, models.GraceWeek, nil)
		notices := hearNotices(t, store)
		_, third := rotate(t, store, key.PublicID, models.GraceUntilUnused, nil)
		for _, tc := range []struct{ secret, want string }{{first, "none"}, {second, "previous"}, {third, "current"}} {
			if got := holder(t, store, models.HashSecret(tc.secret)); got != tc.want {
				t.Errorf("secret %s: got %s, want %s", models.SecretHint(tc.secret), got, tc.want)
			}
		}
		want := []models.KeyNotice{{KeyID: key.ID, Hashes: []string{models.HashSecret(third), models.HashSecret(second), models.HashSecret(first)}, Revoked: true}}
		if fmt.Sprint(*notices) != fmt.Sprint(want) {
			t.Errorf("notice of the second rotation: got %v, want %v", *notices, want)
		}
	})
}

// until-unused: the previous secret keeps working while it is used, stops an hour after its
// last recorded use, and stops after 7 days however much it is used.
func TestUntilUnusedGrace(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		clock := setClock(store, rotationStart)
		key, oldSecret, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "idle", Scope: models.ScopeScanner})
		if err != nil {
			t.Fatal(err)
		}
		oldHash := models.HashSecret(oldSecret)
		rotate(t, store, key.PublicID, models.GraceUntilUnused, nil)
		usePrevious := func() {
			t.Helper()
			if err := store.RecordAPIKeyUses(ctx, []models.APIKeyUse{{APIKeyID: key.ID, At: clock.now(), IP: "192.0.2.7", Client: "scanner", Previous: true}}, nil); err != nil {
				t.Fatal(err)
			}
		}
		endsAt := func() time.Time {
			t.Helper()
			stored, err := store.APIKeyByPublicID(ctx, key.PublicID)
			if err != nil {
				t.Fatal(err)
			}
			return stored.PreviousEndsAt()
		}
		// Used every 50 minutes for a day: never an hour unused.
		for range 28 {
			clock.advance(50 * time.Minute)
			if ended, err := store.EndGrace(ctx, key.ID, oldHash); err != nil || ended {
				t.Fatalf("EndGrace at %v, 50 minutes after the last use: got %v, %v; want false", clock.now(), ended, err)
			}
			usePrevious()
			if got, want := endsAt(), clock.now().Add(time.Hour); !got.Equal(want) {
				t.Fatalf("ends at after a use at %v: got %v, want %v", clock.now(), got, want)
			}
		}
		clock.advance(time.Hour - time.Second)
		if ended, err := store.EndGrace(ctx, key.ID, oldHash); err != nil || ended {
			t.Fatalf("EndGrace 59:59 after the last use: got %v, %v; want false", ended, err)
		}
		clock.advance(time.Second)
		if ended, err := store.EndGrace(ctx, key.ID, oldHash); err != nil || !ended {
			t.Fatalf("EndGrace an hour after the last use: got %v, %v; want true", ended, err)
		}

		// Used every 50 minutes for ever: it ends 7 days after the rotation.
		capped, cappedSecret, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "busy", Scope: models.ScopeScanner})
		if err != nil {
			t.Fatal(err)
		}
		rotatedAt := clock.now()
		rotate(t, store, capped.PublicID, models.GraceUntilUnused, nil)
		for clock.now().Before(rotatedAt.Add(models.MaxGrace - 50*time.Minute)) {
			clock.advance(50 * time.Minute)
			if err := store.RecordAPIKeyUses(ctx, []models.APIKeyUse{{APIKeyID: capped.ID, At: clock.now(), IP: "192.0.2.8", Previous: true}}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if ended, err := store.EndGrace(ctx, capped.ID, models.HashSecret(cappedSecret)); err != nil || ended {
			t.Fatalf("EndGrace just before 7 days: got %v, %v; want false", ended, err)
		}
		clock.advance(rotatedAt.Add(models.MaxGrace).Sub(clock.now()))
		if ended, err := store.EndGrace(ctx, capped.ID, models.HashSecret(cappedSecret)); err != nil || !ended {
			t.Fatalf("EndGrace 7 days after the rotation, used all along: got %v, %v; want true", ended, err)
		}
	})
}

// last_used_at stays the key's latest use by either secret; each secret's own last use is
// kept apart, and uses gathered before a rotation count for neither secret after it.
func TestRecordUsesOfEachSecret(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		clock := setClock(store, rotationStart)
		key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "two secrets", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		beforeRotation := clock.now().Add(-time.Minute)
		rotate(t, store, key.PublicID, models.GraceDay, nil)
		at := func(minutes int) time.Time { return clock.now().Add(time.Duration(minutes) * time.Minute) }
		record := func(uses ...models.APIKeyUse) *models.APIKey {
			t.Helper()
			if err := store.RecordAPIKeyUses(ctx, uses, nil); err != nil {
				t.Fatal(err)
			}
			stored, err := store.APIKeyByPublicID(ctx, key.PublicID)
			if err != nil {
				t.Fatal(err)
			}
			return stored
		}
		check := func(step string, got *time.Time, want time.Time) {
			t.Helper()
			if want.IsZero() && got != nil || !want.IsZero() && (got == nil || !got.Equal(want)) {
				t.Errorf("%s: got %v, want %v", step, got, want)
			}
		}
		// Gathered before the rotation, as the current secret's: the secret now previous.
		stored := record(models.APIKeyUse{APIKeyID: key.ID, At: beforeRotation, IP: "192.0.2.3", Client: "late flush"})
		check("key's last use, gathered before the rotation", stored.LastUsedAt, beforeRotation)
		check("new secret's last use, after a use gathered before the rotation", stored.SecretLastUsedAt, time.Time{})
		stored = record(
			models.APIKeyUse{APIKeyID: key.ID, At: at(5), IP: "192.0.2.1", Client: "old job", Previous: true},
			models.APIKeyUse{APIKeyID: key.ID, At: at(3), IP: "192.0.2.2", Client: "new job"},
		)
		check("key's last use", stored.LastUsedAt, at(5))
		if stored.LastUsedClient != "old job" {
			t.Errorf("key's last client: got %q, want %q", stored.LastUsedClient, "old job")
		}
		check("current secret's last use", stored.SecretLastUsedAt, at(3))
		check("previous secret's last use", stored.Previous.LastUsedAt, at(5))

		stored = record(models.APIKeyUse{APIKeyID: key.ID, At: at(9), IP: "192.0.2.2", Client: "new job"},
			models.APIKeyUse{APIKeyID: key.ID, At: at(4), IP: "192.0.2.1", Client: "old job", Previous: true})
		check("key's last use, later by the current secret", stored.LastUsedAt, at(9))
		check("current secret's last use, later", stored.SecretLastUsedAt, at(9))
		check("previous secret's last use, an older use recorded late", stored.Previous.LastUsedAt, at(5))

		// A second rotation: the secret used at 9 minutes is now the previous one, with that
		// use; a previous-secret use gathered before it, at 12 minutes, was of the secret now
		// gone.
		clock.advance(20 * time.Minute)
		rotate(t, store, key.PublicID, models.GraceUntilUnused, nil)
		stored = record(models.APIKeyUse{APIKeyID: key.ID, At: at(-8), IP: "192.0.2.1", Client: "old job", Previous: true})
		check("previous secret's last use after a second rotation", stored.Previous.LastUsedAt, at(-11))
		check("new secret's last use", stored.SecretLastUsedAt, time.Time{})
		check("key's last use", stored.LastUsedAt, at(-8))
	})
}

// The sweep ends the graces that are over, and only those, each once.
func TestEndOverGraces(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		clock := setClock(store, rotationStart)
		var rotated []*models.APIKey
		for _, grace := range []models.Grace{models.GraceHour, models.GraceUntilUnused, models.GraceDay} {
			key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "sweep " + string(grace), Scope: models.ScopeReadOnly})
			if err != nil {
				t.Fatal(err)
			}
			key, _ = rotate(t, store, key.PublicID, grace, nil)
			rotated = append(rotated, key)
		}
		notices := hearNotices(t, store)
		clock.advance(time.Hour)
		for i, want := range []int{2, 0} {
			if ended, err := store.EndOverGraces(ctx); err != nil || ended != want {
				t.Errorf("sweep #%d an hour on: got %d, %v; want %d", i+1, ended, err, want)
			}
		}
		if len(*notices) != 2 || (*notices)[0].KeyID == rotated[2].ID || (*notices)[1].KeyID == rotated[2].ID {
			t.Errorf("notices: got %v, want two, for the 1h and until-unused keys", (*notices))
		}
		if got := holder(t, store, *rotated[2].Previous.SecretHash); got != "previous" {
			t.Errorf("previous secret of the 24h grace: got %s, want previous", got)
		}
	})
}

func TestRotateAPIKeyRefuses(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		key, secret, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "kept", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		tooLate := models.LatestExpiry.Add(time.Second)
		for _, tc := range []struct {
			name, publicID string
			rotation       models.Rotation
			field          string
		}{
			{"unknown key", "ak_nothing", models.Rotation{Grace: models.GraceDay}, ""},
			{"unknown grace", key.PublicID, models.Rotation{Grace: "2h"}, "grace"},
			{"empty grace", key.PublicID, models.Rotation{}, "grace"},
			{"NUL in grace", key.PublicID, models.Rotation{Grace: "1h\x00"}, "grace"},
			{"expiry past the last", key.PublicID, models.Rotation{Grace: models.GraceDay, ExpiresAt: &tooLate}, "expires_at"},
		} {
			_, got, err := store.RotateAPIKey(ctx, tc.publicID, tc.rotation)
			var fieldErr *models.FieldError
			switch {
			case got != "":
				t.Errorf("%s: got a secret, want none", tc.name)
			case tc.field == "" && !errors.Is(err, models.ErrAPIKeyNotFound):
				t.Errorf("%s: got %v, want ErrAPIKeyNotFound", tc.name, err)
			case tc.field != "" && (!errors.As(err, &fieldErr) || fieldErr.Field != tc.field):
				t.Errorf("%s: got %v, want a FieldError for %q", tc.name, err, tc.field)
			}
		}
		if got := holder(t, store, models.HashSecret(secret)); got != "current" {
			t.Errorf("secret after refused rotations: got %s, want current", got)
		}
	})
}

// Rotations of one key at once take turns: every one succeeds, and in the end one secret is
// current, the one before it previous, and every other refused. On PostgreSQL the key's row is
// held locked while they start, so that they all read it before any writes.
func TestParallelRotations(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, target modelstest.Target) {
		ctx := context.Background()
		key, first, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "contended", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		release := func() {}
		if target.Name == "postgres" {
			conn, err := pgx.Connect(ctx, target.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, "SELECT 1 FROM api_keys WHERE id = $1 FOR UPDATE", key.ID); err != nil {
				t.Fatal(err)
			}
			release = func() { tx.Rollback(ctx) }
		}
		const rotations = 8
		secrets := make([]string, rotations)
		var wg sync.WaitGroup
		for i := range rotations {
			wg.Go(func() {
				_, secret, err := store.RotateAPIKey(ctx, key.PublicID, models.Rotation{Grace: models.GraceWeek})
				if err != nil {
					t.Errorf("rotation %d: %v", i, err)
				}
				secrets[i] = secret
			})
		}
		// Time for every rotation to reach the lock.
		time.Sleep(200 * time.Millisecond)
		release()
		wg.Wait()
		count := map[string]int{}
		for _, secret := range secrets {
			count[holder(t, store, models.HashSecret(secret))]++
		}
		if count["current"] != 1 || count["previous"] != 1 || count["none"] != rotations-2 {
			t.Errorf("secrets made by %d rotations at once: got %v, want 1 current, 1 previous (made by the rotation before the last), %d none", rotations, count, rotations-2)
		}
		if got := holder(t, store, models.HashSecret(first)); got != "none" {
			t.Errorf("the secret before every rotation: got %s, want none", got)
		}
	})
}

// hearNotices records the store's notices until the test ends. Each revocation's id is
// checked and left out, since its value is the database's to choose.
func hearNotices(t *testing.T, store *models.Store) *[]models.KeyNotice {
	var (
		mu       sync.Mutex
		notices  []models.KeyNotice
		done     bool
		unproven []models.KeyNotice
	)
	store.OnKeyNotice(func(n models.KeyNotice) {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		if (n.Revoked && !n.NothingEnded) != (n.RevocationID != 0) {
			unproven = append(unproven, n)
		}
		n.RevocationID = 0
		notices = append(notices, n)
	})
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		done = true
		for _, n := range unproven {
			t.Errorf("notice %+v: want a revocation id exactly when it ends a secret's validity", n)
		}
	})
	return &notices
}

// Rotating queues key.rotated, and a grace that ends queues key.grace_ended once, however many
// times it is ended.
func TestRotationQueuesWebhookEvents(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		store.EnableWebhookEvents()
		clock := setClock(store, rotationStart)
		key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "evented", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		oldHash := key.SecretHash
		rotate(t, store, key.PublicID, models.GraceHour, nil)
		clock.advance(time.Hour)
		for range 2 {
			if _, err := store.EndGrace(ctx, key.ID, oldHash); err != nil {
				t.Fatal(err)
			}
		}
		if pending, err := store.PendingWebhookEvents(ctx); err != nil || pending != 2 {
			t.Errorf("events queued: got %d (%v), want 2: key.rotated and key.grace_ended", pending, err)
		}
	})
}

// A rotation that names the secret it replaces (Replaces, its hint) is refused once another
// rotation has replaced that secret, with who rotated the key and when, and changes nothing:
// the secret the other rotation made keeps working. Without Replaces, the current secret is
// replaced, as the command line does. A Replaces that is no hint is a FieldError.
func TestRotationNamesTheSecretItReplaces(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		clock := setClock(store, rotationStart)
		key, _, err := store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "named", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		ada := models.AuditActor{Type: models.ActorUser, ID: "4", Label: "ada@example.com"}
		byAda := models.WithAuditActor(context.Background(), ada)
		clock.advance(90 * time.Second)
		rotated, winner, err := store.RotateAPIKey(byAda, key.PublicID, models.Rotation{Grace: models.GraceNone, Replaces: key.Hint})
		if err != nil {
			t.Fatalf("rotation naming the current secret: %v", err)
		}
		clock.advance(time.Minute)
		_, got, err := store.RotateAPIKey(context.Background(), key.PublicID, models.Rotation{Grace: models.GraceNone, Replaces: key.Hint})
		var meanwhile *models.RotatedMeanwhile
		if !errors.As(err, &meanwhile) || !errors.Is(err, models.ErrRotatedMeanwhile) || got != "" {
			t.Fatalf("rotation naming the replaced secret: got %v, want RotatedMeanwhile and no secret", err)
		}
		if meanwhile.By.Type != ada.Type || meanwhile.By.Label != ada.Label || meanwhile.At == nil ||
			!meanwhile.At.Equal(rotationStart.Add(90*time.Second)) || meanwhile.Key.Hint != rotated.Hint {
			t.Errorf("refusal: got %+v by %+v at %v, want Ada at %v with the key's new hint %s", meanwhile.Key.Hint, meanwhile.By, meanwhile.At, rotationStart.Add(90*time.Second), rotated.Hint)
		}
		if got := holder(t, store, models.HashSecret(winner)); got != "current" {
			t.Errorf("the winner's secret after the refused rotation: got %s, want current", got)
		}
		// A well-formed hint the key never had is refused alike; the key was rotated, so it
		// says by whom.
		if _, _, err := store.RotateAPIKey(context.Background(), key.PublicID, models.Rotation{Grace: models.GraceNone, Replaces: "ksk_AAAA…zzzz"}); !errors.Is(err, models.ErrRotatedMeanwhile) {
			t.Errorf("a hint the key never had: got %v, want ErrRotatedMeanwhile", err)
		}
		for _, replaces := range []string{"ksk_AAAA...zzzz", "ksk_AA\x00A…zzzz", "ksk_AAAA…zzz", "ak_AAAA…zzzz", rotated.Hint + "\xff", winner} {
			var fieldErr *models.FieldError
			if _, _, err := store.RotateAPIKey(context.Background(), key.PublicID, models.Rotation{Grace: models.GraceNone, Replaces: replaces}); !errors.As(err, &fieldErr) || fieldErr.Field != "replaces" {
				t.Errorf("replaces %q: got %v, want a FieldError for replaces", replaces, err)
			}
		}
		if got := holder(t, store, models.HashSecret(winner)); got != "current" {
			t.Errorf("the winner's secret after the refused rotations: got %s, want current", got)
		}
		_, latest, err := store.RotateAPIKey(context.Background(), key.PublicID, models.Rotation{Grace: models.GraceNone})
		if err != nil || holder(t, store, models.HashSecret(latest)) != "current" {
			t.Errorf("a rotation naming no secret: %v; want the current secret replaced", err)
		}

		// A key never rotated has no one to name.
		fresh, _, err := store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "never rotated", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = store.RotateAPIKey(context.Background(), fresh.PublicID, models.Rotation{Grace: models.GraceNone, Replaces: "ksk_AAAA…zzzz"})
		if !errors.As(err, &meanwhile) || meanwhile.At != nil || meanwhile.By != (models.AuditActor{}) {
			t.Errorf("a hint a never-rotated key never had: got %v (%+v), want RotatedMeanwhile without who or when", err, meanwhile)
		}
	})
}

// Rotations of one key at once that name the same secret: exactly one replaces it, and every
// other is refused as rotated meanwhile, the winner's secret left current.
func TestParallelRotationsNamingOneSecret(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "contended", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		const rotations = 8
		secrets := make([]string, rotations)
		errs := make([]error, rotations)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range rotations {
			wg.Go(func() {
				<-start
				_, secrets[i], errs[i] = store.RotateAPIKey(ctx, key.PublicID, models.Rotation{Grace: models.GraceNone, Replaces: key.Hint})
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
				if got := holder(t, store, models.HashSecret(secrets[i])); got != "current" {
					t.Errorf("the winner's secret: got %s, want current", got)
				}
			case !errors.Is(err, models.ErrRotatedMeanwhile):
				t.Errorf("rotation %d: got %v, want success or ErrRotatedMeanwhile", i, err)
			}
		}
		if won != 1 {
			t.Errorf("rotations that replaced the secret: got %d, want 1", won)
		}
	})
}
