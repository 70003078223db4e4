package keyauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"keysmith/models"
)

// refusedKey names, for the audit log, the key whose secret was refused; id is its api key
// id, under which the refusal is counted for its day.
type refusedKey struct {
	id             int64
	publicID, name string
}

// Refusal is ErrKeyRefused carrying what the audit log needs to name the refusal: the key,
// when the refused secret is known to be its (expired, disabled); or, when the store has just
// answered the secret unknown, its hash, which a tombstone may name (a key deleted, a secret
// replaced). A secret answered unknown from memory carries neither: it was passed on already.
type Refusal struct {
	key     *refusedKey
	unknown bool
	sum     [sha256.Size]byte
}

func (*Refusal) Error() string { return ErrKeyRefused.Error() }
func (*Refusal) Unwrap() error { return ErrKeyRefused }

// Refused is the refusal of the entry's key, for the audit log: a key of another scope than
// the route admits, or expired.
func (e *Entry) Refused() *Refusal {
	return &Refusal{key: &refusedKey{id: e.id, publicID: e.publicID(), name: e.keyName()}}
}

// disabledKeyError is the lookup's answer for a disabled key's secret (errKeyDisabled),
// naming the key.
type disabledKeyError struct{ key *refusedKey }

func (*disabledKeyError) Error() string { return errKeyDisabled.Error() }
func (*disabledKeyError) Unwrap() error { return errKeyDisabled }

const (
	// refusalsRemembered bounds the keys and unknown secrets whose refusal this instance
	// remembers having passed on in the current hour; past it, refusals are passed on again
	// and the store records each key's first of the hour all the same.
	refusalsRemembered = 10_000
	// refusalsPending bounds the refusals waiting to be written; past it, they are dropped and
	// counted in the log.
	refusalsPending = 1024
)

// Unknown secrets, which anyone can make up by the million, may take half of each bound at
// most, so that a flood of them never crowds out the refusals of real keys.
const (
	unknownRemembered = refusalsRemembered / 2
	unknownPending    = refusalsPending / 2
)

// refusalQueue passes the first refusal of each key in each hour on to the audit log
// (models.Store.RecordKeyRefusal), off the request's path: a request only looks its key up in
// a bounded memory of the hour's refusals and, the first time, queues the refusal in a bounded
// queue that a background writer empties. The store keeps several instances from recording the
// same key and hour twice.
type refusalQueue struct {
	store *models.Store
	log   *slog.Logger

	mu sync.Mutex
	// hour is the hour (Unix time / 3600) that seen is about.
	hour    int64
	seen    map[string]struct{}
	pending []pendingRefusal
	// unknownSeen and unknownQueued count the unknown secrets in seen and pending.
	unknownSeen, unknownQueued int
	dropped                    int
	wake                       chan struct{}
	// writing is held while refusals are written, so that a flush waits for those under way.
	writing sync.Mutex
}

// pendingRefusal is a refusal to write, and its name in seen.
type pendingRefusal struct {
	refusal models.KeyRefusal
	seen    string
}

func newRefusalQueue(store *models.Store, log *slog.Logger) *refusalQueue {
	return &refusalQueue{store: store, log: log, seen: map[string]struct{}{}, wake: make(chan struct{}, 1)}
}

// note queues refusal for the writer unless seen, which names its key or secret, was queued
// already this hour.
func (r *refusalQueue) note(refusal models.KeyRefusal, seen string) {
	hour := refusal.At.Unix() / 3600
	unknown := refusal.PublicID == ""
	r.mu.Lock()
	if hour != r.hour {
		r.hour, r.unknownSeen = hour, 0
		clear(r.seen)
	}
	if _, queued := r.seen[seen]; queued {
		r.mu.Unlock()
		return
	}
	if len(r.pending) >= refusalsPending || unknown && r.unknownQueued >= unknownPending {
		r.dropped++
		r.mu.Unlock()
		return
	}
	if len(r.seen) < refusalsRemembered && (!unknown || r.unknownSeen < unknownRemembered) {
		r.seen[seen] = struct{}{}
		if unknown {
			r.unknownSeen++
		}
	}
	if unknown {
		r.unknownQueued++
	}
	r.pending = append(r.pending, pendingRefusal{refusal: refusal, seen: seen})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run writes queued refusals as they come, until ctx ends.
func (r *refusalQueue) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
		if err := r.flush(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("record api key refusals in the audit log", "error", err)
		}
	}
}

