package models_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"keysmith/models"
	"keysmith/models/modelstest"
)

func TestCleanClientName(t *testing.T) {
	long := strings.Repeat("a", models.MaxClientLength-1) + "é" + "tail"
	for _, tc := range []struct{ in, want string }{
		{"curl/8.0", "curl/8.0"},
		{"", models.UnknownClient},
		{"   ", models.UnknownClient},
		{"bad \xff\xfe bytes", "bad \uFFFD bytes"},
		{"nul\x00 and\ttab\x7f", "nul andtab"},
		{long, strings.Repeat("a", models.MaxClientLength-1) + "é"},
		{strings.Repeat("ü", 300), strings.Repeat("ü", models.MaxClientLength)},
	} {
		got := models.CleanClientName(tc.in)
		if got != tc.want {
			t.Errorf("CleanClientName(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !utf8.ValidString(got) || utf8.RuneCountInString(got) > models.MaxClientLength {
			t.Errorf("CleanClientName(%q) = %q: not valid UTF-8 or too long", tc.in, got)
		}
	}
}

// A client that sends bytes the database cannot store must not stop the batch, and with it the
// record of every other key's uses.
func TestRecordAPIKeyUsesWithBadClientNames(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "script", Scope: models.ScopeReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		other, _, _ := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "other", Scope: models.ScopeReadOnly})
		at := time.Now().UTC().Truncate(time.Second)
		cut := strings.Repeat("a", models.MaxClientLength-1) + "é"
		err = store.RecordAPIKeyUses(ctx, []models.APIKeyUse{
			{APIKeyID: key.ID, At: at, IP: "192.0.2.1", Client: "evil \xff\xfe\x00"},
			{APIKeyID: key.ID, At: at, IP: "192.0.2.2", Client: cut[:len(cut)-1]}, // é cut in half
			{APIKeyID: other.ID, At: at, IP: "192.0.2.3", Client: "curl/8.0"},
		}, nil)
		if err != nil {
			t.Fatalf("a batch with bad client names was refused: %v", err)
		}
		list, err := store.APIKeyClients(ctx, key.ID, at.Add(-time.Minute), 10)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, c := range list.Clients {
			got[c.Client] = true
		}
		if want := []string{"evil \uFFFD", strings.Repeat("a", models.MaxClientLength-1) + "\uFFFD"}; len(got) != 2 || !got[want[0]] || !got[want[1]] {
			t.Errorf("clients %v, want %q", got, want)
		}
		if list, _ := store.APIKeyClients(ctx, other.ID, at.Add(-time.Minute), 10); list.Total != 1 {
			t.Errorf("the other key's use was not recorded: %+v", list)
		}
	})
}

// Made-up clients do not pile up: each key keeps its most recently seen clients, and all of
// its scanners.
func TestRecordAPIKeyUsesKeepsTheMostRecentClients(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		key, _, _ := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "flooded", Scope: models.ScopeScanner})
		start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		at := func(i int) time.Time { return start.Add(time.Duration(i) * time.Second) }
		uses := []models.APIKeyUse{{APIKeyID: key.ID, At: start.Add(-time.Hour), IP: "192.0.2.1", Client: "pg-scanner", Scanner: true}}
		const clients = models.MaxClientsPerKey + 50
		for i := range clients {
			uses = append(uses, models.APIKeyUse{APIKeyID: key.ID, At: at(i), IP: "192.0.2.2", Client: fmt.Sprintf("made-up/%d", i)})
		}
		// In two batches, as two flushes would write them.
		for _, batch := range [][]models.APIKeyUse{uses[:120], uses[120:]} {
			if err := store.RecordAPIKeyUses(ctx, batch, nil); err != nil {
				t.Fatal(err)
			}
		}
		all, err := store.APIKeyClients(ctx, key.ID, start.Add(-2*time.Hour), 5)
		if err != nil {
			t.Fatal(err)
		}
		if all.Total != models.MaxClientsPerKey+1 || len(all.Clients) != 5 {
			t.Fatalf("%d clients kept (%d listed), want %d and the scanner", all.Total, len(all.Clients), models.MaxClientsPerKey)
		}
		if c := all.Clients[0]; !c.Scanner || c.Client != "pg-scanner" {
			t.Errorf("first listed %+v, want the scanner, however long ago it was seen", c)
		}
		if c := all.Clients[1]; c.Client != fmt.Sprintf("made-up/%d", clients-1) {
			t.Errorf("second listed %+v, want the most recent client", c)
		}
		// The oldest were dropped: everything kept was seen at or after the 50th.
		if kept, _ := store.APIKeyClients(ctx, key.ID, at(clients-models.MaxClientsPerKey), 1); kept.Total != models.MaxClientsPerKey {
			t.Errorf("%d clients seen since the oldest kept, want %d", kept.Total, models.MaxClientsPerKey)
		}
	})
}
