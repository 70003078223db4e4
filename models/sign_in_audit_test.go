package models_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// Every refused sign-in is recorded with its reason, by an anonymous actor from the client's
// address, naming the account (escaped when what was typed is not text); a successful one is
// not SignIn's to record.
func TestSignInRefusalsAreAudited(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		s := newSignInTester(t, store)
		s.createUser("owner@example.com")
		s.createUser("gone@example.com")
		s.createUser("broken@example.com")
		if err := store.Exec(context.Background(), "UPDATE users SET disabled = ? WHERE email = ?", true, "gone@example.com"); err != nil {
			t.Fatal(err)
		}
		if err := store.Exec(context.Background(), "UPDATE users SET password_hash = 'not a hash' WHERE email = ?", "broken@example.com"); err != nil {
			t.Fatal(err)
		}
		owner := allUsers(t, store)["owner@example.com"]
		gone := allUsers(t, store)["gone@example.com"]
		broken := allUsers(t, store)["broken@example.com"]
		visitor := models.AuditActor{Type: models.ActorAnonymous, Address: "192.0.2.7", UserAgent: "curl/8", RequestID: "req-9"}
		attempt := func(email, password, want string) {
			t.Helper()
			_, err := store.SignIn(models.WithAuditActor(context.Background(), visitor), models.SignInAttempt{Email: email, Password: password, Address: "192.0.2.7"})
			if got := outcome(err); got != want {
				t.Fatalf("sign in as %q: got %s, want %s", email, got, want)
			}
		}
		attempt("nobody@example.com", "guess", "failed")
		attempt(" Owner@Example.com ", "guess", "failed")
		attempt("gone@example.com", ownerPassword, "failed")
		attempt("broken@example.com", ownerPassword, "failed")
		attempt("ad\x00min@example.com", "guess", "malformed")
		attempt("\xffroot@example.com", "guess", "malformed")
		attempt("owner@example.com", ownerPassword, "signed in")
		for range 4 {
			attempt("owner@example.com", "guess", "failed")
		}
		attempt("owner@example.com", "guess", "throttled")

		type row struct{ action, targetID, targetLabel, detail string }
		var got []row
		for _, ev := range modelstest.AuditEvents(t, store, models.AuditFilter{Action: "session"}) {
			if ev.Actor != visitor {
				t.Errorf("%s: actor %+v, want the visitor %+v", ev.Action, ev.Actor, visitor)
			}
			if ev.TargetType != models.TargetUser {
				t.Errorf("%s: target type %q, want %q", ev.Action, ev.TargetType, models.TargetUser)
			}
			got = append(got, row{ev.Action, ev.TargetID, ev.TargetLabel, ev.Detail})
		}
		ownerID, goneID, brokenID := fmt.Sprint(owner), fmt.Sprint(gone), fmt.Sprint(broken)
		want := []row{
			{models.AuditSignInFailed, "", "nobody@example.com", "unknown_account"},
			{models.AuditSignInFailed, ownerID, "owner@example.com", "wrong_password"},
			{models.AuditSignInFailed, goneID, "gone@example.com", "disabled"},
			{models.AuditSignInFailed, brokenID, "broken@example.com", "damaged_password_hash"},
			{models.AuditSignInFailed, "", `ad\x00min@example.com`, "malformed_input"},
		}
		// Five per address and minute are recorded one by one; the rest wait for the summary.
		if !slices.Equal(got, want) {
			t.Errorf("events:\ngot  %q\nwant %q", got, want)
		}
		s.now = s.now.Add(time.Minute)
		if n, err := store.RecordSignInSummaries(context.Background()); err != nil || n != 2 {
			t.Fatalf("summaries of the minute: got %d, %v; want 2 (failed and throttled)", n, err)
		}
		var summaries []string
		for _, ev := range modelstest.AuditEvents(t, store, models.AuditFilter{Action: "session"})[len(want):] {
			summaries = append(summaries, ev.Action+" "+ev.Actor.Address+" "+ev.Detail)
		}
		from := s.now.Add(-time.Minute).Format(time.RFC3339)
		wantSummaries := []string{
			models.AuditSignInFailed + " 192.0.2.7 5 more from this address in the minute from " + from + ", not recorded one by one (malformed_input 1, wrong_password 4)",
			models.AuditSignInThrottled + " 192.0.2.7 1 more from this address in the minute from " + from + ", not recorded one by one (throttled 1)",
		}
		if !slices.Equal(summaries, wantSummaries) {
			t.Errorf("summaries:\ngot  %q\nwant %q", summaries, wantSummaries)
		}
		if n, err := store.RecordSignInSummaries(context.Background()); err != nil || n != 0 {
			t.Errorf("summaries again: got %d, %v; want none", n, err)
		}
	})
}

// allUsers maps each user's email to their id.
func allUsers(t *testing.T, store *models.Store) map[string]int64 {
	t.Helper()
	users, err := store.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for _, u := range users {
		ids[u.Email] = u.ID
	}
	return ids
}

