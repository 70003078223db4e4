package models_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// Where several statuses hold, the first of disabled, expired, rotating, expires soon and
// active wins.
func TestKeyStatus(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	for _, tc := range []struct {
		expires  *time.Time
		disabled *time.Time
		want     models.KeyStatus
	}{
		{nil, nil, models.StatusActive},
		{at(30 * 24 * time.Hour), nil, models.StatusActive},
		{at(7*24*time.Hour + time.Microsecond), nil, models.StatusActive},
		{at(7 * 24 * time.Hour), nil, models.StatusExpiresSoon},
		{at(time.Second), nil, models.StatusExpiresSoon},
		{at(0), nil, models.StatusExpired},
		{at(-time.Hour), nil, models.StatusExpired},
		{nil, at(-time.Hour), models.StatusDisabled},
		{at(time.Second), at(-time.Hour), models.StatusDisabled},
		{at(-time.Hour), at(-2 * time.Hour), models.StatusDisabled},
	} {
		key := models.APIKey{ExpiresAt: tc.expires, DisabledAt: tc.disabled}
		if got := key.Status(now); got != tc.want {
			t.Errorf("expires %v, disabled %v: got %q, want %q", tc.expires, tc.disabled, got, tc.want)
		}
	}
}

func TestParseKeyStatus(t *testing.T) {
	for _, status := range models.KeyStatuses {
		if got, ok := models.ParseKeyStatus(string(status)); !ok || got != status {
			t.Errorf("ParseKeyStatus(%q) = %q, %v; want %q, true", status, got, ok, status)
		}
	}
	for _, bad := range []string{"", "Active", "expires_soon", "disabled ", "all", "\x00"} {
		if got, ok := models.ParseKeyStatus(bad); ok {
			t.Errorf("ParseKeyStatus(%q) = %q, true; want false", bad, got)
		}
	}
}

func TestNeverExpiresFlagged(t *testing.T) {
	in := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		scope   models.Scope
		expires *time.Time
		want    bool
	}{
		{models.ScopeAdmin, nil, true},
		{models.ScopeManageDocumentation, nil, true},
		{models.ScopeReadOnly, nil, false},
		{models.ScopeScanner, nil, false},
		{models.ScopeAdmin, &in, false},
	} {
		key := models.APIKey{Scope: tc.scope, ExpiresAt: tc.expires}
		if got := key.NeverExpiresFlagged(); got != tc.want {
			t.Errorf("%s expiring %v: got %v, want %v", tc.scope, tc.expires, got, tc.want)
		}
	}
}

// statusFixture makes one key per case at a fixed now, on the store's clock, and returns now.
func statusFixture(t *testing.T, store *models.Store) time.Time {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)
	store.SetClock(func() time.Time { return now })
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	for _, k := range []struct {
		name    string
		scope   models.Scope
		expires *time.Time
		disable bool
	}{
		{"never admin", models.ScopeAdmin, nil, false},
		{"month read", models.ScopeReadOnly, at(30 * 24 * time.Hour), false},
		{"week and a bit", models.ScopeReadOnly, at(7*24*time.Hour + time.Second), false},
		{"exactly a week", models.ScopeScanner, at(7 * 24 * time.Hour), false},
		{"one second", models.ScopeAdmin, at(time.Second), false},
		{"ends now", models.ScopeScanner, at(0), false},
		{"ended", models.ScopeReadOnly, at(-time.Hour), false},
		{"paused", models.ScopeAdmin, nil, true},
		{"paused soon", models.ScopeReadOnly, at(time.Hour), true},
		{"paused ended", models.ScopeScanner, at(-time.Hour), true},
	} {
		key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: k.name, Scope: k.scope, ExpiresAt: k.expires})
		if err != nil {
			t.Fatal(err)
		}
		if k.disable {
			if _, _, err := store.DisableAPIKey(ctx, key.PublicID); err != nil {
				t.Fatal(err)
			}
		}
	}
	return now
}

func listNames(t *testing.T, store *models.Store, q models.APIKeyQuery) []string {
	t.Helper()
	q.PerPage = 100
	page, err := store.ListAPIKeys(context.Background(), q)
	if err != nil {
		t.Fatalf("list %+v: %v", q, err)
	}
	if page.Total != int64(len(page.Keys)) {
		t.Errorf("list %+v: total %d, but %d keys", q, page.Total, len(page.Keys))
	}
	names := make([]string, len(page.Keys))
	for i, key := range page.Keys {
		names[i] = key.Name
	}
	return names
}

