package models_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

func TestUnixDay(t *testing.T) {
	for _, tc := range []struct {
		at   time.Time
		want int64
	}{
		{time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{time.Date(1970, 1, 1, 23, 59, 59, 999, time.UTC), 0},
		{time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC), 1},
		{time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), -1},
		// The day is the UTC day, whatever the zone the time is written in.
		{time.Date(2030, 6, 1, 1, 30, 0, 0, time.FixedZone("CEST", 2*3600)), models.UnixDay(time.Date(2030, 5, 31, 12, 0, 0, 0, time.UTC))},
	} {
		if got := models.UnixDay(tc.at); got != tc.want {
			t.Errorf("UnixDay(%v): got %d, want %d", tc.at, got, tc.want)
		}
		if got, want := models.UnixDayStart(tc.want), tc.at.UTC().Truncate(24*time.Hour); !got.Equal(want) {
			t.Errorf("UnixDayStart(%d): got %v, want %v", tc.want, got, want)
		}
	}
}

// Counts add up per key and UTC day, batch after batch, with or without uses beside them; a
// key deleted since it was counted is skipped without failing the batch; the last 30 days
// read back oldest first, with 0 for the days without requests.
func TestDailyUsesAddUpPerDay(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		now := time.Date(2030, 3, 10, 23, 59, 58, 0, time.UTC)
		store.SetClock(func() time.Time { return now })
		key, _, _ := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "export", Scope: models.ScopeReadOnly})
		other, _, _ := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "other", Scope: models.ScopeReadOnly})
		gone, _, _ := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "gone", Scope: models.ScopeReadOnly})
		if _, err := store.DeleteAPIKey(ctx, gone.PublicID); err != nil {
			t.Fatal(err)
		}
		day := func(n int) time.Time { return time.Date(2030, 3, 10+n, 0, 0, 0, 0, time.UTC) }
		batches := []struct {
			uses   []models.APIKeyUse
			counts []models.APIKeyDayCount
		}{
			{
				uses: []models.APIKeyUse{{APIKeyID: key.ID, At: now, IP: "192.0.2.1", Client: "cron"}},
				counts: []models.APIKeyDayCount{
					{APIKeyID: key.ID, Day: day(0), Requests: 3},
					{APIKeyID: key.ID, Day: day(0), Requests: 2}, // the same day twice in one batch
					{APIKeyID: other.ID, Day: day(0), Requests: 11},
					{APIKeyID: gone.ID, Day: day(0), Requests: 4},
					{APIKeyID: key.ID, Day: day(-28), Requests: 1},   // the chart's first day, read tomorrow
					{APIKeyID: key.ID, Day: day(-29), Requests: 100}, // the day before it
				},
			},
			// After midnight, counts alone, as a flush gathers them once uses are written.
			{counts: []models.APIKeyDayCount{
				{APIKeyID: key.ID, Day: day(0), Requests: 1}, // gathered before midnight, written after
				{APIKeyID: key.ID, Day: day(1), Requests: 7},
			}},
		}
		for i, b := range batches {
			if err := store.RecordAPIKeyUses(ctx, b.uses, b.counts); err != nil {
				t.Fatalf("batch %d: %v", i, err)
			}
		}
		now = now.Add(2 * time.Second) // 2030-03-11 00:00:00
		series, err := store.APIKeyDailyUses(ctx, key.ID, models.DailyUseDays)
		if err != nil {
			t.Fatal(err)
		}
		if len(series) != models.DailyUseDays {
			t.Fatalf("days: got %d, want %d", len(series), models.DailyUseDays)
		}
		want := map[time.Time]int64{day(-28): 1, day(0): 6, day(1): 7}
		for i, d := range series {
			if wantDay := day(i - 28); !d.Day.Equal(wantDay) {
				t.Errorf("day %d: got %v, want %v", i, d.Day, wantDay)
			}
			if d.Requests != want[d.Day] {
				t.Errorf("requests on %s: got %d, want %d", d.Day.Format(time.DateOnly), d.Requests, want[d.Day])
			}
		}
		if series, _ := store.APIKeyDailyUses(ctx, other.ID, 2); series[0].Requests != 11 || series[1].Requests != 0 {
			t.Errorf("the other key's last two days: got %+v, want 11 then 0", series)
		}
		if got, _ := store.APIKeyByPublicID(ctx, key.PublicID); got.LastUsedAt == nil || got.LastUsedClient != "cron" {
			t.Errorf("last use written beside the counts: got %+v, want the cron use", got)
		}
	})
}

