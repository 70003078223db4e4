package models_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// The first refusal of a key in an hour is recorded, by the key, from the request's client;
// the others of that hour are not, on any instance. A secret the store does not know is
// recorded when a tombstone names its key: deleted, or replaced by a rotation. Tombstones go
// after 30 days, marks once their hour is over.
func TestKeyRefusalsAreRecordedOncePerKeyAndHour(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, target modelstest.Target) {
		ctx := context.Background()
		start := time.Date(2030, 7, 1, 10, 15, 0, 0, time.UTC)
		now := start
		store.SetClock(func() time.Time { return now })
		disabled, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "paused scanner", Scope: models.ScopeScanner})
		if err != nil {
			t.Fatal(err)
		}
		deleted, deletedSecret, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "retired export", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.DeleteAPIKey(ctx, deleted.PublicID); err != nil {
			t.Fatal(err)
		}
		rotated, oldSecret, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "rotated gateway", Scope: models.ScopeAdmin})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := store.RotateAPIKey(ctx, rotated.PublicID, models.Rotation{Grace: models.GraceNone}); err != nil {
			t.Fatal(err)
		}
		refusal := func(r models.KeyRefusal) bool {
			t.Helper()
			r.At, r.Address, r.UserAgent, r.RequestID, r.Route = now, "192.0.2.44", "scanner/2.4", "req-7", "POST /api/v1/scanners/checkin"
			recorded, err := store.RecordKeyRefusal(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			return recorded
		}
		byKey := models.KeyRefusal{PublicID: disabled.PublicID, Name: disabled.Name, Reason: models.RefusedDisabled}
		for i, tc := range []struct {
			r    models.KeyRefusal
			want bool
		}{
			{byKey, true},
			{byKey, false},
			{models.KeyRefusal{SecretHash: models.HashSecret(deletedSecret)}, true},
			{models.KeyRefusal{SecretHash: models.HashSecret(deletedSecret)}, false},
			{models.KeyRefusal{SecretHash: models.HashSecret(oldSecret)}, true},
			{models.KeyRefusal{SecretHash: models.HashSecret(models.GenerateSecret())}, false},
		} {
			if got := refusal(tc.r); got != tc.want {
				t.Errorf("refusal %d (%+v): recorded %t, want %t", i, tc.r, got, tc.want)
			}
		}
		now = start.Add(40 * time.Minute)
		if refusal(byKey) {
			t.Error("a refusal later in the same hour was recorded again")
		}
		now = start.Add(time.Hour)
		if !refusal(byKey) {
			t.Error("the first refusal of the next hour was not recorded")
		}

		type row struct{ actorID, actorLabel, target, detail string }
		var got []row
		for _, ev := range modelstest.AuditEvents(t, store, models.AuditFilter{Action: models.AuditKeyRefused}) {
			if ev.Actor.Type != models.ActorKey || ev.Actor.Address != "192.0.2.44" || ev.Actor.UserAgent != "scanner/2.4" || ev.Actor.RequestID != "req-7" {
				t.Errorf("refusal of %s: actor %+v, want the key from the request's client", ev.TargetID, ev.Actor)
			}
			got = append(got, row{ev.Actor.ID, ev.Actor.Label, ev.TargetID + " " + ev.TargetLabel, ev.Detail})
		}
		route := " (POST /api/v1/scanners/checkin)"
		want := []row{
			{disabled.PublicID, "paused scanner", disabled.PublicID + " paused scanner", "disabled" + route},
			{deleted.PublicID, "retired export", deleted.PublicID + " retired export", "deleted" + route},
			{rotated.PublicID, "rotated gateway", rotated.PublicID + " rotated gateway", "replaced" + route},
			{disabled.PublicID, "paused scanner", disabled.PublicID + " paused scanner", "disabled" + route},
		}
		if !slices.Equal(got, want) {
			t.Errorf("refusals recorded:\ngot  %q\nwant %q", got, want)
		}

		// Instances refusing one key at once record it once.
		other := modelstest.Open(t, target)
		other.SetClock(func() time.Time { return now })
		now = start.Add(2 * time.Hour)
		var wg sync.WaitGroup
		recorded := make(chan bool, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := store
				if i%2 == 1 {
					s = other
				}
				ok, err := s.RecordKeyRefusal(ctx, models.KeyRefusal{PublicID: disabled.PublicID, Name: disabled.Name, Reason: models.RefusedDisabled, At: now})
				if err != nil {
					t.Error(err)
				}
				recorded <- ok
			}()
		}
		wg.Wait()
		close(recorded)
		n := 0
		for ok := range recorded {
			if ok {
				n++
			}
		}
		if n != 1 {
			t.Errorf("8 refusals at once on two instances: %d recorded, want 1", n)
		}

		// Marks of hours over and tombstones past 30 days go; the secret is then unknown.
		now = start.Add(models.KeyTombstonesKept + time.Hour)
		if pruned, err := store.PruneKeyRefusals(ctx, now.Add(-models.KeyTombstonesKept), now.Add(-time.Hour)); err != nil || pruned != 2+5 {
			t.Fatalf("prune: got %d, %v; want the 2 tombstones and the 5 marks", pruned, err)
		}
		if refusal(models.KeyRefusal{SecretHash: models.HashSecret(deletedSecret)}) {
			t.Error("a deleted key's secret past 30 days was still named")
		}
	})
}
