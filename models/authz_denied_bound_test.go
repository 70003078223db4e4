package models

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// However many actors are refused within an hour, the memory counts denialAuditActors of them
// apart and the rest together, each actor's count tells at most denialRoutesCounted routes
// apart, and keeps no text longer than the log would: a flood of addresses, routes or long
// headers cannot make it grow.
func TestDenialAuditMemoryIsBounded(t *testing.T) {
	var audit denialAudit
	now := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	const addresses = denialAuditActors + 500
	recorded := 0
	for i := range addresses {
		actor := AuditActor{Type: ActorAnonymous, Address: fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&0xff, i&0xff)}
		record, due := audit.admit(actor, now, DeniedCSRF, "POST /login")
		if record {
			recorded++
		}
		if len(due) > 0 {
			t.Fatalf("refusal %d: got summaries %+v within the hour, want none", i, due)
		}
	}
	if got := audit.counts.len(); got != denialAuditActors+1 {
		t.Errorf("actors counted apart: got %d, want %d and one count for the rest", got, denialAuditActors+1)
	}
	if want := denialAuditActors + denialEventsPerHour; recorded != want {
		t.Errorf("recorded one by one: got %d, want %d", recorded, want)
	}
	due := audit.over(now.Add(time.Hour), false)
	if want := fmt.Sprintf("490 more refusals by actors beyond the %d counted apart", denialAuditActors); len(due) != 1 ||
		due[0].actor.Type != ActorAnonymous || !strings.HasPrefix(due[0].event.Detail, want) {
		t.Errorf("summaries of the hour: got %+v, want one starting %q", due, want)
	}
	if audit.counts.len() != 0 {
		t.Errorf("after the hour: %d actors remembered, want none", audit.counts.len())
	}

	user := AuditActor{Type: ActorUser, ID: "1", UserAgent: strings.Repeat("x", 1<<20)}
	for i := range denialEventsPerHour + 3*denialRoutesCounted {
		audit.admit(user, now, DeniedPermission, fmt.Sprintf("GET /route-%d", i))
	}
	if got := len(audit.counts.keys["user 1"].counts.unrecorded); got != denialRoutesCounted+1 {
		t.Errorf("routes one actor's count tells apart: got %d, want %d and one count for the rest", got, denialRoutesCounted)
	}
	if got := len(audit.counts.keys["user 1"].counts.actor.UserAgent); got > maxAuditField {
		t.Errorf("user agent kept for the summary: %d bytes, want at most %d", got, maxAuditField)
	}
	due = audit.over(now, true)
	if want := fmt.Sprintf("%s %d,", denialOtherRoutes, 2*denialRoutesCounted); len(due) != 1 || !strings.Contains(due[0].event.Detail, want) {
		t.Errorf("the user's summary: got %+v, want it to count %q", due, want)
	}
}
