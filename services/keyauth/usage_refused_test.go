package keyauth

import (
	"errors"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// refuse verifies secret, which must be refused, and notes the refusal as RequireKey does for
// a request; a wrongScope key is accepted by the verifier and refused by the route.
func refuse(t *testing.T, v *Verifier, secret string, wrongScope bool) {
	t.Helper()
	entry, result, err := v.Check(t.Context(), secret)
	req := RefusedRequest{Route: "GET /api/v1/items", At: v.store.Now(), Address: "192.0.2.10", UserAgent: "nightly-export/1.0"}
	if wrongScope {
		if err != nil {
			t.Fatalf("check: %v", err)
		}
		v.RecordRefusedUse(entry, req.Address, req.UserAgent, req.At)
		v.NoteRefusal(entry.Refused(), ResultWrongScope, req)
		return
	}
	if !errors.Is(err, ErrKeyRefused) {
		t.Fatalf("check: %v, want a refusal", err)
	}
	if refusal := RefusalOf(err); refusal != nil {
		v.NoteRefusal(refusal, result, req)
	}
}

// The refused requests of a known key (expired, disabled, of another scope than the route
// admits) are counted for their day, each one, not only the first of the hour that the audit
// log records, and written with the requests; a secret nobody knows is counted for no key. A
// request refused for its scope counts as refused, not as a request.
func TestRefusedRequestsOfAKnownKeyAreCountedPerDay(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := t.Context()
		now := time.Date(2030, 3, 10, 12, 0, 0, 0, time.UTC)
		store.SetClock(func() time.Time { return now })
		v := newTestVerifier(store)
		expired, expiredSecret := modelstest.CreateKey(t, store, "expired", new(now.Add(-time.Hour)))
		disabled, disabledSecret := modelstest.CreateKey(t, store, "disabled", nil)
		if _, _, err := store.DisableAPIKey(ctx, disabled.PublicID); err != nil {
			t.Fatal(err)
		}
		scoped, scopedSecret := modelstest.CreateKey(t, store, "scoped", nil)
		for range 3 {
			refuse(t, v, expiredSecret, false)
		}
		for range 2 {
			refuse(t, v, disabledSecret, false)
		}
		use(t, v, scopedSecret, "nightly-export/1.0", "192.0.2.10:40000")
		for range 4 {
			refuse(t, v, scopedSecret, true)
		}
		refuse(t, v, "ksk_"+"AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefgh", false)
		if err := v.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			key               *models.APIKey
			requests, refused int64
		}{{expired, 0, 3}, {disabled, 0, 2}, {scoped, 1, 4}} {
			series, err := store.APIKeyDailyUses(ctx, tc.key.ID, 1)
			if err != nil {
				t.Fatal(err)
			}
			if series[0].Requests != tc.requests || series[0].Refused != tc.refused {
				t.Errorf("%s today: %d requests, %d refused; want %d and %d", tc.key.Name, series[0].Requests, series[0].Refused, tc.requests, tc.refused)
			}
		}
		if len(v.usage.refused) != 0 {
			t.Errorf("refusals held after the flush: %v", v.usage.refused)
		}
	})
}

// Refusals held while the database is away are bounded as requests are: past the bound a
// key and day not held yet is given up and counted for the log.
func TestHeldRefusalsAreBounded(t *testing.T) {
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	v := newTestVerifier(store)
	refused := make(map[dayKey]int64, maxHeldCounts)
	for i := range maxHeldCounts {
		refused[dayKey{keyID: int64(i), day: 20000}] = 1
	}
	v.usage.holdRefused(refused)
	v.usage.countRefused(7, models.UnixDayStart(20000))
	v.usage.countRefused(1_000_000, models.UnixDayStart(20000))
	if got := v.usage.refused[dayKey{keyID: 7, day: 20000}]; got != 2 {
		t.Errorf("refusals held for a key and day held already: got %d, want 2", got)
	}
	if len(v.usage.refused) != maxHeldCounts || v.usage.uncounted[1_000_000] != 1 {
		t.Errorf("past the bound: %d held, %d given up; want %d and 1", len(v.usage.refused), v.usage.uncounted[1_000_000], maxHeldCounts)
	}
}
