package keyauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// counted reads a counter's value.
func counted(t *testing.T, counter prometheus.Counter) float64 {
	t.Helper()
	var metric dto.Metric
	if err := counter.Write(&metric); err != nil {
		t.Fatal(err)
	}
	return metric.GetCounter().GetValue()
}

// wantRefused verifies secret and fails the test unless it is refused as a key that does not
// authenticate.
func wantRefused(t *testing.T, v *Verifier, secret, when string) {
	t.Helper()
	if _, err := v.Verify(context.Background(), secret); !errors.Is(err, ErrKeyRefused) {
		t.Fatalf("%s: got %v, want ErrKeyRefused", when, err)
	}
}

// A well-formed unknown key presented again within the window is answered from memory; the
// store is asked again once the window has passed.
func TestUnknownKeyIsAnsweredFromMemoryWithinItsWindow(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		now := time.Now()
		store.SetClock(func() time.Time { return now })
		v := newTestVerifier(store)
		secret := models.GenerateSecret()
		steps := []struct {
			name        string
			advance     time.Duration
			wantLookups float64
		}{
			{"first use", 0, 1},
			{"again at once", 0, 1},
			{"again just within the window", unknownKeyWindow - time.Millisecond, 1},
			{"once the window has passed", time.Millisecond, 2},
			{"again at once", 0, 2},
		}
		for _, step := range steps {
			now = now.Add(step.advance)
			wantRefused(t, v, secret, step.name)
			if got := counted(t, v.metrics.cacheMisses); got != step.wantLookups {
				t.Errorf("%s: got %v lookups in all, want %v", step.name, got, step.wantLookups)
			}
		}
		if got, want := counted(t, v.metrics.negativeCacheHits), 3.0; got != want {
			t.Errorf("negative cache hits: got %v, want %v", got, want)
		}

		// The database says so too: closed, it fails every lookup, and the remembered key is
		// still refused while a key never seen gets the database's error.
		store.Close()
		wantRefused(t, v, secret, "remembered, with the database closed")
		if _, err := v.Verify(context.Background(), models.GenerateSecret()); err == nil || errors.Is(err, ErrKeyRefused) {
			t.Errorf("a key never seen, with the database closed: got %v, want the database's error", err)
		}
	})
}

// Creating a key with a secret remembered as unknown is invisible to the memory until the
// verifier hears of it: at once from its own store (models.Store.OnKeyNotice), and from the
// revocation listener for a key made by another instance.
func TestUnknownKeyIsForgottenWhenItsKeyIsCreated(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		v := newTestVerifier(store)
		// The store draws secrets from crypto/rand: with the same seed it draws this one.
		cryptotest.SetGlobalRandom(t, 1)
		secret := models.GenerateSecret()
		wantRefused(t, v, secret, "before the key exists")
		wantRefused(t, v, secret, "again before the key exists")
		cryptotest.SetGlobalRandom(t, 1)
		key, created := modelstest.CreateKey(t, openAgain(t, store), "made after its secret was tried", nil)
		if created != secret {
			t.Fatalf("created secret %q, want the predicted %q", created, secret)
		}
		wantRefused(t, v, secret, "created behind the verifier's back")
		v.Apply(models.KeyNotice{KeyID: key.ID, Hashes: []string{key.SecretHash}})
		got, err := v.Verify(context.Background(), secret)
		if err != nil {
			t.Fatalf("once forgotten: got %v, want the key", err)
		}
		if got.PublicID != key.PublicID {
			t.Errorf("once forgotten: got key %q, want %q", got.PublicID, key.PublicID)
		}

		// Made through the verifier's own store, a key works at once.
		cryptotest.SetGlobalRandom(t, 2)
		secret = models.GenerateSecret()
		wantRefused(t, v, secret, "before the second key exists")
		wantRefused(t, v, secret, "again before the second key exists")
		cryptotest.SetGlobalRandom(t, 2)
		if _, created := modelstest.CreateKey(t, store, "made by this instance", nil); created != secret {
			t.Fatalf("created secret %q, want the predicted %q", created, secret)
		}
		if _, err := v.Verify(context.Background(), secret); err != nil {
			t.Errorf("made through the verifier's store: got %v, want the key", err)
		}
	})
}

