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

// deleteKey creates a key and deletes it, and returns the revocation the delete's notice named.
func deleteKey(t *testing.T, store *models.Store, name string) (*models.APIKey, int64) {
	t.Helper()
	ctx := context.Background()
	var revoked []models.KeyNotice
	store.OnKeyNotice(func(n models.KeyNotice) {
		if n.Revoked {
			revoked = append(revoked, n)
		}
	})
	key, _, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: name, Scope: models.ScopeReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.DeleteAPIKey(ctx, key.PublicID); err != nil {
		t.Fatal(err)
	}
	if len(revoked) != 1 || revoked[0].RevocationID == 0 {
		t.Fatalf("revoking notices of the delete: got %+v, want one naming its revocation", revoked)
	}
	return key, revoked[0].RevocationID
}

func instanceIDs(instances []models.Instance) string {
	var ids []string
	for _, instance := range instances {
		ids = append(ids, instance.ID)
	}
	return strings.Join(ids, ",")
}

func ackIDs(acks []models.RevocationAck) string {
	var ids []string
	for _, ack := range acks {
		ids = append(ids, ack.InstanceID)
	}
	return strings.Join(ids, ",")
}

// A revocation counts on the instances live when it was committed, and on those only; it is
// complete once each has acknowledged it, and took until the last acknowledgement.
func TestRevocationProofCountsTheInstancesLiveAtItsCommit(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		clock := newClock(store)
		beat := func(id string, started time.Time) {
			t.Helper()
			if err := store.Heartbeat(ctx, models.Instance{ID: id, Address: id + ":8080", Hostname: id, StartedAt: started, ListenerState: models.ListenerListening}, 3*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		beat("in_gone", clock.Now())
		clock.Advance(5 * time.Second)
		beat("in_a", clock.Now())
		beat("in_b", clock.Now())
		clock.Advance(time.Second)
		key, id := deleteKey(t, store, "revoked")
		revokedAt := clock.Now()
		clock.Advance(time.Second)
		beat("in_later", clock.Now())

		latest, err := store.LatestKeyRevocation(ctx, key.ID)
		if err != nil || latest != id {
			t.Fatalf("latest revocation of the key: got %d, %v, want %d", latest, err, id)
		}
		proof, err := store.RevocationProof(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if proof.APIKeyID != key.ID || !proof.RevokedAt.Equal(revokedAt) || len(proof.Acks) != 0 ||
			instanceIDs(proof.Unacknowledged) != "in_a,in_b" || proof.Complete() || proof.Instances() != 2 {
			t.Fatalf("proof before any acknowledgement: got %+v, want key %d revoked at %v, waiting for in_a,in_b", proof, key.ID, revokedAt)
		}

		for _, step := range []struct {
			acks           []models.RevocationAck
			acked, unacked string
			complete       bool
			took           time.Duration
		}{
			{[]models.RevocationAck{{RevocationID: id, InstanceID: "in_b", AcknowledgedAt: revokedAt.Add(3 * time.Millisecond)}}, "in_b", "in_a", false, 3 * time.Millisecond},
			// A second acknowledgement by the same instance changes nothing; an instance that
			// was not live at the commit is not waited for, but counts once it acknowledges.
			{[]models.RevocationAck{
				{RevocationID: id, InstanceID: "in_a", AcknowledgedAt: revokedAt.Add(1500 * time.Microsecond)},
				{RevocationID: id, InstanceID: "in_b", AcknowledgedAt: revokedAt.Add(9 * time.Millisecond)},
			}, "in_a,in_b", "", true, 3 * time.Millisecond},
			{[]models.RevocationAck{{RevocationID: id, InstanceID: "in_later", AcknowledgedAt: revokedAt.Add(2 * time.Second)}}, "in_a,in_b,in_later", "", true, 2 * time.Second},
		} {
			if err := store.AcknowledgeRevocations(ctx, step.acks); err != nil {
				t.Fatal(err)
			}
			proof, err := store.RevocationProof(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got := ackIDs(proof.Acks); got != step.acked {
				t.Errorf("acknowledged: got %q, want %q", got, step.acked)
			}
			if got := instanceIDs(proof.Unacknowledged); got != step.unacked {
				t.Errorf("unacknowledged: got %q, want %q", got, step.unacked)
			}
			if proof.Complete() != step.complete || proof.Took() != step.took {
				t.Errorf("complete, took: got %v, %v, want %v, %v", proof.Complete(), proof.Took(), step.complete, step.took)
			}
		}

		// An instance that acknowledged and stopped since still counts.
		if err := store.Deregister(ctx, "in_a"); err != nil {
			t.Fatal(err)
		}
		if proof, err := store.RevocationProof(ctx, id); err != nil || proof.Instances() != 3 || !proof.Complete() {
			t.Errorf("after in_a stopped: got %+v, %v, want 3 instances, complete", proof, err)
		}
		if _, err := store.RevocationProof(ctx, id+1000); !errors.Is(err, models.ErrRevocationNotFound) {
			t.Errorf("unknown revocation: got %v, want ErrRevocationNotFound", err)
		}
		if _, err := store.LatestKeyRevocation(ctx, key.ID+1000); !errors.Is(err, models.ErrRevocationNotFound) {
			t.Errorf("key never revoked: got %v, want ErrRevocationNotFound", err)
		}
	})
}

// Each revocation of a key is a record of its own; the latest is the one the console shows.
// Revocations are pruned with their acknowledgements once old.
func TestKeyRevocationsArePrunedWithTheirAcknowledgements(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		clock := newClock(store)
		_, old := deleteKey(t, store, "old")
		if err := store.AcknowledgeRevocations(ctx, []models.RevocationAck{{RevocationID: old, InstanceID: "in_a", AcknowledgedAt: clock.Now()}}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
		_, recent := deleteKey(t, store, "recent")
		if recent == old {
			t.Fatalf("two revocations share the id %d", old)
		}
		// The old key's creation is recorded too, for a process that polls for changes.
		pruned, err := store.PruneKeyRevocations(ctx, clock.Now().Add(-time.Minute))
		if err != nil || pruned != 2 {
			t.Fatalf("pruned: got %d, %v, want 2 (the old key's creation and deletion)", pruned, err)
		}
		if _, err := store.RevocationProof(ctx, old); !errors.Is(err, models.ErrRevocationNotFound) {
			t.Errorf("old revocation after pruning: got %v, want ErrRevocationNotFound", err)
		}
		if _, err := store.RevocationProof(ctx, recent); err != nil {
			t.Errorf("recent revocation after pruning: got %v, want kept", err)
		}
		var acks int64
		if err := store.Pool().QueryRowContext(ctx, "SELECT count(*) FROM key_revocation_acks").Scan(&acks); err != nil {
			t.Fatal(err)
		}
		if acks != 0 {
			t.Errorf("acknowledgements left after pruning their revocation: got %d, want 0", acks)
		}
	})
}
