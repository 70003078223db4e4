package models_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// A refused console request is recorded as authz.denied by the actor the context carries,
// naming the route, the path and why. One actor gets ten events an hour one by one; the rest
// are counted and summed up in one event once the hour is over (by the actor's next refusal,
// or by RecordDenialSummaries), or at a stop (FlushDenialSummaries). Visitors not signed in
// are counted by address, each user by id whatever their address.
func TestDenialsAreSummarisedPerActorAndHour(t *testing.T) {
	const denialsRecordedPerHour = 10
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		now := time.Date(2026, 11, 26, 9, 10, 0, 0, time.UTC)
		store.SetClock(func() time.Time { return now })
		connectivity := models.AuditActor{Type: models.ActorUser, ID: "7", Label: "conn@example.com", Address: "192.0.2.1", UserAgent: "Firefox", RequestID: "req-1"}
		visitor := models.AuditActor{Type: models.ActorAnonymous, Address: "198.51.100.9", UserAgent: "curl/8"}
		permission := models.Denial{Route: "POST /admin/users/:id/permission", Path: "/admin/users/3/permission", Reason: models.DeniedPermission, Detail: "needs super-admin, has connectivity-admin"}
		csrf := models.Denial{Route: "POST /login", Path: "/login", Reason: models.DeniedCSRF, Detail: "no token"}
		deny := func(actor models.AuditActor, d models.Denial) {
			t.Helper()
			if err := store.RecordDenial(models.WithAuditActor(context.Background(), actor), d); err != nil {
				t.Fatal(err)
			}
		}
		for range 12 {
			deny(connectivity, permission)
		}
		// The same user from another address is the same actor.
		moved := connectivity
		moved.Address = "192.0.2.200"
		for range 3 {
			deny(moved, csrf)
		}
		deny(visitor, csrf)
		events := modelstest.AuditEvents(t, store, models.AuditFilter{Action: "authz"})
		if len(events) != 11 {
			t.Fatalf("within the hour: %d events, want 10 of the user and 1 of the visitor: %+v", len(events), events)
		}
		first := events[0]
		if first.Action != models.AuditAuthzDenied || first.Actor != connectivity || first.TargetType != models.TargetRoute ||
			first.TargetID != permission.Route || first.TargetLabel != permission.Path || first.Detail != "permission: needs super-admin, has connectivity-admin" {
			t.Errorf("first event: got %+v, want the refusal with its route, path and reason, by the user", first)
		}
		if last := events[10]; last.Actor != visitor || last.Detail != "csrf: no token" || last.TargetID != "POST /login" {
			t.Errorf("the visitor's event: got %+v, want a csrf refusal by the visitor", last)
		}

		// The next refusal after the hour writes the hour's summary first.
		now = now.Add(time.Hour)
		deny(connectivity, permission)
		events = modelstest.AuditEvents(t, store, models.AuditFilter{Action: "authz"})
		if len(events) != 13 {
			t.Fatalf("after the hour: %d events, want 13", len(events))
		}
		summary := events[11]
		wantDetail := "5 more refusals by this actor in the hour from 2026-11-26T09:00:00Z, not recorded one by one: " +
			"csrf POST /login 3, permission POST /admin/users/:id/permission 2"
		if summary.Detail != wantDetail || summary.Actor.Type != models.ActorUser || summary.Actor.ID != "7" ||
			summary.Actor.RequestID != "" || summary.TargetType != "" {
			t.Errorf("summary: got %+v, want detail %q by the user, no request id", summary, wantDetail)
		}
		if n, err := store.RecordDenialSummaries(context.Background()); err != nil || n != 0 {
			t.Errorf("RecordDenialSummaries with nothing unrecorded: got %d, %v; want 0", n, err)
		}

		// At a stop, the current hour's counts are written too.
		for range denialsRecordedPerHour + 1 {
			deny(visitor, csrf)
		}
		if n, err := store.RecordDenialSummaries(context.Background()); err != nil || n != 0 {
			t.Errorf("RecordDenialSummaries within the hour: got %d, %v; want 0", n, err)
		}
		if n, err := store.FlushDenialSummaries(context.Background()); err != nil || n != 1 {
			t.Fatalf("FlushDenialSummaries: got %d, %v; want the visitor's summary", n, err)
		}
		events = modelstest.AuditEvents(t, store, models.AuditFilter{Action: models.AuditAuthzDenied})
		flushed := events[len(events)-1]
		if !strings.HasPrefix(flushed.Detail, "1 more refusal by this actor in the hour from 2026-11-26T10:00:00Z") ||
			flushed.Actor.Type != models.ActorAnonymous || flushed.Actor.Address != visitor.Address {
			t.Errorf("flushed summary: got %+v, want 1 more by the visitor's address", flushed)
		}
	})
}