// A lookup that ran while its hash was forgotten does not remember its answer: the key may
// have been created after the lookup read the store. Other hashes forgotten meanwhile do not
// matter, unless there were more than the record of recent forgets can tell.
func TestUnknownKeyForgottenDuringItsLookupIsNotRemembered(t *testing.T) {
	now := time.Now()
	sum := sha256.Sum256([]byte("a secret"))
	other := func(i int) [sha256.Size]byte { return sha256.Sum256([]byte{byte(i), byte(i >> 8)}) }
	cases := []struct {
		name      string
		forgotten func(u *unknownKeys)
		want      bool
	}{
		{"nothing forgotten", func(*unknownKeys) {}, true},
		{"its own hash forgotten", func(u *unknownKeys) { u.forget(sum) }, false},
		{"its own hash forgotten among others", func(u *unknownKeys) {
			for i := range len(u.recent) - 1 {
				u.forget(other(i))
			}
			u.forget(sum)
		}, false},
		{"other hashes forgotten", func(u *unknownKeys) {
			for i := range len(u.recent) {
				u.forget(other(i))
			}
		}, true},
		{"more hashes forgotten than recorded", func(u *unknownKeys) {
			for i := range len(u.recent) + 1 {
				u.forget(other(i))
			}
		}, false},
	}
	for _, tc := range cases {
		u := newUnknownKeys(8)
		u.forget(other(-1)) // before the lookup: of no concern to it
		ticket := u.ticket()
		tc.forgotten(u)
		u.remember(sum, ticket, now, 0, ResultUnknown, nil)
		if _, _, got := u.known(sum, now, 0); got != tc.want {
			t.Errorf("%s during the lookup: got remembered %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Like the key cache, the memory of unknown keys answers only while it is trusted, and only
// in the generation it was filled in: announcements may have been missed meanwhile.
func TestUnknownKeysAnswerOnlyWhileTrusted(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		v := newTestVerifier(store)
		secret := models.GenerateSecret()
		steps := []struct {
			name        string
			before      func()
			wantLookups float64
		}{
			{"first use", func() {}, 1},
			{"again, trusted", func() {}, 1},
			{"untrusted", v.Distrust, 2},
			{"trusted again, remembered while untrusted", func() { v.RestoreTrust(time.Now().Add(time.Hour)) }, 3},
			{"again, trusted", func() {}, 3},
			{"past the lease", func() { v.VouchUntil(time.Now().Add(-time.Millisecond)) }, 4},
		}
		for _, step := range steps {
			step.before()
			wantRefused(t, v, secret, step.name)
			if got := counted(t, v.metrics.cacheMisses); got != step.wantLookups {
				t.Errorf("%s: got %v lookups in all, want %v", step.name, got, step.wantLookups)
			}
		}
	})
}

// A flood of distinct well-formed unknown keys stays within the bound, and evicts neither the
// verified keys nor the unknown keys that are seen again.
func TestUnknownKeysAreBoundedUnderAFlood(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		const size, flood = 64, 1_000
		v := newTestVerifier(store)
		v.unknown = newUnknownKeys(size)
		_, known := modelstest.CreateKey(t, store, "in use during the flood", nil)
		if _, err := v.Verify(context.Background(), known); err != nil {
			t.Fatal(err)
		}
		repeated := models.GenerateSecret()
		wantRefused(t, v, repeated, "a repeated unknown key")
		wantRefused(t, v, repeated, "a repeated unknown key, again")
		for range flood {
			wantRefused(t, v, models.GenerateSecret(), "the flood")
		}
		if got := v.unknown.len(); got > size {
			t.Errorf("unknown keys remembered after a flood of %d: got %d, want at most %d", flood, got, size)
		}
		if got := len(v.cache); got != 1 {
			t.Errorf("verified keys cached after the flood: got %d, want 1", got)
		}
		lookups := counted(t, v.metrics.cacheMisses)
		if _, err := v.Verify(context.Background(), known); err != nil {
			t.Fatalf("the key in use, after the flood: got %v, want the key", err)
		}
		wantRefused(t, v, repeated, "the repeated unknown key, after the flood")
		if got := counted(t, v.metrics.cacheMisses); got != lookups {
			t.Errorf("lookups for the key in use and the repeated unknown key after the flood: got %v, want 0", got-lookups)
		}
	})
}