// The list's status filter selects in SQL exactly the keys whose Status is that status, on
// both databases, to the microsecond at each boundary; the scope filter and the search
// narrow it further.
func TestListAPIKeysFiltersByStatusAndScope(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		now := statusFixture(t, store)
		want := map[models.KeyStatus]string{
			models.StatusActive:      "month read,never admin,week and a bit",
			models.StatusExpiresSoon: "exactly a week,one second",
			models.StatusExpired:     "ended,ends now",
			models.StatusDisabled:    "paused,paused ended,paused soon",
			models.StatusRotating:    "",
		}
		all := listNames(t, store, models.APIKeyQuery{Sort: models.SortNameAsc})
		page, _ := store.ListAPIKeys(ctx, models.APIKeyQuery{PerPage: 100})
		for _, status := range models.KeyStatuses {
			got := strings.Join(listNames(t, store, models.APIKeyQuery{Status: status, Sort: models.SortNameAsc}), ",")
			if got != want[status] {
				t.Errorf("status %s: got %q, want %q", status, got, want[status])
			}
			var byStatus []string
			for _, key := range page.Keys {
				if key.Status(now) == status {
					byStatus = append(byStatus, key.Name)
				}
			}
			slices.Sort(byStatus)
			if strings.Join(byStatus, ",") != got {
				t.Errorf("status %s: SQL selects %q, Status says %q", status, got, byStatus)
			}
			count, err := store.CountAPIKeysWithStatus(ctx, status)
			if err != nil || count != int64(len(byStatus)) {
				t.Errorf("count %s: got %d, %v; want %d", status, count, err, len(byStatus))
			}
		}
		if len(all) != 10 {
			t.Errorf("unfiltered: got %d keys, want 10", len(all))
		}
		for _, tc := range []struct {
			name string
			q    models.APIKeyQuery
			want string
		}{
			{"scope", models.APIKeyQuery{Scope: models.ScopeAdmin, Sort: models.SortNameAsc}, "never admin,one second,paused"},
			{"scope and status", models.APIKeyQuery{Scope: models.ScopeScanner, Status: models.StatusExpired}, "ends now"},
			{"search, scope and status", models.APIKeyQuery{Search: "PAUSED", Scope: models.ScopeReadOnly, Status: models.StatusDisabled}, "paused soon"},
			{"search and status sorted by expiry", models.APIKeyQuery{Search: "e", Status: models.StatusActive, Sort: models.SortExpiresAsc}, "week and a bit,month read,never admin"},
			{"sorted by expiry, soonest first, never last", models.APIKeyQuery{Sort: models.SortExpiresAsc}, "ended,paused ended,ends now,one second,paused soon,exactly a week,week and a bit,month read,never admin,paused"},
		} {
			if got := strings.Join(listNames(t, store, tc.q), ","); got != tc.want {
				t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
			}
		}
		// The statuses move with the clock: 23 days on, the month-long key expires soon.
		store.SetClock(func() time.Time { return now.Add(23 * 24 * time.Hour) })
		if got := strings.Join(listNames(t, store, models.APIKeyQuery{Status: models.StatusExpiresSoon}), ","); got != "month read" {
			t.Errorf("23 days on, expires soon: got %q, want %q", got, "month read")
		}
	})
}

func TestListAPIKeysRefusesUnknownFilters(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		for _, q := range []models.APIKeyQuery{{Status: "paused"}, {Status: "active' OR 1=1 --"}, {Scope: "root"}} {
			var fieldErr *models.FieldError
			if _, err := store.ListAPIKeys(ctx, q); !errors.As(err, &fieldErr) {
				t.Errorf("list %+v: got %v, want a FieldError", q, err)
			}
		}
		var fieldErr *models.FieldError
		if _, err := store.CountAPIKeysWithStatus(ctx, "soon"); !errors.As(err, &fieldErr) {
			t.Errorf("count of an unknown status: got %v, want a FieldError", err)
		}
	})
}

// A key whose previous secret is in its grace is listed as rotating, unless disabled or expired,
// and is no longer once the grace is over, even before any instance has ended it: the list's
// SQL and Status agree.
func TestRotatingStatusInTheList(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		now := time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)
		clock := now
		store.SetClock(func() time.Time { return clock })
		at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
		for _, k := range []struct {
			name    string
			grace   models.Grace
			expires *time.Time
			ago     time.Duration
			disable bool
		}{
			{"rotating", models.GraceHour, at(30 * 24 * time.Hour), 0, false},
			{"rotating soon", models.GraceDay, at(3 * 24 * time.Hour), 0, false},
			{"rotating until unused", models.GraceUntilUnused, nil, 0, false},
			{"grace over", models.GraceHour, at(30 * 24 * time.Hour), 2 * time.Hour, false},
			{"unused for long", models.GraceUntilUnused, nil, 2 * time.Hour, false},
			{"rotating paused", models.GraceWeek, nil, 0, true},
			{"no grace", models.GraceNone, nil, 0, false},
		} {
			clock = now.Add(-k.ago)
			key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: k.name, Scope: models.ScopeReadOnly})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := store.RotateAPIKey(ctx, key.PublicID, models.Rotation{Grace: k.grace, ExpiresAt: k.expires}); err != nil {
				t.Fatal(err)
			}
			if k.disable {
				if _, _, err := store.DisableAPIKey(ctx, key.PublicID); err != nil {
					t.Fatal(err)
				}
			}
		}
		clock = now
		want := map[models.KeyStatus]string{
			models.StatusRotating: "rotating,rotating soon,rotating until unused",
			models.StatusActive:   "grace over,no grace,unused for long",
			models.StatusDisabled: "rotating paused",
		}
		page, err := store.ListAPIKeys(ctx, models.APIKeyQuery{PerPage: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, status := range models.KeyStatuses {
			got := strings.Join(listNames(t, store, models.APIKeyQuery{Status: status, Sort: models.SortNameAsc}), ",")
			if got != want[status] {
				t.Errorf("status %s: got %q, want %q", status, got, want[status])
			}
			var byStatus []string
			for _, key := range page.Keys {
				if key.Status(now) == status {
					byStatus = append(byStatus, key.Name)
				}
			}
			slices.Sort(byStatus)
			if strings.Join(byStatus, ",") != got {
				t.Errorf("status %s: SQL selects %q, Status says %q", status, got, byStatus)
			}
		}
	})
}