// flush writes every queued refusal, after any write under way. A refusal that cannot be
// written is forgotten, so that the key's next refusal in the hour is queued again.
func (r *refusalQueue) flush(ctx context.Context) error {
	r.writing.Lock()
	defer r.writing.Unlock()
	r.mu.Lock()
	pending, dropped := r.pending, r.dropped
	r.pending, r.dropped, r.unknownQueued = nil, 0, 0
	r.mu.Unlock()
	if dropped > 0 {
		r.log.Warn("api key refusals not recorded in the audit log: too many at once", "refusals", dropped)
	}
	failed := 0
	var first error
	for _, p := range pending {
		if _, err := r.store.RecordKeyRefusal(ctx, p.refusal); err != nil {
			failed++
			if first == nil {
				first = err
			}
			r.mu.Lock()
			if _, remembered := r.seen[p.seen]; remembered {
				delete(r.seen, p.seen)
				if p.refusal.PublicID == "" {
					r.unknownSeen--
				}
			}
			r.mu.Unlock()
		}
	}
	if first != nil {
		return fmt.Errorf("keyauth: %d of %d api key refusals not recorded: %w", failed, len(pending), first)
	}
	return nil
}

// RefusedRequest is what the audit log records of a request whose key was refused: its route
// (method and pattern), when, and its client's address, user agent and request id.
type RefusedRequest struct {
	Route, Address, UserAgent, RequestID string
	At                                   time.Time
}

// RefusalOf returns the refusal that err carries when the audit log may record it (a key
// named, or a secret the store has just answered unknown), and nil otherwise: a caller builds
// the RefusedRequest only for those.
func RefusalOf(err error) *Refusal {
	refusal, _ := err.(*Refusal)
	return refusal
}

// NoteRefusal passes the refusal of a request on to the audit log, as the result the metrics
// counted, if it is the first of its key this hour, and counts a known key's refusal for its
// day, written with the requests (countRefused). It costs the request a lookup in memory.
func (v *Verifier) NoteRefusal(refusal *Refusal, result Result, req RefusedRequest) {
	r := models.KeyRefusal{Route: req.Route, At: req.At, Address: req.Address, UserAgent: req.UserAgent, RequestID: req.RequestID}
	var seen string
	switch {
	case refusal.key != nil:
		r.PublicID, r.Name = refusal.key.publicID, refusal.key.name
		switch result {
		case ResultExpired:
			r.Reason = models.RefusedExpired
		case ResultDisabled:
			r.Reason = models.RefusedDisabled
		case ResultWrongScope:
			r.Reason = models.RefusedWrongScope
		default:
			return
		}
		v.usage.countRefused(refusal.key.id, req.At)
		seen = r.PublicID
	case refusal.unknown:
		r.SecretHash = hex.EncodeToString(refusal.sum[:])
		seen = string(refusal.sum[:])
	default:
		return
	}
	v.refusals.note(r, seen)
}

// RunRefusalWriter records the API's refusals of keys in the audit log as they come, until ctx
// ends; FlushRefusals writes what is left.
func (v *Verifier) RunRefusalWriter(ctx context.Context) { v.refusals.run(ctx) }

// FlushRefusals records every refusal waiting to be, after those being written: at a stop, and
// for a test to see what a request queued.
func (v *Verifier) FlushRefusals(ctx context.Context) error { return v.refusals.flush(ctx) }
