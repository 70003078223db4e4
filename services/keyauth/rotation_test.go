package keyauth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// The previous secret of a rotated key is verified from the cache with its own end, checked
// on every use as expiry is; at that end it is refused, and the verifier that noticed ends the
// grace in the store, for every instance.
func TestVerifierEndsThePreviousSecretsGrace(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
		store.SetClock(func() time.Time { return now })
		v := newTestVerifier(store)
		key, oldSecret := modelstest.CreateKey(t, store, "rotated", nil)
		if _, err := v.Verify(ctx, oldSecret); err != nil {
			t.Fatal(err)
		}
		_, newSecret, err := store.RotateAPIKey(ctx, key.PublicID, models.Rotation{Grace: models.GraceHour})
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{oldSecret, newSecret} {
			if got, err := v.Verify(ctx, secret); err != nil || got.PublicID != key.PublicID {
				t.Fatalf("in the grace: got %v, %v; want key %s", got, err, key.PublicID)
			}
		}
		// Read again within the cache's time to live, then answered from the cache.
		now = now.Add(time.Hour - time.Minute)
		if _, err := v.Verify(ctx, oldSecret); err != nil {
			t.Fatalf("a minute before the end: %v", err)
		}
		hits := testutil.ToFloat64(v.metrics.cacheHits)
		now = now.Add(time.Minute - time.Second)
		if _, err := v.Verify(ctx, oldSecret); err != nil {
			t.Fatalf("a second before the end: %v", err)
		}
		if got := testutil.ToFloat64(v.metrics.cacheHits) - hits; got != 1 {
			t.Errorf("cache hits for the previous secret in its grace: got %v, want 1", got)
		}

		now = now.Add(time.Second)
		if _, err := v.Verify(ctx, oldSecret); !errors.Is(err, ErrKeyRefused) {
			t.Fatalf("at the end of the grace: got %v, want ErrKeyRefused", err)
		}
		stored, err := store.APIKeyByPublicID(ctx, key.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Previous.SecretHash != nil {
			t.Errorf("previous secret in the store after the verifier noticed the end: got %q, want none", *stored.Previous.SecretHash)
		}
		if _, err := v.Verify(ctx, newSecret); err != nil {
			t.Errorf("new secret after the grace: %v", err)
		}
	})
}

// The uses gathered say which secret was used: the store keeps each secret's last use, and
// the key's latest of both.
func TestVerifierRecordsWhichSecretWasUsed(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
		store.SetClock(func() time.Time { return now })
		v := newTestVerifier(store)
		key, oldSecret := modelstest.CreateKey(t, store, "used twice", nil)
		_, newSecret, err := store.RotateAPIKey(ctx, key.PublicID, models.Rotation{Grace: models.GraceUntilUnused})
		if err != nil {
			t.Fatal(err)
		}
		use := func(secret string, at time.Time) {
			t.Helper()
			entry, _, err := v.Check(ctx, secret)
			if err != nil {
				t.Fatal(err)
			}
			v.RecordUse(entry, "192.0.2.1", "cron/1", at)
		}
		oldUse, newUse := now.Add(2*time.Minute), now.Add(time.Minute)
		use(oldSecret, oldUse)
		use(newSecret, newUse)
		if err := v.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		stored, err := store.APIKeyByPublicID(ctx, key.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			what string
			got  *time.Time
			want time.Time
		}{
			{"key's last use", stored.LastUsedAt, oldUse},
			{"current secret's last use", stored.SecretLastUsedAt, newUse},
			{"previous secret's last use", stored.Previous.LastUsedAt, oldUse},
		} {
			if tc.got == nil || !tc.got.Equal(tc.want) {
				t.Errorf("%s: got %v, want %v", tc.what, tc.got, tc.want)
			}
		}
	})
}
