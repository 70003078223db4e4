package models_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

const (
	cafeNFC = "Caf\u00e9"
	cafeNFD = "Cafe\u0301"
)

func TestCleanAPIKeyName(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     string // the stored name, when accepted
		refused  string // part of the FieldError's message, when refused
	}{
		{"trimmed", "  Nightly export ", "Nightly export", ""},
		{"NFD made NFC", cafeNFD, cafeNFC, ""},
		{"full-width kept as typed", "ＡＢＣ", "ＡＢＣ", ""},
		{"emoji", "🔑 prod", "🔑 prod", ""},
		{"empty", "   ", "", "is required"},
		{"too long", strings.Repeat("é", 101), "", "at most 100 characters (this one has 101)"},
		{"NUL", "a\x00b", "", "NUL"},
		{"invalid UTF-8", "a\xffb", "", "valid UTF-8"},
		{"control characters only", "\x01\x02", "", "control characters"},
		{"line break", "a\nb", "", "control characters"},
		{"zero-width space", "Ca\u200bfé", "", "invisible or formatting characters (found U+200B)"},
		{"bidi override only", "\u202e\u202d", "", "found U+202E"},
		{"bidi isolate", "prod\u2066x\u2069", "", "found U+2066"},
		{"soft hyphen", "pro\u00addev", "", "found U+00AD"},
		{"Hangul filler", "\u3164", "", "found U+3164"},
		{"half-width Hangul filler", "a\uffa0", "", "found U+FFA0"},
		{"Braille blank", "\u2800", "", "found U+2800"},
		{"line separator", "a\u2028b", "", "found U+2028"},
		{"private use", "a\ue000", "", "found U+E000"},
		{"noncharacter", "a\ufffe", "", "found U+FFFE"},
		{"combining marks only", "\u0301\u0301", "", "not only spaces and marks"},
		{"ideographic spaces and marks", "\u3000\u0301\u3000\u0302", "", "not only spaces and marks"},
	} {
		got, err := models.CleanAPIKeyName(tc.in)
		var fe *models.FieldError
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		case tc.refused == "" && got != tc.want:
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		case tc.refused != "" && !errors.As(err, &fe):
			t.Errorf("%s: got %q, %v; want a FieldError saying %q", tc.name, got, err, tc.refused)
		case tc.refused != "" && (fe.Field != "name" || !strings.Contains(fe.Message, tc.refused)):
			t.Errorf("%s: got %s: %q, want name: %q", tc.name, fe.Field, fe.Message, tc.refused)
		}
	}
}

// Names are unique as a reader sees them: whatever the normal form, case, width or spacing,
// a name that reads like an existing one is refused, and nothing is written.
func TestAPIKeyNamesLookingAlikeAreDuplicates(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		for _, name := range []string{cafeNFD, "Straße", "key one", "ABC", "🔑 prod\ufe0f"} {
			if _, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: name, Scope: models.ScopeReadOnly}); err != nil {
				t.Fatalf("create %q: %v", name, err)
			}
		}
		stored, err := store.ListAPIKeys(ctx, models.APIKeyQuery{Search: cafeNFC})
		if err != nil || len(stored.Keys) != 1 || stored.Keys[0].Name != cafeNFC {
			t.Fatalf("the NFD name: got %+v, %v; want it stored, and found, as %q", stored.Keys, err, cafeNFC)
		}
		for _, tc := range []struct{ name, lookAlike, holder string }{
			{"NFC of an NFD name", cafeNFC, cafeNFC},
			{"case and NFD", "CAFE\u0301", cafeNFC},
			{"full-width", "Ｃａｆé", cafeNFC},
			{"ß as SS", "STRASSE", "Straße"},
			{"capital sharp s", "STRAẞE", "Straße"},
			{"doubled space", "key  one", "key one"},
			{"no-break space", "key\u00a0one", "key one"},
			{"full-width letters", "ＡＢＣ", "ABC"},
			{"without the variation selector", "🔑 PROD", "🔑 prod\ufe0f"},
		} {
			_, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: tc.lookAlike, Scope: models.ScopeReadOnly})
			if !errors.Is(err, models.ErrDuplicateName) {
				t.Errorf("%s: create %q: got %v, want ErrDuplicateName", tc.name, tc.lookAlike, err)
			}
			if holder, err := store.APIKeyNameTakenBy(ctx, tc.lookAlike); err != nil || holder != tc.holder {
				t.Errorf("%s: APIKeyNameTakenBy(%q): got %q, %v; want %q", tc.name, tc.lookAlike, holder, err, tc.holder)
			}
		}
		if _, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Cafe", Scope: models.ScopeReadOnly}); err != nil {
			t.Errorf("a name without the accent is another name: got %v", err)
		}
		if _, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Ca\u200bfé", Scope: models.ScopeReadOnly}); fieldOf(t, err) != "name" {
			t.Errorf("zero-width space: got %v, want a FieldError for name", err)
		}
		if page, _ := store.ListAPIKeys(ctx, models.APIKeyQuery{}); page.Total != 6 {
			t.Errorf("keys stored: got %d, want 6 (nothing written by a refusal)", page.Total)
		}
	})
}

