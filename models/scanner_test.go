package models_test

import (
	"context"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

func TestScannerCheckIn(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		start := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
		now := start
		store.SetClock(func() time.Time { return now })
		key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "scanner key", Scope: models.ScopeScanner})
		if err != nil {
			t.Fatal(err)
		}
		first, err := store.CheckInScanner(ctx, models.ScannerCheckIn{Name: " pg-scanner ", Host: "db1", Version: "1.0", APIKeyID: key.ID})
		if err != nil {
			t.Fatal(err)
		}
		if first.Name != "pg-scanner" || !first.FirstCheckInAt.Equal(start) || !first.LastCheckInAt.Equal(start) {
			t.Fatalf("first check-in: %+v", first)
		}

		now = start.Add(10 * time.Minute)
		again, err := store.CheckInScanner(ctx, models.ScannerCheckIn{Name: "pg-scanner", Host: "db1", Version: "1.1", APIKeyID: key.ID})
		if err != nil {
			t.Fatal(err)
		}
		if again.ID != first.ID || again.Version != "1.1" || !again.FirstCheckInAt.Equal(start) || !again.LastCheckInAt.Equal(now) {
			t.Fatalf("second check-in: got %+v", again)
		}
		if _, err := store.CheckInScanner(ctx, models.ScannerCheckIn{Name: "pg-scanner", Host: "db2", Version: "1.0", APIKeyID: key.ID}); err != nil {
			t.Fatal(err)
		}
		list, err := store.ListScanners(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Scanners) != 2 || list.Scanners[0].Host != "db1" || list.Scanners[0].Key == nil || list.Scanners[0].Key.PublicID != key.PublicID {
			t.Fatalf("list: %+v", list)
		}

		// Deleting the key keeps the scanner, without a key.
		if _, err := store.DeleteAPIKey(ctx, key.PublicID); err != nil {
			t.Fatal(err)
		}
		list, _ = store.ListScanners(ctx, false)
		if len(list.Scanners) != 2 || list.Scanners[0].Key != nil || list.Scanners[0].APIKeyID != nil {
			t.Fatalf("after key deletion: %+v", list.Scanners)
		}
	})
}

func TestScannerCheckInWithAnotherKeyDoesNotTakeOver(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		start := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
		now := start
		store.SetClock(func() time.Time { return now })
		owner, _, _ := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "owner", Scope: models.ScopeScanner})
		other, _, _ := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "other", Scope: models.ScopeScanner})
		mine, err := store.CheckInScanner(ctx, models.ScannerCheckIn{Name: "pg-scanner", Host: "db1", Version: "1.0", APIKeyID: owner.ID})
		if err != nil {
			t.Fatal(err)
		}
		now = start.Add(time.Hour)
		theirs, err := store.CheckInScanner(ctx, models.ScannerCheckIn{Name: "pg-scanner", Host: "db1", Version: "6.6.6", APIKeyID: other.ID})
		if err != nil {
			t.Fatal(err)
		}
		if theirs.ID == mine.ID || theirs.APIKeyID == nil || *theirs.APIKeyID != other.ID {
			t.Fatalf("the other key's check-in: %+v, the owner's scanner %+v", theirs, mine)
		}
		list, err := store.ListScanners(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Scanners) != 2 {
			t.Fatalf("list: %+v, want a scanner per key", list.Scanners)
		}
		for _, sc := range list.Scanners {
			if sc.ID == mine.ID && (sc.Version != "1.0" || sc.Key == nil || sc.Key.ID != owner.ID || !sc.LastCheckInAt.Equal(start)) {
				t.Errorf("the owner's scanner changed: %+v", sc)
			}
		}
		if name, _ := store.ScannerNameForKey(ctx, owner.ID); name != "pg-scanner" {
			t.Errorf("scanner name for the owner's key: %q", name)
		}

		// Once the owner's key is deleted its scanner keeps its row, without a key, and a
		// scanner that checks in again with a key of its own does not fold into it.
		if _, err := store.DeleteAPIKey(ctx, owner.PublicID); err != nil {
			t.Fatal(err)
		}
		if _, err := store.CheckInScanner(ctx, models.ScannerCheckIn{Name: "pg-scanner", Host: "db1", Version: "6.6.7", APIKeyID: other.ID}); err != nil {
			t.Fatal(err)
		}
		list, _ = store.ListScanners(ctx, false)
		if len(list.Scanners) != 2 || list.Scanners[0].ID != mine.ID || list.Scanners[0].APIKeyID != nil || list.Scanners[1].Version != "6.6.7" {
			t.Fatalf("after deleting the owner's key: %+v", list.Scanners)
		}
	})
}

