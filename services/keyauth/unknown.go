package keyauth

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

const (
	// unknownKeyWindow is how long a well-formed secret the store did not know is answered
	// unknown from memory. A client that repeats one, at any rate, costs one lookup per
	// window; and a key that appears without any announcement this instance can hear (made
	// by another process on SQLite) is shadowed for no longer than this.
	unknownKeyWindow = 10 * time.Second
	// unknownKeysSize bounds how many unknown secrets are remembered: under 4 MB of memory when
	// full, with the 2Q cache's record of recently evicted hashes.
	unknownKeysSize = 10_000
)

// unknownKeys remembers, by SHA-256, the well-formed secrets that the store did not know, or
// knew as a disabled key's, so that a client repeating one costs no database lookup within
// unknownKeyWindow. This is safe because a secret carries 256 random bits: a key created later
// never has a remembered hash, except by being made with that very secret; and making a key,
// or enabling one, forgets its hashes (forget), on every instance through the store's
// announcement. It is a 2Q cache: a flood of distinct
// secrets, each seen once, passes through its queue of recent entries without evicting the
// secrets seen again, and it is apart from the cache of verified keys, which it cannot touch.
type unknownKeys struct {
	cache *lru.TwoQueueCache[[sha256.Size]byte, unknownKey]
	// mu orders remember against forget, so a hash forgotten while its lookup ran is not
	// remembered after it.
	mu sync.Mutex
	// forgets numbers the hashes forgotten, and recent holds the last of them, the one
	// numbered n at recent[n%len(recent)]. A lookup takes the number before it asks the store;
	// its answer is not remembered if its hash was forgotten since, when a key made meanwhile
	// may be what it did not see, nor if more were forgotten than recent can tell.
	forgets atomic.Uint64
	recent  [64][sha256.Size]byte
}

type unknownKey struct {
	// seenAt is when the store did not know the secret, in Unix nanoseconds.
	seenAt int64
	// result is why the secret was refused: ResultUnknown, or ResultDisabled for a disabled
	// key's, so that the metrics count its repeats as what they are.
	result Result
	// generation is the verifier's generation at the lookup: the entry answers only in it, so
	// nothing remembered before or while announcements could be missed answers after.
	generation uint64
	// refusal names a disabled key's refusal for the audit log; nil for an unknown secret.
	refusal *Refusal
}

// newUnknownKeys returns an empty memory of up to size unknown secrets.
func newUnknownKeys(size int) *unknownKeys {
	cache, err := lru.New2Q[[sha256.Size]byte, unknownKey](size)
	if err != nil {
		panic("keyauth: unknown keys: " + err.Error()) // only for a size below 1
	}
	return &unknownKeys{cache: cache}
}

// known tells whether the store refused sum within the window before now, in the given
// generation, and why (the result and refusal remember was given).
func (u *unknownKeys) known(sum [sha256.Size]byte, now time.Time, generation uint64) (Result, *Refusal, bool) {
	entry, ok := u.cache.Get(sum)
	if !ok || entry.generation != generation || now.UnixNano()-entry.seenAt >= int64(unknownKeyWindow) {
		return 0, nil, false
	}
	return entry.result, entry.refusal, true
}

// ticket is taken before a lookup, for remember.
func (u *unknownKeys) ticket() uint64 { return u.forgets.Load() }

// remember records that a lookup, begun with ticket, refused sum at now for result
// (ResultUnknown, or ResultDisabled with the key's refusal); unless sum was forgotten since the
// lookup began, or too many hashes were to tell.
func (u *unknownKeys) remember(sum [sha256.Size]byte, ticket uint64, now time.Time, generation uint64, result Result, refusal *Refusal) {
	u.mu.Lock()
	defer u.mu.Unlock()
	forgets := u.forgets.Load()
	if forgets-ticket > uint64(len(u.recent)) {
		return
	}
	for n := ticket; n < forgets; n++ {
		if u.recent[n%uint64(len(u.recent))] == sum {
			return
		}
	}
	u.cache.Add(sum, unknownKey{seenAt: now.UnixNano(), result: result, generation: generation, refusal: refusal})
}

// forget drops sum, and keeps lookups that were running from remembering it.
func (u *unknownKeys) forget(sum [sha256.Size]byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := u.forgets.Load()
	u.recent[n%uint64(len(u.recent))] = sum
	u.forgets.Store(n + 1)
	u.cache.Remove(sum)
}

func (u *unknownKeys) len() int { return u.cache.Len() }
