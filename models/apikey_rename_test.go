package models_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// A rename is one store operation: the name is checked and compared as at creation, the old
// name freed and the new one taken, the key.renamed webhook event queued with the new name,
// and every instance told to read the key again; the same name again changes nothing.
func TestRenameAPIKey(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		store.EnableWebhookEvents()
		var heard []models.KeyNotice
		store.OnKeyNotice(func(n models.KeyNotice) { heard = append(heard, n) })
		key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Straße", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "other", Scope: models.ScopeReadOnly}); err != nil {
			t.Fatal(err)
		}
		deliverAll(t, store)

		for _, tc := range []struct {
			name string
			want func(error) bool
		}{
			{"OTHER", func(err error) bool { return errors.Is(err, models.ErrDuplicateName) }},
			{"", models.IsFieldError},
			{strings.Repeat("x", models.MaxAPIKeyNameLength+1), models.IsFieldError},
		} {
			if _, _, _, err := store.RenameAPIKey(ctx, key.PublicID, tc.name); !tc.want(err) {
				t.Errorf("rename to %q: got error %v", tc.name, err)
			}
		}
		if _, _, _, err := store.RenameAPIKey(ctx, "ak_0000000000000000", "anything"); !errors.Is(err, models.ErrAPIKeyNotFound) {
			t.Errorf("rename of an unknown key: got %v, want ErrAPIKeyNotFound", err)
		}

		heard = nil
		renamed, previous, changed, err := store.RenameAPIKey(ctx, key.PublicID, " STRASSE 2 ")
		if err != nil || !changed || previous != "Straße" || renamed.Name != "STRASSE 2" {
			t.Fatalf("rename: got %q from %q, changed %v, %v; want %q from %q, true, nil", renamed.Name, previous, changed, err, "STRASSE 2", "Straße")
		}
		if len(heard) != 1 || heard[0].KeyID != key.ID || !heard[0].Revoked || !heard[0].NothingEnded {
			t.Errorf("notices of the rename: got %+v, want one that makes every instance read key %d again and ends nothing", heard, key.ID)
		}
		if holder, _ := store.APIKeyNameTakenBy(ctx, "strasse"); holder != "" {
			t.Errorf("the old name is still taken, by %q", holder)
		}
		if holder, _ := store.APIKeyNameTakenBy(ctx, "Straße 2"); holder != "STRASSE 2" {
			t.Errorf("the new name is taken by %q, want %q", holder, "STRASSE 2")
		}
		events := deliverAll(t, store)
		if len(events) != 1 || events[0].Type != models.KeyEventRenamed || decodeEvent(t, events[0]).Data.Name != "STRASSE 2" {
			t.Errorf("webhook events of the rename: got %d, want one key.renamed naming %q", len(events), "STRASSE 2")
		}

		if _, _, changed, err := store.RenameAPIKey(ctx, key.PublicID, "STRASSE 2"); err != nil || changed {
			t.Errorf("the same name again: changed %v, %v; want false, nil", changed, err)
		}
		if events := deliverAll(t, store); len(events) != 0 {
			t.Errorf("the same name again queued %d webhook events, want none", len(events))
		}
	})
}

// Descriptions are optional text of up to 500 characters, on several lines, stored with "\n"
// line ends, trimmed and in normal form C; control characters and invalid UTF-8 are refused.
func TestCleanAPIKeyDescription(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"", "", true},
		{"  one\r\ntwo\rthree\n\tfour  ", "one\ntwo\nthree\n\tfour", true},
		{"cafe\u0301", "café", true},
		{strings.Repeat("é", models.MaxAPIKeyDescriptionLength), strings.Repeat("é", models.MaxAPIKeyDescriptionLength), true},
		{strings.Repeat("é", models.MaxAPIKeyDescriptionLength+1), "", false},
		{"nul \x00", "", false},
		{"bell \a", "", false},
		{"bad \xff", "", false},
	} {
		got, err := models.CleanAPIKeyDescription(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("CleanAPIKeyDescription(%q): got %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
