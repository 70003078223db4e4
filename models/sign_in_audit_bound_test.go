package models

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// However many addresses fail to sign in within a minute, the memory counts
// signInAuditClients of them apart and the rest together: those past the bound get five
// events one by one, like any address, and one summary of the others.
func TestSignInAuditMemoryIsBounded(t *testing.T) {
	var audit signInAudit
	now := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	const addresses = signInAuditClients + 904
	recorded := 0
	for i := range addresses {
		record, due := audit.admit(fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&0xff, i&0xff), now, AuditSignInFailed, SignInUnknownAccount)
		if record {
			recorded++
		}
		if len(due) > 0 {
			t.Fatalf("attempt %d: got summaries %+v within the minute, want none", i, due)
		}
	}
	if got := audit.counts.len(); got != signInAuditClients+1 {
		t.Errorf("addresses counted apart: got %d, want %d and one count for the rest", got, signInAuditClients+1)
	}
	if want := signInAuditClients + signInEventsPerMinute; recorded != want {
		t.Errorf("recorded one by one: got %d, want %d", recorded, want)
	}
	due := audit.over(now.Add(time.Minute))
	if len(due) != 1 || due[0].address != signInAuditOthers ||
		!strings.HasPrefix(due[0].event.Detail, fmt.Sprintf("899 more from addresses beyond the %d counted apart", signInAuditClients)) {
		t.Errorf("summaries of the minute: got %+v, want one of the 899 attempts past the bound", due)
	}
	if audit.counts.len() != 0 {
		t.Errorf("after the minute: %d addresses remembered, want none", audit.counts.len())
	}
}
