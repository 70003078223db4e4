package integration

import (
	"context"
	"net/http"
	"testing"
	"time"

	"keysmith/app/apptest"
	"keysmith/models"
)

// A grace that ends is refused on every instance within 1 s, as a deletion is: the instance
// that notices the end first (here the first, whose clock is ahead) ends it through the store,
// and the notice reaches the second, which would still accept the secret by its own clock.
func TestGraceEndIsRefusedByEveryInstanceWithinOneSecond(t *testing.T) {
	first, second, _ := twoInstances(t)
	start := nextSecond()
	firstClock, secondClock := setClock(start, first.Store), setClock(start, second.Store)
	first.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
	key, oldSecret := createKey(t, first.Store, "nightly export")
	admin := first.Client(t)
	admin.Login(adminEmail)
	admin.Get("/admin/api-keys")
	res := admin.Post("/admin/api-keys/"+key.PublicID+"/rotate", rotateForm(models.GraceHour, "30d"))
	wantStatus(t, res, http.StatusOK)
	newSecret := rotatedSecret(t, res)
	awaitHeard(t, second, oldSecret, newSecret)
	for _, app := range []*apptest.App{first, second, second} {
		for _, secret := range []string{oldSecret, newSecret} {
			if got := app.VerifyStatus(t, secret); got != http.StatusOK {
				t.Fatalf("in the grace: status %d, want %d", got, http.StatusOK)
			}
		}
	}

	firstClock.advance(time.Hour)
	secondClock.advance(time.Hour - 2*time.Minute)
	if got := first.VerifyStatus(t, oldSecret); got != http.StatusUnauthorized {
		t.Fatalf("first instance at the end of the grace: status %d, want %d", got, http.StatusUnauthorized)
	}
	took := waitForStatus(t, second, oldSecret, http.StatusUnauthorized, revocationBound)
	t.Logf("second instance refused the previous secret %v after the first ended its grace", took)
	if got := second.VerifyStatus(t, newSecret); got != http.StatusOK {
		t.Errorf("new secret on the second instance: status %d, want %d", got, http.StatusOK)
	}
	stored, err := second.Store.APIKeyByPublicID(context.Background(), key.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Previous.SecretHash != nil {
		t.Errorf("previous secret in the store after the grace ended: got %q, want none", *stored.Previous.SecretHash)
	}
}

// A rotation without a grace is a revocation of the old secret: refused by every instance
// within 1 s; the new secret works on the instance that made it at once, and on every other
// instance once it hears the rotation's notice, within the same bound.
func TestRotationWithoutGraceIsRefusedByEveryInstanceWithinOneSecond(t *testing.T) {
	first, second, _ := twoInstances(t)
	key, oldSecret := createKey(t, first.Store, "scanner")
	awaitHeard(t, second, oldSecret)
	if got := second.VerifyStatus(t, oldSecret); got != http.StatusOK {
		t.Fatalf("before: status %d, want %d", got, http.StatusOK)
	}
	_, newSecret, err := first.Store.RotateAPIKey(context.Background(), key.PublicID, models.Rotation{Grace: models.GraceNone})
	if err != nil {
		t.Fatal(err)
	}
	if got := first.VerifyStatus(t, oldSecret); got != http.StatusUnauthorized {
		t.Errorf("first instance: status %d, want %d", got, http.StatusUnauthorized)
	}
	if got := first.VerifyStatus(t, newSecret); got != http.StatusOK {
		t.Errorf("new secret on the first instance: status %d, want %d", got, http.StatusOK)
	}
	awaitHeard(t, second, newSecret)
	if got := second.VerifyStatus(t, newSecret); got != http.StatusOK {
		t.Errorf("new secret on the second instance: status %d, want %d", got, http.StatusOK)
	}
	took := waitForStatus(t, second, oldSecret, http.StatusUnauthorized, revocationBound)
	t.Logf("second instance refused the replaced secret %v after the rotation", took)
}

// An until-unused grace counts uses on every instance: a previous secret used only on the
// second keeps working on the first past the hour the first alone would have given it, though
// the first holds it in its cache with that hour's end.
func TestUntilUnusedCountsUsesOnEveryInstance(t *testing.T) {
	first, second, _ := twoInstances(t)
	ctx := context.Background()
	clock := setClock(nextSecond(), first.Store, second.Store)
	key, oldSecret := createKey(t, first.Store, "shared")
	if _, _, err := first.Store.RotateAPIKey(ctx, key.PublicID, models.Rotation{Grace: models.GraceUntilUnused}); err != nil {
		t.Fatal(err)
	}
	awaitHeard(t, second, oldSecret)
	clock.advance(57 * time.Minute)
	if got := first.VerifyStatus(t, oldSecret); got != http.StatusOK {
		t.Fatalf("first instance 57 minutes after the rotation: status %d, want %d", got, http.StatusOK)
	}
	clock.advance(time.Minute)
	if got := second.VerifyStatus(t, oldSecret); got != http.StatusOK {
		t.Fatalf("second instance 58 minutes after the rotation: status %d, want %d", got, http.StatusOK)
	}
	if err := second.Keys.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	clock.advance(3 * time.Minute)
	if got := first.VerifyStatus(t, oldSecret); got != http.StatusOK {
		t.Errorf("first instance 3 minutes after a use on the second, 61 after the rotation: status %d, want %d", got, http.StatusOK)
	}
	clock.advance(57 * time.Minute)
	if got := first.VerifyStatus(t, oldSecret); got != http.StatusUnauthorized {
		t.Errorf("first instance an hour after the last use: status %d, want %d", got, http.StatusUnauthorized)
	}
	waitForStatus(t, second, oldSecret, http.StatusUnauthorized, revocationBound)
}
