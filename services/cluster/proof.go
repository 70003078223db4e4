package cluster

import (
	"context"
	"time"

	"keysmith/models"
)

// revocationPoll is how often a wait for acknowledgements asks the database.
const revocationPoll = 50 * time.Millisecond

// AwaitRevocation returns the proof of the revocation with that id once it is settled: every
// instance acknowledged it, or wait has passed since it was made (the console's is
// views.RevocationWait), with the store's time it was read at. It waits wait at most, and
// returns at once when ctx ends. models.ErrRevocationNotFound when there is no such revocation.
func (i *Instance) AwaitRevocation(ctx context.Context, id int64, wait time.Duration) (*models.RevocationProof, time.Time, error) {
	deadline := time.Now().Add(wait)
	for {
		proof, err := i.store.RevocationProof(ctx, id)
		if err != nil {
			return nil, time.Time{}, err
		}
		now := i.store.Now()
		if proof.Complete() || now.Sub(proof.RevokedAt) >= wait || !time.Now().Before(deadline) {
			return proof, now, nil
		}
		select {
		case <-ctx.Done():
			return proof, now, nil
		case <-time.After(min(revocationPoll, time.Until(deadline))):
		}
	}
}
