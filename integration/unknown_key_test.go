package integration

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"testing/cryptotest"

	"keysmith/app/apptest"
	"keysmith/models"
)

// createThroughTheConsole creates a key with the New API Key form and returns its secret as
// the page shows it. A request id is sent (a plain token, which the server keeps from a trusted
// proxy: the test's app trusts its clients as one), so that the request draws no randomness
// for it: two calls after the same cryptotest.SetGlobalRandom then draw the same secret.
func createThroughTheConsole(t *testing.T, admin *apptest.Client, name string) string {
	t.Helper()
	form := createForm(name, models.ScopeReadOnly, "30d")
	form.Set("_csrf", admin.CSRF)
	res := admin.Do(http.MethodPost, "/admin/api-keys", strings.NewReader(form.Encode()), map[string]string{
		"Content-Type": "application/x-www-form-urlencoded",
		"X-Request-Id": "create-in-the-console",
	})
	wantStatus(t, res, http.StatusOK)
	secret := secretInPage.FindString(res.Body)
	if secret == "" {
		t.Fatalf("create %q: no secret in the page", name)
	}
	return secret
}

// A key created in the console works at once on the instance that created it, even though its
// secret was presented, and refused, a moment before.
func TestKeyCreatedAfterItsSecretWasUnknownVerifiesAtOnce(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := context.Background()
		// A probe learns which secret the console draws after this seed, and is deleted.
		cryptotest.SetGlobalRandom(t, 8)
		secret := createThroughTheConsole(t, admin, "probe")
		probe, err := app.Store.APIKeyBySecretHash(ctx, models.HashSecret(secret))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := app.Store.DeleteAPIKey(ctx, probe.PublicID); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if got := app.VerifyStatus(t, secret); got != http.StatusUnauthorized {
				t.Fatalf("before the key exists: got status %d, want %d", got, http.StatusUnauthorized)
			}
		}
		if got := metricValue(t, app, "keysmith_key_negative_cache_hits_total"); got != 1 {
			t.Fatalf("keysmith_key_negative_cache_hits_total: got %v, want 1 (the second use answered from memory)", got)
		}

		cryptotest.SetGlobalRandom(t, 8)
		if got := createThroughTheConsole(t, admin, "made after its secret was tried"); got != secret {
			t.Fatalf("created secret %q, want %q, the probe's", got, secret)
		}
		if got := app.VerifyStatus(t, secret); got != http.StatusOK {
			t.Errorf("just after its creation: got status %d, want %d", got, http.StatusOK)
		}
	}, behindLoopbackProxy)
}

// On PostgreSQL the other instances hear of a new key too: one whose index of secret hashes had
// just refused its secret, without the database, accepts it within the revocation bound.
func TestKeyCreatedOnOneInstanceVerifiesOnAnother(t *testing.T) {
	first, second, _ := twoInstances(t)
	cryptotest.SetGlobalRandom(t, 9)
	secret := models.GenerateSecret()
	for range 2 {
		if got := second.VerifyStatus(t, secret); got != http.StatusUnauthorized {
			t.Fatalf("before the key exists: got status %d, want %d", got, http.StatusUnauthorized)
		}
	}
	if got := metricValue(t, second, "keysmith_key_index_refusals_total"); got != 2 {
		t.Fatalf("keysmith_key_index_refusals_total: got %v, want 2 (both uses refused by the index)", got)
	}
	cryptotest.SetGlobalRandom(t, 9)
	_, created, err := first.Store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "made on the first instance", Scope: models.ScopeReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	if created != secret {
		t.Fatalf("created secret %q, want the predicted %q", created, secret)
	}
	took := waitForStatus(t, second, secret, http.StatusOK, revocationBound)
	t.Logf("the second instance accepted the new key after %v", took)
}