func TestScannerCheckInValidation(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		key, _, _ := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "k", Scope: models.ScopeScanner})
		cases := []struct {
			in    models.ScannerCheckIn
			field string
		}{
			{models.ScannerCheckIn{Name: "", Host: "h", Version: "1"}, "name"},
			{models.ScannerCheckIn{Name: "n", Host: " ", Version: "1"}, "host"},
			{models.ScannerCheckIn{Name: "n", Host: "h", Version: ""}, "version"},
			{models.ScannerCheckIn{Name: "n\nx", Host: "h", Version: "1"}, "name"},
		}
		for _, tc := range cases {
			tc.in.APIKeyID = key.ID
			_, err := store.CheckInScanner(ctx, tc.in)
			if got := fieldOf(t, err); got != tc.field {
				t.Errorf("%+v: field %q, want %q", tc.in, got, tc.field)
			}
		}
	})
}

func TestScannerStatusAndInactiveFilter(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		base := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
		key, _, _ := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "k", Scope: models.ScopeScanner})
		checkIn := func(name string, at time.Time) {
			store.SetClock(func() time.Time { return at })
			if _, err := store.CheckInScanner(ctx, models.ScannerCheckIn{Name: name, Host: "h", Version: "1", APIKeyID: key.ID}); err != nil {
				t.Fatal(err)
			}
		}
		now := base.Add(4 * 24 * time.Hour)
		checkIn("a-up", now.Add(-30*time.Second))
		checkIn("b-down", now.Add(-2*time.Hour))
		checkIn("c-inactive", now.Add(-3*24*time.Hour-time.Second))
		store.SetClock(func() time.Time { return now })

		list, err := store.ListScanners(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Scanners) != 2 || list.Inactive != 1 {
			t.Fatalf("default list: %d scanners, %d inactive; want 2, 1", len(list.Scanners), list.Inactive)
		}
		list, _ = store.ListScanners(ctx, true)
		want := []models.ScannerStatus{models.ScannerUp, models.ScannerDown, models.ScannerInactive}
		if len(list.Scanners) != 3 {
			t.Fatalf("with inactive: %d scanners, want 3", len(list.Scanners))
		}
		for i, sc := range list.Scanners {
			if got := sc.Status(now); got != want[i] {
				t.Errorf("%s: status %q, want %q", sc.Name, got, want[i])
			}
		}
	})
}

// A scanner whose key is disabled, expired or deleted cannot check in again: it is down at
// once, with the reason, however recent its last check-in; once its key works again it is up.
func TestScannerIsDownWhileItsKeyIsRefused(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
		store.SetClock(func() time.Time { return now })
		expires := now.Add(time.Hour)
		key, _, _ := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "k", Scope: models.ScopeScanner, ExpiresAt: &expires})
		if _, err := store.CheckInScanner(ctx, models.ScannerCheckIn{Name: "s", Host: "h", Version: "1", APIKeyID: key.ID}); err != nil {
			t.Fatal(err)
		}
		check := func(when string, at time.Time, status models.ScannerStatus, problem string) {
			t.Helper()
			list, err := store.ListScanners(ctx, true)
			if err != nil || len(list.Scanners) != 1 {
				t.Fatalf("%s: got %+v, %v; want one scanner", when, list, err)
			}
			sc := list.Scanners[0]
			if got := sc.Status(at); got != status {
				t.Errorf("%s: status got %q, want %q", when, got, status)
			}
			if got := sc.KeyProblem(at); got != problem {
				t.Errorf("%s: key problem got %q, want %q", when, got, problem)
			}
		}
		check("key working", now.Add(10*time.Second), models.ScannerUp, "")
		if _, _, err := store.DisableAPIKey(ctx, key.PublicID); err != nil {
			t.Fatal(err)
		}
		check("key disabled", now.Add(10*time.Second), models.ScannerDown, "key disabled")
		check("key disabled, silent for days", now.Add(4*24*time.Hour), models.ScannerInactive, "key disabled")
		if _, _, err := store.EnableAPIKey(ctx, key.PublicID); err != nil {
			t.Fatal(err)
		}
		check("key enabled again", now.Add(10*time.Second), models.ScannerUp, "")
		store.SetClock(func() time.Time { return now.Add(59 * time.Minute) })
		if _, err := store.CheckInScanner(ctx, models.ScannerCheckIn{Name: "s", Host: "h", Version: "1", APIKeyID: key.ID}); err != nil {
			t.Fatal(err)
		}
		check("key expired", now.Add(time.Hour), models.ScannerDown, "key expired")
		if _, err := store.DeleteAPIKey(ctx, key.PublicID); err != nil {
			t.Fatal(err)
		}
		check("key deleted", now.Add(59*time.Minute+time.Second), models.ScannerDown, "key deleted")
	})
}
