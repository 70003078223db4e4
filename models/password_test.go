package models_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

func TestPasswordHashIsArgon2idWithOWASPParameters(t *testing.T) {
	if got, want := models.DefaultPasswordParams, (models.PasswordParams{Memory: 19456, Time: 2, Threads: 1}); got != want {
		t.Errorf("DefaultPasswordParams: got %+v, want OWASP's %+v", got, want)
	}
	hash := models.DefaultPasswordParams.Hash("a long enough password")
	if prefix := "$argon2id$v=19$m=19456,t=2,p=1$"; !strings.HasPrefix(hash, prefix) {
		t.Errorf("hash: got %q, want the PHC string prefix %q", hash, prefix)
	}
	params := models.PasswordParams{Memory: 64, Time: 1, Threads: 1}
	if first, second := params.Hash("same"), params.Hash("same"); first == second {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

// TestNoPasswordHashAtPackageLoad: loading the packages allocated less than one hash takes, so
// no hash (such as a dummy for unknown accounts) is made before it is needed.
func TestNoPasswordHashAtPackageLoad(t *testing.T) {
	if hashMemory := uint64(models.DefaultPasswordParams.Memory) * 1024; allocatedAtStart >= hashMemory {
		t.Errorf("allocated before the first test: got %d bytes, want less than one hash's %d", allocatedAtStart, hashMemory)
	}
}

// slowPasswordHash is a hash that takes a few hundred milliseconds to check but little memory,
// so that a test can keep a check running while it sends others.
func slowPasswordHash(password string) string {
	return models.PasswordParams{Memory: 8, Time: 30_000, Threads: 1}.Hash(password)
}

// waitForHashes waits until the store runs and queues the given numbers of checks.
func waitForHashes(t *testing.T, store *models.Store, running, waiting int64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		stats := store.PasswordHashStats()
		if stats.Running == running && stats.Waiting == waiting {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("password checks: got %d running and %d waiting, want %d and %d", stats.Running, stats.Waiting, running, waiting)
		}
	}
}

func TestPasswordHashLimitRefusesAtOncePastTheQueue(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		const wait = 50 * time.Millisecond
		store.SetPasswordHashLimit(1, 1, wait)
		slow, err := store.CreateUser(ctx, models.NewUser{Email: "slow@example.com", Name: "Slow", Password: "a long enough password", Permission: models.PermissionNone})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Exec(ctx, "UPDATE users SET password_hash = ? WHERE id = ?", slowPasswordHash("a long enough password"), slow.ID); err != nil {
			t.Fatal(err)
		}

		queued := models.SignInAttempt{Email: "queued@example.com", Password: "guess", Address: "192.0.2.2"}
		var wg sync.WaitGroup
		wg.Add(2)
		var runningErr, waitingErr error
		var waited time.Duration
		go func() {
			defer wg.Done()
			_, runningErr = store.SignIn(ctx, models.SignInAttempt{Email: "slow@example.com", Password: "a long enough password", Address: "192.0.2.1"})
		}()
		waitForHashes(t, store, 1, 0)
		go func() {
			defer wg.Done()
			start := time.Now()
			_, waitingErr = store.SignIn(ctx, queued)
			waited = time.Since(start)
		}()
		waitForHashes(t, store, 1, 1)

		// Past the queue: refused at once, before any database work (which a cancelled
		// context would fail), and not counted.
		busy := models.SignInAttempt{Email: "busy@example.com", Password: "guess", Address: "192.0.2.3"}
		start := time.Now()
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := store.SignIn(cancelled, busy); !errors.Is(err, models.ErrPasswordHashBusy) {
			t.Errorf("a check past the queue: got %v, want ErrPasswordHashBusy", err)
		}
		if took := time.Since(start); took >= wait {
			t.Errorf("a check past the queue was refused after %v, want at once (less than the queue's %v)", took, wait)
		}
		wg.Wait()
		if runningErr != nil {
			t.Errorf("the check running: got %v, want a sign-in", runningErr)
		}
		if !errors.Is(waitingErr, models.ErrPasswordHashBusy) || waited < wait {
			t.Errorf("the check queued behind a slower one: got %v after %v, want ErrPasswordHashBusy after %v", waitingErr, waited, wait)
		}
		// The attempt refused after its wait gave back the tokens it took: its pair still has
		// its five.
		for i := range 5 {
			if _, err := store.SignIn(ctx, queued); !errors.Is(err, models.ErrUserNotFound) {
				t.Fatalf("attempt %d after a busy refusal: got %v, want ErrUserNotFound", i+1, err)
			}
		}
		var throttled *models.ThrottledError
		if _, err := store.SignIn(ctx, queued); !errors.As(err, &throttled) {
			t.Errorf("sixth attempt: got %v, want a ThrottledError", err)
		}
	})
}

func TestPasswordOfOldParametersIsRehashedAtSignIn(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		const password = "a long enough password"
		user, err := store.CreateUser(ctx, models.NewUser{Email: "old@example.com", Name: "Old", Password: password, Permission: models.PermissionNone})
		if err != nil {
			t.Fatal(err)
		}
		// Keysmith's parameters before OWASP's: 64 MiB, 3 passes, 2 lanes.
		old := models.PasswordParams{Memory: 64 * 1024, Time: 3, Threads: 2}.Hash(password)
		if err := store.Exec(ctx, "UPDATE users SET password_hash = ? WHERE id = ?", old, user.ID); err != nil {
			t.Fatal(err)
		}
		storedHash := func() string {
			u, err := store.UserByID(ctx, user.ID)
			if err != nil {
				t.Fatal(err)
			}
			return u.PasswordHash
		}
		if _, err := store.SignIn(ctx, models.SignInAttempt{Email: "old@example.com", Password: "a wrong password", Address: "192.0.2.1"}); !errors.Is(err, models.ErrUserNotFound) {
			t.Fatalf("wrong password: got %v, want ErrUserNotFound", err)
		}
		if got := storedHash(); got != old {
			t.Errorf("after a wrong password the stored hash changed to %q, want it kept", got)
		}
		if _, err := store.SignIn(ctx, models.SignInAttempt{Email: "old@example.com", Password: password, Address: "192.0.2.1"}); err != nil {
			t.Fatalf("sign-in with a hash of old parameters: got %v, want success", err)
		}
		rehashed := storedHash()
		if prefix := "$argon2id$v=19$m=64,t=1,p=1$"; !strings.HasPrefix(rehashed, prefix) {
			t.Errorf("after sign-in the stored hash is %q, want one with the current parameters (%q)", rehashed, prefix)
		}
		if _, err := store.SignIn(ctx, models.SignInAttempt{Email: "old@example.com", Password: password, Address: "192.0.2.1"}); err != nil {
			t.Errorf("sign-in with the new hash: got %v, want success", err)
		}
		if got := storedHash(); got != rehashed {
			t.Errorf("a hash with the current parameters was replaced again: got %q, want %q", got, rehashed)
		}
	})
}