// A flood of failed sign-ins from one address writes five events a minute and one summary
// with the count; the summary of a minute is written by the next failure from that address
// after it, as well as by RecordSignInSummaries. Another address has its own five.
func TestFailedSignInsAreSummarisedPerAddressAndMinute(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		s := newSignInTester(t, store)
		for i := range 12 {
			s.try(fmt.Sprintf("guess-%d@example.com", i), "guess", "198.51.100.1", "failed")
		}
		for i := range 6 {
			s.try(fmt.Sprintf("other-%d@example.com", i), "guess", "198.51.100.2", "failed")
		}
		count := func(filter models.AuditFilter) int { return len(modelstest.AuditEvents(t, store, filter)) }
		if got := count(models.AuditFilter{}); got != 10 {
			t.Fatalf("within the minute: %d events, want 5 per address", got)
		}
		s.now = s.now.Add(time.Minute)
		s.try("late@example.com", "guess", "198.51.100.1", "failed")
		events := modelstest.AuditEvents(t, store, models.AuditFilter{})
		if len(events) != 12 {
			t.Fatalf("after the next failure: %d events, want 12: %q", len(events), actionsOf(events))
		}
		summary, late := events[10], events[11]
		if !strings.HasPrefix(summary.Detail, "7 more from this address") || !strings.HasSuffix(summary.Detail, "(unknown_account 7)") ||
			summary.Actor.Type != models.ActorAnonymous || summary.Actor.Address != "198.51.100.1" || summary.TargetType != "" {
			t.Errorf("summary: got %+v, want 7 more unknown accounts from 198.51.100.1", summary)
		}
		if late.TargetLabel != "late@example.com" || late.Detail != "unknown_account" {
			t.Errorf("the failure after the minute: got %+v, want it recorded on its own", late)
		}
		if n, err := store.RecordSignInSummaries(context.Background()); err != nil || n != 1 {
			t.Fatalf("the other address's summary: got %d, %v; want 1", n, err)
		}
		if last := modelstest.AuditEvents(t, store, models.AuditFilter{})[12]; !strings.HasPrefix(last.Detail, "1 more from this address") || last.Actor.Address != "198.51.100.2" {
			t.Errorf("the other address's summary: got %+v, want 1 more from 198.51.100.2", last)
		}
	})
}

// Setup is recorded in the transaction that creates the first Super admin.
func TestCompleteSetupIsAudited(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := models.WithAuditActor(context.Background(), models.AuditActor{Type: models.ActorAnonymous, Address: "203.0.113.5"})
		token, err := store.CreateSetupToken(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.CompleteSetup(ctx, token, models.NewUser{Email: "root@example.com", Name: "Root", Password: "short"}); err == nil {
			t.Fatal("setup with a short password: got no error")
		}
		root, err := store.CompleteSetup(ctx, token, models.NewUser{Email: "Root@Example.com", Name: "Root", Password: "a long enough password"})
		if err != nil {
			t.Fatal(err)
		}
		events := modelstest.AuditEvents(t, store, models.AuditFilter{})
		if len(events) != 1 || events[0].Action != models.AuditSetupCompleted || events[0].TargetID != fmt.Sprint(root.ID) ||
			events[0].TargetLabel != "root@example.com" || events[0].Actor.Address != "203.0.113.5" {
			t.Fatalf("events: got %+v, want one setup.completed naming root@example.com, from the visitor", events)
		}
		for _, ev := range events {
			if strings.Contains(ev.Detail+ev.TargetLabel+ev.Actor.Label, token) {
				t.Errorf("%s holds the setup token", ev.Action)
			}
		}
	})
}

// A refused sign-in names the account typed only when it has an email's shape, in lower case
// as the user filter compares it: a password typed into the email field is not kept. An
// account that has no password yet (invited, or reset) is told from a damaged hash.
func TestSignInAuditKeepsNoPasswordTypedAsAnEmail(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		s := newSignInTester(t, store)
		s.createUser("invited@example.com")
		if err := store.Exec(context.Background(), "UPDATE users SET password_hash = '' WHERE email = ?", "invited@example.com"); err != nil {
			t.Fatal(err)
		}
		for i, typed := range []string{"Tr0ub4dor&3 horse", "hunter2hunter2", "p@ssw0rd", " Nobody@Example.COM ", "invited@example.com"} {
			ctx := models.WithAuditActor(context.Background(), models.AuditActor{Type: models.ActorAnonymous, Address: fmt.Sprintf("192.0.2.%d", 10+i)})
			if _, err := store.SignIn(ctx, models.SignInAttempt{Email: typed, Password: "a guess", Address: fmt.Sprintf("192.0.2.%d", 10+i)}); outcome(err) != "failed" {
				t.Fatalf("sign in as %q: got %s, want failed", typed, outcome(err))
			}
		}
		var got []string
		for _, ev := range modelstest.AuditEvents(t, store, models.AuditFilter{Action: models.AuditSignInFailed}) {
			got = append(got, ev.TargetLabel+" "+ev.Detail)
		}
		want := []string{
			"(not an email address) unknown_account",
			"(not an email address) unknown_account",
			"(not an email address) unknown_account",
			"nobody@example.com unknown_account",
			"invited@example.com no_password_yet",
		}
		if !slices.Equal(got, want) {
			t.Errorf("refused sign-ins:\ngot  %q\nwant %q", got, want)
		}
	})
}
