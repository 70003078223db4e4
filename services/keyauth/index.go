package keyauth

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"keysmith/models"
)

const (
	// indexRebuildInterval is how often the index is read again from the store, which drops the
	// tombstones pruned since (after models.KeyTombstonesKept).
	indexRebuildInterval = time.Hour
	// indexRetryMin and indexRetryMax bound the wait before a failed build is tried again,
	// doubling from one to the other.
	indexRetryMin = time.Second
	indexRetryMax = 30 * time.Second
)

// secretIndex is this instance's index of every secret hash the store holds: each key's
// current secret, each previous secret in its grace, and each tombstone. A well-formed secret
// whose hash it lacks cannot authenticate, nor name a key for the audit log, so it is refused
// without a query: the checksum is public, and anyone can make such secrets by the million.
//
// It holds the first 8 bytes of each SHA-256, a uint64 the size of a pointer: about 2 MB for
// 100,000 keys with a previous secret and a tombstone each, against 64 bytes of hex per hash
// as the store holds them. Two hashes sharing a prefix only cost the one presented a lookup;
// that a random secret matches one of a million prefixes is a chance of 1 in 2^44.
//
// It only ever grows between rebuilds: every key notice adds its hashes (a secret that begins
// to work, or one that stops and becomes a tombstone), and nothing is removed but by a rebuild
// (rebuild), which reads the store again and drops the tombstones pruned since. A prefix too
// many costs a lookup; a prefix missing would refuse a working key, so the index answers only
// while it is complete: from the end of a rebuild begun while every notice was heard, until
// notices may be missed (invalidate).
type secretIndex struct {
	// rebuilding lets one rebuild run at a time: each gathers the prefixes announced while it
	// reads.
	rebuilding sync.Mutex
	mu         sync.RWMutex
	// hashes holds the prefixes; nil until the first rebuild ends.
	hashes map[uint64]struct{}
	// building, while a rebuild reads the store, receives the prefixes announced meanwhile,
	// which the store's answer may not hold.
	building map[uint64]struct{}
	// epoch moves when notices may have been missed, so that a rebuild begun before does not
	// make the index complete.
	epoch uint64
	// complete tells whether hashes holds every hash the store holds; read on every lookup
	// without the lock.
	complete atomic.Bool
}

// prefix is the index's key for a secret's SHA-256.
func prefix(sum *[sha256.Size]byte) uint64 { return binary.BigEndian.Uint64(sum[:8]) }

// hexPrefix reads the index's key from a SHA-256 in hex; false when it is not hex.
func hexPrefix(hash []byte) (uint64, bool) {
	var raw [8]byte
	if len(hash) != 2*sha256.Size {
		return 0, false
	}
	if _, err := hex.Decode(raw[:], hash[:16]); err != nil {
		return 0, false
	}
	return binary.BigEndian.Uint64(raw[:]), true
}

// lacks tells whether the index is complete and holds no hash with sum's prefix: the secret is
// then none the store knows.
func (x *secretIndex) lacks(sum *[sha256.Size]byte) bool {
	if !x.complete.Load() {
		return false
	}
	x.mu.RLock()
	_, held := x.hashes[prefix(sum)]
	x.mu.RUnlock()
	return !held
}

// add puts the hashes a key notice names into the index, and into the one being built.
func (x *secretIndex) add(hashes []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, hash := range hashes {
		p, ok := hexPrefix([]byte(hash))
		if !ok {
			continue
		}
		if x.hashes != nil {
			x.hashes[p] = struct{}{}
		}
		if x.building != nil {
			x.building[p] = struct{}{}
		}
	}
}

// invalidate stops the index answering until the next rebuild: notices may be missed from now
// on, and a secret that began to work elsewhere would be refused.
func (x *secretIndex) invalidate() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.complete.Store(false)
	x.epoch++
	x.building = nil
}

// rebuild reads every secret hash the store holds (models.Store.ForEachSecretHash) and makes
// the index of them, with those announced while it read, complete; unless notices may have
// been missed since it began (invalidate), or the store could not be read. The caller hears
// every notice from before the call on, so that every hash is either in the store's answer or
// announced during the read.
func (x *secretIndex) rebuild(ctx context.Context, read func(context.Context, func([]byte)) error) error {
	x.rebuilding.Lock()
	defer x.rebuilding.Unlock()
	x.mu.Lock()
	epoch := x.epoch
	x.building = map[uint64]struct{}{}
	x.mu.Unlock()
	// Sized for the hashes the index held, so that a rebuild does not grow the map step by step.
	x.mu.RLock()
	fresh := make(map[uint64]struct{}, len(x.hashes))
	x.mu.RUnlock()
	err := read(ctx, func(hash []byte) {
		if p, ok := hexPrefix(hash); ok {
			fresh[p] = struct{}{}
		}
	})
	x.mu.Lock()
	defer x.mu.Unlock()
	if err != nil || x.epoch != epoch {
		if x.epoch == epoch {
			x.building = nil
		}
		return err
	}
	for p := range x.building {
		fresh[p] = struct{}{}
	}
	x.hashes, x.building = fresh, nil
	x.complete.Store(true)
	return nil
}

// len is how many prefixes the index holds.
func (x *secretIndex) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.hashes)
}

// RunIndex builds the index of secret hashes at once, again whenever trust in the cache is
// restored after notices may have been missed (the revocation listener reconnected), and every
// indexRebuildInterval, until ctx ends. A build that fails is tried again, waiting longer each
// time; until one succeeds, unknown keys are looked up in the store, as they were before the
// index. It must start after the revocation listener (cluster.Instance.Listen), so that every
// notice from the start of a build on is heard.
func (v *Verifier) RunIndex(ctx context.Context) {
	retry := indexRetryMin
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-v.indexWanted:
			timer.Stop()
		}
		// One build answers every request made before it begins.
		select {
		case <-v.indexWanted:
		default:
		}
		next := indexRebuildInterval
		if err := v.rebuildIndex(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			v.log.Warn("index of secret hashes not built: unknown keys are looked up in the database meanwhile", "error", err, "retry_in", retry.String())
			next, retry = retry, min(2*retry, indexRetryMax)
		} else {
			retry = indexRetryMin
		}
		timer.Reset(next)
	}
}

// IndexComplete tells whether the index of secret hashes is complete, and so refuses unknown
// keys without a lookup: from its first build on, but while notices may have been missed.
func (v *Verifier) IndexComplete() bool { return v.index.complete.Load() }

// Indexes tells whether a use of secret would be looked up in the store rather than refused
// from the index of secret hashes: the index holds its hash, or is not complete. A secret made
// through another instance is indexed once this instance hears its notice; tests wait for it.
func (v *Verifier) Indexes(secret string) bool {
	if models.ParseSecret(secret) != nil {
		return false
	}
	sum := secretSum(secret)
	return !v.index.lacks(&sum)
}

// rebuildIndex reads the index of secret hashes from the store again, and logs the first
// build that makes it complete.
func (v *Verifier) rebuildIndex(ctx context.Context) error {
	first := v.index.len() == 0 && !v.index.complete.Load()
	began := time.Now()
	if err := v.index.rebuild(ctx, v.store.ForEachSecretHash); err != nil {
		return err
	}
	if first && v.index.complete.Load() {
		v.log.Info("index of secret hashes built: unknown keys are refused without a database lookup", "hashes", v.index.len(), "took", time.Since(began).Round(time.Millisecond).String())
	}
	return nil
}
