package keyauth

import (
	"context"
	"errors"
	"testing"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// A disabled key is refused and counted as disabled, its repeats too (answered from memory);
// it is never held as verified, so stale-if-error has nothing to answer with; enabled, it is
// accepted at once.
func TestVerifierRefusesDisabledKeysAndForgetsOnceEnabled(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		v := newTestVerifier(store)
		key, secret := modelstest.CreateKey(t, store, "pausable", nil)
		if _, _, err := v.Check(ctx, secret); err != nil {
			t.Fatal(err)
		}
		if _, _, err := store.DisableAPIKey(ctx, key.PublicID); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, result, err := v.Check(ctx, secret); !errors.Is(err, ErrKeyRefused) || result != ResultDisabled {
				t.Fatalf("use %d after disable: got %v, %v; want ErrKeyRefused, ResultDisabled", i, result, err)
			}
		}
		if got := counted(t, v.metrics.negativeCacheHits); got != 2 {
			t.Errorf("repeats answered from memory: got %v, want 2", got)
		}
		if _, _, err := store.EnableAPIKey(ctx, key.PublicID); err != nil {
			t.Fatal(err)
		}
		if _, result, err := v.Check(ctx, secret); err != nil || result != ResultOK {
			t.Fatalf("right after enable: got %v, %v; want ResultOK", result, err)
		}

		// Disabled behind the verifier's back (as by an instance it did not hear): once the
		// cache is not trusted, the lookup finds the key disabled and drops its entry.
		if _, _, err := openAgain(t, store).DisableAPIKey(ctx, key.PublicID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := v.Check(ctx, secret); err != nil {
			t.Fatalf("trusted cache, key disabled unheard: %v, want the cached key", err)
		}
		v.Distrust()
		if _, result, err := v.Check(ctx, secret); !errors.Is(err, ErrKeyRefused) || result != ResultDisabled {
			t.Fatalf("untrusted, key disabled in the store: got %v, %v; want ErrKeyRefused, ResultDisabled", result, err)
		}
		v.mu.RLock()
		held := len(v.cache)
		v.mu.RUnlock()
		if held != 0 {
			t.Errorf("entries held after the lookup found the key disabled: got %d, want 0", held)
		}
	})
}