// Refused requests add up per key and day beside the authenticated ones, in the same rows:
// a day may hold either, or both, and each reads back as written.
func TestDailyRefusalsAddUpBesideRequests(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		now := time.Date(2030, 3, 10, 12, 0, 0, 0, time.UTC)
		store.SetClock(func() time.Time { return now })
		key, _, _ := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "export", Scope: models.ScopeReadOnly})
		day := func(n int) time.Time { return time.Date(2030, 3, 10+n, 0, 0, 0, 0, time.UTC) }
		for i, counts := range [][]models.APIKeyDayCount{
			{{APIKeyID: key.ID, Day: day(0), Requests: 5}, {APIKeyID: key.ID, Day: day(0), Refused: 2}, {APIKeyID: key.ID, Day: day(-1), Refused: 9}},
			{{APIKeyID: key.ID, Day: day(0), Requests: 1, Refused: 3}, {APIKeyID: key.ID, Day: day(-2), Requests: 4}},
		} {
			if err := store.RecordAPIKeyUses(ctx, nil, counts); err != nil {
				t.Fatalf("batch %d: %v", i, err)
			}
		}
		series, err := store.APIKeyDailyUses(ctx, key.ID, 3)
		if err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprint(series[0].Requests, series[0].Refused, series[1].Requests, series[1].Refused, series[2].Requests, series[2].Refused)
		if want := fmt.Sprint(4, 0, 0, 9, 6, 5); got != want {
			t.Errorf("requests and refused over the last 3 days: got %s, want %s", got, want)
		}
	})
}

// Rows older than the days kept go a bounded number at a time, with each batch of counts;
// newer ones stay.
func TestDailyUsesArePrunedInBoundedSteps(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		now := time.Date(2030, 3, 10, 12, 0, 0, 0, time.UTC)
		store.SetClock(func() time.Time { return now })
		today := models.UnixDay(now)
		const keys, oldDays = 40, 30
		var ids []int64
		var old []models.APIKeyDayCount
		for i := range keys {
			key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: fmt.Sprintf("key %d", i), Scope: models.ScopeReadOnly})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, key.ID)
			for d := range oldDays {
				old = append(old, models.APIKeyDayCount{APIKeyID: key.ID, Day: models.UnixDayStart(today - models.DailyUsesKept - 1 - int64(d)), Requests: 1})
			}
			// The oldest day kept stays.
			old = append(old, models.APIKeyDayCount{APIKeyID: key.ID, Day: models.UnixDayStart(today - models.DailyUsesKept), Requests: 5})
		}
		stored := func() (older, kept int64) {
			t.Helper()
			for _, id := range ids {
				series, err := store.APIKeyDailyUses(ctx, id, models.DailyUsesKept+1+oldDays)
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range series[:oldDays] {
					older += d.Requests
				}
				kept += series[oldDays].Requests
			}
			return older, kept
		}
		one := []models.APIKeyDayCount{{APIKeyID: ids[0], Day: now, Requests: 1}}
		for i, want := range []int64{keys*oldDays - models.DailyUsesPrunedAtOnce, keys*oldDays - 2*models.DailyUsesPrunedAtOnce, 0} {
			want = max(want, 0)
			batch := one
			if i == 0 {
				batch = old
			}
			if err := store.RecordAPIKeyUses(ctx, nil, batch); err != nil {
				t.Fatal(err)
			}
			older, kept := stored()
			if older != want {
				t.Errorf("after batch %d: got %d rows older than %d days, want %d", i, older, models.DailyUsesKept, want)
			}
			if kept != 5*keys {
				t.Errorf("after batch %d: got %d requests on the oldest day kept, want %d", i, kept, 5*keys)
			}
		}
	})
}
