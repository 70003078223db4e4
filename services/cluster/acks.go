package cluster

import (
	"context"
	"sync/atomic"
	"time"

	"keysmith/models"
)

const (
	// ackQueueSize bounds the acknowledgements waiting to be written: while the database is
	// out, the listener keeps applying revocations and queues at most this many.
	ackQueueSize = 1024
	// ackBatchSize is how many acknowledgements one write takes at most.
	ackBatchSize = 256
	// ackRetryMinDelay and ackRetryMaxDelay space the tries of a write that failed.
	ackRetryMinDelay = 50 * time.Millisecond
	ackRetryMaxDelay = time.Second
	// ackGiveUpAfter is how long a write is tried again before its acknowledgements are
	// dropped: the console waits 2 s for them, and an operator long after that.
	ackGiveUpAfter = time.Minute
)

// revocationAcks queues this instance's acknowledgements of the revocations it applied, for
// runAcks to write. Queuing never waits, so that the revocation listener, which delivers
// every notice on one goroutine, is never held up by a slow database.
type revocationAcks struct {
	queue chan models.RevocationAck
	// dropped counts the acknowledgements given up since runAcks last said so.
	dropped atomic.Int64
}

func newRevocationAcks() *revocationAcks {
	return &revocationAcks{queue: make(chan models.RevocationAck, ackQueueSize)}
}

// acknowledge queues the acknowledgement that this instance applied the revocation the notice
// names, at the store's time; a notice that revokes nothing needs none. When the queue is
// full, the acknowledgement is dropped and counted: the console then names this instance as
// not having acknowledged, which errs on the side of caution.
func (i *Instance) acknowledge(notice models.KeyNotice) {
	if !notice.Revoked || notice.RevocationID == 0 {
		return
	}
	ack := models.RevocationAck{RevocationID: notice.RevocationID, InstanceID: i.id, AcknowledgedAt: i.store.Now()}
	select {
	case i.acks.queue <- ack:
	default:
		i.acks.dropped.Add(1)
	}
}

// RunAcks writes the queued acknowledgements until ctx ends, as many as wait in one write. A
// write that fails is tried again, with growing delays, for ackGiveUpAfter.
func (i *Instance) RunAcks(ctx context.Context) {
	batch := make([]models.RevocationAck, 0, ackBatchSize)
	delay := ackRetryMinDelay
	var failingSince time.Time
	for {
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case ack := <-i.acks.queue:
				batch = append(batch, ack)
			}
		}
	gather:
		for len(batch) < ackBatchSize {
			select {
			case ack := <-i.acks.queue:
				batch = append(batch, ack)
			default:
				break gather
			}
		}
		err := i.store.AcknowledgeRevocations(ctx, batch)
		if ctx.Err() != nil {
			return
		}
		if err != nil && (failingSince.IsZero() || time.Since(failingSince) < ackGiveUpAfter) {
			if failingSince.IsZero() {
				failingSince = time.Now()
				i.log.Warn("writing revocation acknowledgements failed; trying again", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, ackRetryMaxDelay)
			continue
		}
		if err != nil {
			i.acks.dropped.Add(int64(len(batch)))
		}
		if dropped := i.acks.dropped.Swap(0); dropped > 0 {
			i.log.Warn("revocation acknowledgements dropped: the console names this instance as not having acknowledged them", "dropped", dropped, "error", err)
		}
		batch, delay, failingSince = batch[:0], ackRetryMinDelay, time.Time{}
	}
}
