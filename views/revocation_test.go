package views_test

import (
	"testing"
	"time"

	"keysmith/models"
	"keysmith/views"
)

// The proof says, in the same words on one instance or many, how far a revocation reached.
func TestRevocationSummary(t *testing.T) {
	revokedAt := now.Add(-time.Second)
	ack := func(id string, after time.Duration) models.RevocationAck {
		return models.RevocationAck{InstanceID: id, AcknowledgedAt: revokedAt.Add(after)}
	}
	peer := models.Instance{ID: "in_peer"}
	for _, c := range []struct {
		name           string
		acks           []models.RevocationAck
		unacknowledged []models.Instance
		at             time.Time
		state, want    string
	}{
		{"one instance", []models.RevocationAck{ack("in_a", 42*time.Microsecond)}, nil, now, "complete", "Revoked on 1 of 1 instances in 0.042 ms."},
		{"two instances", []models.RevocationAck{ack("in_a", 300*time.Microsecond), ack("in_b", 3200*time.Microsecond)}, nil, now, "complete", "Revoked on 2 of 2 instances in 3 ms."},
		{"a late acknowledgement", []models.RevocationAck{ack("in_a", 2500*time.Millisecond)}, nil, now.Add(2 * time.Second), "complete", "Revoked on 1 of 1 instances in 2500 ms."},
		{"waiting", []models.RevocationAck{ack("in_a", time.Millisecond)}, []models.Instance{peer}, revokedAt.Add(views.RevocationWait - time.Microsecond), "waiting", "Revoking on every instance: 1 of 2 acknowledged so far…"},
		{"one did not acknowledge", []models.RevocationAck{ack("in_a", time.Millisecond)}, []models.Instance{peer}, revokedAt.Add(views.RevocationWait), "incomplete", "Revoked on 1 of 2 instances in 1 ms."},
		{"none acknowledged", nil, []models.Instance{peer}, now.Add(time.Second), "incomplete", "Revoked on 0 of 1 instances."},
		{"nothing registered", nil, nil, revokedAt, "waiting", "Revoking on every instance: 0 of 0 acknowledged so far…"},
		{"nothing registered after the wait", nil, nil, now.Add(time.Second), "incomplete", "Revoked; no running instance was registered to acknowledge it."},
	} {
		r := views.Revocation{Proof: models.RevocationProof{ID: 7, RevokedAt: revokedAt, Acks: c.acks, Unacknowledged: c.unacknowledged}, Now: c.at}
		if got := r.Summary(); got != c.want {
			t.Errorf("%s: summary got %q, want %q", c.name, got, c.want)
		}
		if got := r.State(); got != c.state {
			t.Errorf("%s: state got %q, want %q", c.name, got, c.state)
		}
		d, _ := render(t, views.RevocationProof(r))
		poll, polling := d.Find(`[data-testid="revocation-proof"]`).Attr("hx-get")
		if wantPoll := c.state == "waiting"; polling != wantPoll || (polling && poll != "/admin/revocations/7") {
			t.Errorf("%s: polls %q (%v), want polling %v", c.name, poll, polling, wantPoll)
		}
	}
}