// insertUnfoldedKey stores a key as a version before name folding did, without name_fold.
func insertUnfoldedKey(t *testing.T, store *models.Store, name string, createdAt time.Time) string {
	t.Helper()
	secret := models.GenerateSecret()
	publicID := "ak_legacy" + models.HashSecret(secret)[:10] // 16 base62 characters, as every version made them
	err := store.Exec(context.Background(), "INSERT INTO api_keys (public_id, name, name_lower, scope, secret_hash, hint, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		publicID, name, strings.ToLower(name), models.ScopeReadOnly, models.HashSecret(secret), models.SecretHint(secret), createdAt)
	if err != nil {
		t.Fatal(err)
	}
	return publicID
}

// Keys made before names were folded may already look alike. Migrating gives each name's fold
// to its oldest key; the others keep working under their names, which stay taken, also after
// the oldest is deleted.
func TestUnfoldedKeysAreFoldedAtMigration(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		now := store.Now()
		older := insertUnfoldedKey(t, store, cafeNFC, now.Add(-2*time.Hour))
		younger := insertUnfoldedKey(t, store, cafeNFD, now.Add(-time.Hour))
		alone := insertUnfoldedKey(t, store, "Straße", now)
		if _, err := store.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			publicID string
			fold     string // "" for none
		}{{older, "café"}, {younger, ""}, {alone, "strasse"}} {
			key, err := store.APIKeyByPublicID(ctx, tc.publicID)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if key.NameFold != nil {
				got = *key.NameFold
			}
			if got != tc.fold {
				t.Errorf("%s (%q): fold %q, want %q", tc.publicID, key.Name, got, tc.fold)
			}
		}
		if page, err := store.ListAPIKeys(ctx, models.APIKeyQuery{Sort: models.SortNameAsc}); err != nil || page.Total != 3 {
			t.Fatalf("list after migrating: %d keys, %v; want all 3", page.Total, err)
		}
		for _, name := range []string{"CAFÉ", "strasse"} {
			if _, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: name, Scope: models.ScopeReadOnly}); !errors.Is(err, models.ErrDuplicateName) {
				t.Errorf("create %q: got %v, want ErrDuplicateName", name, err)
			}
		}
		if _, err := store.DeleteAPIKey(ctx, older); err != nil {
			t.Fatal(err)
		}
		if holder, err := store.APIKeyNameTakenBy(ctx, "CAFÉ"); err != nil || holder != cafeNFD {
			t.Errorf("after deleting the oldest: name taken by %q, %v; want the younger key %q", holder, err, cafeNFD)
		}
		if _, err := store.DeleteAPIKey(ctx, younger); err != nil {
			t.Fatal(err)
		}
		if _, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "CAFÉ", Scope: models.ScopeReadOnly}); err != nil {
			t.Errorf("after deleting both: create: got %v, want the name free", err)
		}
	})
}

// The latest expiry reads back on both databases, in every time zone it is given in; a later
// one is refused before it reaches SQLite as year 10000.
func TestAPIKeyExpiryWithinFourDigitYears(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		kiritimati := time.FixedZone("UTC+14", 14*60*60)
		for _, tc := range []struct {
			name      string
			expiresAt time.Time
			refused   bool
		}{
			{"latest", models.LatestExpiry, false},
			{"latest, given ahead of UTC", models.LatestExpiry.In(kiritimati), false},
			{"a nanosecond later", models.LatestExpiry.Add(time.Nanosecond), true},
			{"end of 9999-12-31", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), true},
			{"9999-12-31 in UTC-1", time.Date(9999, 12, 31, 0, 0, 0, 0, time.FixedZone("UTC-1", -60*60)), true},
			{"far beyond", time.Date(99999, 1, 1, 0, 0, 0, 0, time.UTC), true},
		} {
			key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: tc.name, Scope: models.ScopeReadOnly, ExpiresAt: &tc.expiresAt})
			if tc.refused {
				if got := fieldOf(t, err); got != "expires_at" {
					t.Errorf("%s: field %q, want %q", tc.name, got, "expires_at")
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			stored, err := store.APIKeyByPublicID(ctx, key.PublicID)
			if err != nil {
				t.Fatalf("%s: read back: %v", tc.name, err)
			}
			if stored.ExpiresAt == nil || !stored.ExpiresAt.Equal(models.LatestExpiry) {
				t.Errorf("%s: read back %v, want %v", tc.name, stored.ExpiresAt, models.LatestExpiry)
			}
		}
		for _, sort := range []models.APIKeySort{models.SortExpiresAsc, models.SortExpiresDesc} {
			page, err := store.ListAPIKeys(ctx, models.APIKeyQuery{Sort: sort})
			if err != nil || page.Total != 2 {
				t.Errorf("list by %s: %d keys, %v; want the 2 accepted", sort, page.Total, err)
			}
		}
	})
}

func TestListAPIKeysRefusesSearchesThatAreNotText(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		for _, q := range []string{"a\x00b", "\xff", "a\tb"} {
			_, err := store.ListAPIKeys(context.Background(), models.APIKeyQuery{Search: q})
			if got := fieldOf(t, err); got != "q" {
				t.Errorf("search %q: field %q, want %q", q, got, "q")
			}
		}
	})
}
