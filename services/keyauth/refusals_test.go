package keyauth

import (
	"fmt"
	"testing"
	"time"

	"keysmith/models"
)

// A key's refusal is queued once an hour; a flood of made-up secrets takes half the queue at
// most, so a real key's refusal still gets through, and what cannot be queued is counted.
func TestKeyRefusalsAreQueuedOncePerHourAndBounded(t *testing.T) {
	r := newRefusalQueue(nil, discardLog)
	at := time.Date(2030, 1, 1, 10, 30, 0, 0, time.UTC)
	flood := 3 * refusalsPending
	for i := range flood {
		r.note(models.KeyRefusal{SecretHash: fmt.Sprintf("%064d", i), At: at}, fmt.Sprintf("sum %d", i))
	}
	if len(r.pending) != unknownPending || r.dropped != flood-unknownPending || len(r.seen) != unknownPending {
		t.Fatalf("after %d made-up secrets: %d queued, %d dropped, %d remembered; want %d, %d, %d",
			flood, len(r.pending), r.dropped, len(r.seen), unknownPending, flood-unknownPending, unknownPending)
	}
	expired := models.KeyRefusal{PublicID: "ak_0123456789abcdef", Name: "nightly", Reason: models.RefusedExpired, At: at}
	for range 3 {
		r.note(expired, expired.PublicID)
	}
	if len(r.pending) != unknownPending+1 || r.pending[len(r.pending)-1].refusal != expired {
		t.Fatalf("a real key's refusals during the flood: %d queued, last %+v; want it queued once", len(r.pending), r.pending[len(r.pending)-1])
	}
	expired.At = at.Add(30 * time.Minute)
	r.note(expired, expired.PublicID)
	if len(r.pending) != unknownPending+2 || len(r.seen) != 1 {
		t.Errorf("the first refusal of the next hour: %d queued, %d remembered; want it queued, and the last hour forgotten", len(r.pending), len(r.seen))
	}
}
