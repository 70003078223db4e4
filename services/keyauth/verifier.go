package keyauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"keysmith/metrics"
	"keysmith/models"
)

// keyCacheTTL bounds how long a verified key is trusted without asking the database. Each
// entry is trusted for its own span, drawn between half of it and all of it, so that keys
// cached together are not asked for again together: an instance that met a hundred thousand
// keys in its first minute would otherwise look them all up again within a minute, every
// five minutes (measured with bench/verify.sh on SQLite: verification fell to 0.24–0.39 of
// /healthz for about 40 s).
const keyCacheTTL = 5 * time.Minute

// refreshAhead is how long before its trust runs out a cached key in use is read again, in
// the background, while requests go on being answered from the cache: a key in steady use
// never makes a request wait for its lookup.
const refreshAhead = 30 * time.Second

// refreshBatch is how many cached keys one query reads again, and refreshGather how long
// the refresh waits for keys to gather before it reads fewer. With 100,000 keys in use about
// 500 a second come due; without the wait each query found the one or two queued while the
// last ran, and cost about 40 µs of CPU a key (perf, on SQLite), against 3.4 µs in batches of
// 256 (BenchmarkRefresh). A key waits a second of its 30 s refresh window at most.
// maxQueuedRefreshes bounds the keys waiting; past it a key in its refresh window is queued by
// a later request, or looked up by the request that finds its trust over.
const (
	refreshBatch       = 256
	refreshGather      = time.Second
	maxQueuedRefreshes = 10_000
)

// queuedRefresh is a cached key waiting to be read again, with the time and the cache's epoch
// of the request that queued it.
type queuedRefresh struct {
	sum   [sha256.Size]byte
	entry *Entry
	now   time.Time
	epoch uint64
}

// cacheLifetime draws an entry's span of trust: at least half of keyCacheTTL, at most all
// of it.
func cacheLifetime() int64 {
	return int64(keyCacheTTL/2) + rand.Int64N(int64(keyCacheTTL/2)+1)
}

// ErrKeyRefused covers every reason a presented key does not authenticate: missing, malformed,
// unknown, expired, deleted or disabled. Callers answer all of them alike.
var ErrKeyRefused = errors.New("keyauth: api key refused")

// errKeyDisabled is the lookup's answer for a disabled key's secret: refused, and never cached
// as verified, so that neither the cache nor stale-if-error can answer for it.
var errKeyDisabled = errors.New("keyauth: api key disabled")

// Verifier turns a presented secret into its key: format and checksum first (no database
// work for garbage), then SHA-256, then a bounded in-memory cache of verified keys, then the
// index of every secret hash the store holds (a secret it lacks is refused without a lookup),
// then a bounded memory of secrets the store did not know a few seconds ago, then the store,
// within its own deadline. Expiry is checked on every call. When the store cannot be asked, a key
// this instance vouched for within the stale window keeps verifying (stale-if-error). It also
// gathers each use in memory for batched last-use writes.
type Verifier struct {
	store   *models.Store
	log     *slog.Logger
	metrics *keyMetrics
	// lookupTimeout bounds the store lookup of a key that is not in the cache.
	lookupTimeout time.Duration
	// staleFor is how long after this instance last vouched for a key it still accepts it
	// while the store cannot be asked; zero never.
	staleFor time.Duration
	size     int

	mu sync.RWMutex
	// cache is keyed by the secret's SHA-256, raw rather than in hex, so a hit allocates
	// nothing for the key.
	cache map[[sha256.Size]byte]*Entry
	// unknown answers a repeated unknown secret without a lookup; like the cache, only while
	// trusted and in the generation it was filled in.
	unknown *unknownKeys
	// index refuses, without a lookup, every secret whose hash the store does not hold; it is
	// built by RunIndex, and answers only while complete and the cache is trusted.
	index secretIndex
	// indexWanted asks RunIndex for a rebuild: trust is restored after notices may have been
	// missed.
	indexWanted chan struct{}
	// vouchedUntil is when the cache stops being trusted unless the trust is renewed, in
	// nanoseconds since born (the monotonic clock): never on a single instance, the revocation
	// listener's lease on PostgreSQL, and 0 while revocations from other instances might be
	// missed. An untrusted cache answers only for stale-if-error.
	vouchedUntil atomic.Int64
	born         time.Time
	// generation moves whenever trust is lost or restored. An entry answers from the cache only
	// in the generation its key was read from the store in: a revocation announced while
	// nobody listened may concern it.
	generation atomic.Uint64
	// epoch moves on every eviction and change of trust, so a store lookup that raced with one
	// does not put a key back into the cache.
	epoch atomic.Uint64
	// storeDownUntil, when not 0, is until when the store is taken to be unreachable after a
	// lookup failed, in nanoseconds since born. Meanwhile keys that are not in the trusted
	// cache are answered at once, stale or 503, rather than each request waiting for the
	// lookup's deadline; one request each storeRetryInterval asks the store again.
	storeDownUntil atomic.Int64
	// storeAnsweredAt is when a lookup last had the store's answer, in nanoseconds since born.
	// A failed lookup takes the store for unreachable only if no lookup had an answer since it
	// began: one that waited out its deadline while others were answered met a busy pool, not
	// a database gone, and the requests after it should still ask.
	storeAnsweredAt atomic.Int64
	// refreshQueue holds the cached keys waiting to be read again, and refreshing tells
	// whether a goroutine is reading them; both under refreshMu.
	refreshMu    sync.Mutex
	refreshQueue []queuedRefresh
	refreshing   bool

	usage usageGatherer
	// refusals passes the first refusal of each key each hour on to the audit log.
	refusals *refusalQueue
}

// Entry is a verified key in the cache: what RequireKey and the API's handlers read of it.
type Entry struct {
	// What verification and the API's handlers read of the key, and nothing else, so that a
	// hundred thousand cached keys stay small (BenchmarkCacheMemory): 112 bytes, the summary's
	// JSON and a day's count. The public id and the scope are the summary's, and the name is
	// read from the summary's JSON (keyName). The entry is shared by every request that
	// presents the key and never changed after it is cached, but for its atomics.
	id int64
	// expiresAt is when the key stops working, in Unix microseconds (the databases' precision;
	// nanoseconds overflow after 2262, and keys may expire as late as models.LatestExpiry);
	// 0 for never.
	expiresAt int64
	// trustedUntil is when the entry stops answering without the store, in Unix nanoseconds:
	// when it was read plus its cacheLifetime. A refresh that finds the key unchanged moves it
	// on in place.
	trustedUntil atomic.Int64
	// requests counts the key's requests of its latest day, until a flush takes them.
	requests atomic.Pointer[dayCount]
	// lastUse is the key's use last gathered, so that repeats skip the lock: the fingerprint
	// of its client and address (useFingerprint) in the high 32 bits, its second (Unix time)
	// in the low 32. lastUseWritten is the second of the last use by that client and address
	// that was written; 0 for none yet.
	lastUse        atomic.Uint64
	lastUseWritten atomic.Uint32
	// generation is the verifier's generation when the key was read from the store, cut to 32
	// bits: it moves when trust is lost or restored, and would wrap after four billion times.
	generation uint32
	// vouchedAt is the last second (Unix time, to 2106) this instance knew the key valid: read
	// from the store, or answered from a trusted cache. Stale-if-error counts from it.
	vouchedAt atomic.Uint32
	// previous marks the entry of a rotated key's previous secret, whose expiresAt is the end
	// of its grace as the store's recorded uses stood when read (models.APIKey.PreviousEndsAt).
	previous bool
	// nameEscaped tells that JSON escaped the key's name, which keyName then decodes.
	nameEscaped bool
	// refreshing is set by the request that starts the entry's background refresh.
	refreshing atomic.Bool
	// summary is made once per cached key, not on every request that shows it.
	summary Summary
}

// scopeHeaders holds each scope as an http.Header value, shared by every summary of its scope:
// read, never changed.
var scopeHeaders = func() map[models.Scope]*[1]string {
	headers := make(map[models.Scope]*[1]string, len(models.Scopes))
	for _, scope := range models.Scopes {
		headers[scope] = &[1]string{string(scope)}
	}
	return headers
}()

// newEntry makes the cache entry of a key read from the store, for its current secret or,
// with previous, for its previous one.
func newEntry(key *models.APIKey, now time.Time, generation uint64, previous bool) (*Entry, error) {
	scope, ok := scopeHeaders[key.Scope]
	if !ok {
		return nil, fmt.Errorf("keyauth: api key %s has an unknown scope %q", key.PublicID, key.Scope)
	}
	entry := &Entry{id: key.ID, generation: uint32(generation), previous: previous}
	entry.trustedUntil.Store(now.UnixNano() + cacheLifetime())
	switch {
	case previous:
		// The end of the grace comes no later than the old expiry, and is checked the same way.
		entry.expiresAt = key.PreviousEndsAt().UnixMicro()
	case key.ExpiresAt != nil:
		entry.expiresAt = key.ExpiresAt.UnixMicro()
	}
	name, err := json.Marshal(key.Name)
	if err != nil {
		return nil, err
	}
	// {"id":"ak_…","name":…,"scope":"…"}, in one allocation that the public id and the name
	// are read from: two allocations and a string fewer per cached key. A public id is
	// letters, digits and "_", which JSON writes as they are.
	body := make([]byte, 0, len(summaryOpen)+len(key.PublicID)+len(summaryName)+len(name)+len(summaryScope)+len(key.Scope)+len(summaryEnd))
	body = append(body, summaryOpen...)
	body = append(body, key.PublicID...)
	body = append(body, summaryName...)
	body = append(body, name...)
	body = append(body, summaryScope...)
	body = append(body, key.Scope...)
	body = append(body, summaryEnd...)
	entry.summary = Summary{JSON: body, id: [1]string{bytesString(body[len(summaryOpen) : len(summaryOpen)+len(key.PublicID)])}, scope: scope}
	entry.nameEscaped = len(name) != len(key.Name)+2 || string(name[1:len(name)-1]) != key.Name
	return entry, nil
}

// The parts of a summary's JSON around the public id, the name (a JSON string) and the scope.
const summaryOpen, summaryName, summaryScope, summaryEnd = `{"id":"`, `","name":`, `,"scope":"`, `"}`

// keyName is the key's name, read from the summary's JSON: as it is there unless JSON escaped
// it, which is decoded (a name with <, > or &, say).
func (e *Entry) keyName() string {
	body := e.summary.JSON
	quoted := body[len(summaryOpen)+len(e.publicID())+len(summaryName) : len(body)-len(summaryScope)-len(e.summary.scope[0])-len(summaryEnd)]
	if !e.nameEscaped {
		return bytesString(quoted[1 : len(quoted)-1])
	}
	var name string
	if err := json.Unmarshal(quoted, &name); err != nil {
		panic("keyauth: a cached key's summary holds no JSON string: " + err.Error()) // made by newEntry
	}
	return name
}

// bytesString views b as a string without copying it. b must never change afterwards: the
// summaries' JSON, which every entry shares read-only with the requests that present its key,
// never does.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// Summary is what the key may tell about itself, made once per cached key: read it, never
// change it.
func (e *Entry) Summary() *Summary { return &e.summary }

func (e *Entry) publicID() string { return e.summary.id[0] }

// Scope is the key's scope, which the route's admitted scopes are checked against.
func (e *Entry) Scope() models.Scope { return models.Scope(e.summary.scope[0]) }

// APIKey is the key as the models know it, made for a handler that asks for it.
func (e *Entry) APIKey() *models.APIKey {
	key := &models.APIKey{ID: e.id, PublicID: e.publicID(), Name: e.keyName(), Scope: e.Scope()}
	if e.expiresAt != 0 {
		expiresAt := time.UnixMicro(e.expiresAt).UTC()
		key.ExpiresAt = &expiresAt
	}
	return key
}

// expired tells whether the key no longer authenticates at now.
func (e *Entry) expired(now time.Time) bool {
	return e.expiresAt != 0 && e.expiresAt <= now.UnixMicro()
}

// graceOver tells whether the entry is a previous secret whose grace, as last read, is over
// at now. The store then decides: another instance's recorded use may have prolonged an
// until-unused grace; otherwise the grace is ended for every instance.
func (e *Entry) graceOver(now time.Time) bool {
	return e.previous && e.expired(now)
}

// holds tells whether e, an entry of a key's current secret, holds what the store now says of
// key: its public id, name, scope and expiry.
func (e *Entry) holds(key *models.APIKey) bool {
	expiresAt := int64(0)
	if key.ExpiresAt != nil {
		expiresAt = key.ExpiresAt.UnixMicro()
	}
	return !e.previous && e.publicID() == key.PublicID && e.keyName() == key.Name && e.Scope() == key.Scope && e.expiresAt == expiresAt
}

// inherit carries the last use and the day's count of old, the entry of the same secret read
// before, over to e, which replaces it: so that the use is not written again, nor the count
// started again, each time the key is read again.
func (e *Entry) inherit(old *Entry) {
	e.lastUse.Store(old.lastUse.Load())
	e.lastUseWritten.Store(old.lastUseWritten.Load())
	e.requests.Store(old.requests.Load())
}

// vouch records that the key was known valid at now; it writes at most once a second, so
// that requests sharing the key do not contend for its cache line.
func (e *Entry) vouch(now time.Time) {
	if second := uint32(now.Unix()); e.vouchedAt.Load() != second {
		e.vouchedAt.Store(second)
	}
}

// Summary is what a key that authenticated may tell about itself: its public id, name and
// scope, as a JSON object and as header values. It is shared: read it, never change it.
type Summary struct {
	JSON []byte // {"id":…,"name":…,"scope":…}
	// id is the public id as a header value, an array so that it is no allocation of its own;
	// scope is the scope's, shared by every summary of the scope (scopeHeaders).
	id    [1]string
	scope *[1]string
}

// IDHeader is the public id, as an http.Header value.
func (s *Summary) IDHeader() []string { return s.id[:] }

// ScopeHeader is the scope, as an http.Header value.
func (s *Summary) ScopeHeader() []string { return s.scope[:] }

// StaleJSON is JSON with "stale": true added, for an answer given while the database could
// not be asked. It is made when asked for: outages are rare, memory per cached key is not.
func (s *Summary) StaleJSON() []byte {
	body := make([]byte, 0, len(s.JSON)+len(`,"stale":true`))
	body = append(body, s.JSON[:len(s.JSON)-1]...)
	return append(body, `,"stale":true}`...)
}

// New returns a verifier over store whose cache is trusted from the start; on
// PostgreSQL, cluster.Instance.Listen makes trust depend on the listening connection. It
// keeps up to size keys, looks each missing one up within lookupTimeout, and accepts keys it
// vouched for within staleFor while the store cannot be asked.
func New(store *models.Store, log *slog.Logger, registry *metrics.Registry, size int, lookupTimeout, staleFor time.Duration) *Verifier {
	v := &Verifier{
		store: store, log: log, metrics: newKeyMetrics(registry),
		lookupTimeout: lookupTimeout, staleFor: staleFor, size: size,
		cache: map[[sha256.Size]byte]*Entry{}, unknown: newUnknownKeys(unknownKeysSize), born: time.Now(),
		indexWanted: make(chan struct{}, 1),
		refusals:    newRefusalQueue(store, log),
	}
	v.usage.init(v.metrics)
	v.vouchedUntil.Store(math.MaxInt64)
	store.OnKeyNotice(v.Apply)
	registry.GaugeFunc("keysmith_revocation_listener_up", "1 while the revocation listener vouches for the key cache (always on SQLite), 0 while every key is checked against the database.", func() float64 {
		if v.Trusted() {
			return 1
		}
		return 0
	})
	registry.GaugeFunc("keysmith_key_cache_entries", "Verified keys held in this instance's cache.", func() float64 {
		return float64(v.CacheSize())
	})
	registry.GaugeFunc("keysmith_key_negative_cache_entries", "Unknown keys this instance remembers, so that their repeats cost no database lookup.", func() float64 {
		return float64(v.unknown.len())
	})
	registry.GaugeFunc("keysmith_key_index_entries", "Secret hashes in this instance's index of those the database holds (current, previous and retired secrets), by which unknown keys are refused without a database lookup.", func() float64 {
		return float64(v.index.len())
	})
	registry.GaugeFunc("keysmith_key_index_complete", "1 while the index of secret hashes holds every one the database holds and refuses unknown keys; 0 while it is built, or after notices may have been missed, when unknown keys are looked up.", func() float64 {
		if v.index.complete.Load() {
			return 1
		}
		return 0
	})
	registry.GaugeFunc("keysmith_key_uses_pending", "Key uses gathered in memory and not yet written.", func() float64 {
		return float64(v.usage.pending())
	})
	return v
}

// CacheSize is how many verified keys the cache holds, for the metrics and the instances page.
func (v *Verifier) CacheSize() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.cache)
}

// storeRetryInterval is how often, while the store is taken to be unreachable, a request
// asks it again rather than being answered stale at once.
const storeRetryInterval = time.Second

// storeKnownDown tells whether the store is taken to be unreachable. Once the retry interval
// has passed, exactly one caller is told false, and so asks the store; the others are told true
// for another interval.
func (v *Verifier) storeKnownDown() bool {
	until := v.storeDownUntil.Load()
	if until == 0 {
		return false
	}
	elapsed := int64(time.Since(v.born))
	if elapsed < until {
		return true
	}
	return !v.storeDownUntil.CompareAndSwap(until, elapsed+int64(storeRetryInterval))
}

// Trusted tells whether the cache may answer now: the revocation listener vouches for it.
func (v *Verifier) Trusted() bool {
	return int64(time.Since(v.born)) < v.vouchedUntil.Load()
}

// Verify returns the live key for secret; ErrKeyRefused when it does not authenticate; an
// error for which models.Unavailable is true when the store could not be asked and the key
// could not be vouched for. The key may be shared with other requests through the cache:
// read it, never change it.
func (v *Verifier) Verify(ctx context.Context, secret string) (*models.APIKey, error) {
	entry, _, err := v.Check(ctx, secret)
	if err != nil {
		return nil, err
	}
	return entry.APIKey(), nil
}

// Check is Verify returning the cache entry, which also carries the key's summary, and the
// result the metrics count: ResultOK or ResultStale with an entry, or the reason for the error.
// A refusal that the audit log may record is a *Refusal, which names the key or the secret.
func (v *Verifier) Check(ctx context.Context, secret string) (*Entry, Result, error) {
	if models.ParseSecret(secret) != nil {
		return nil, ResultMalformed, ErrKeyRefused
	}
	sum := secretSum(secret)
	now := v.store.Now()
	epoch := v.epoch.Load()
	generation := v.generation.Load()
	v.mu.RLock()
	entry := v.cache[sum]
	v.mu.RUnlock()
	if entry != nil && entry.generation == uint32(generation) && v.Trusted() && now.UnixNano() < entry.trustedUntil.Load() && !entry.graceOver(now) {
		v.metrics.cacheHits.Inc()
		if now.UnixNano() >= entry.trustedUntil.Load()-int64(refreshAhead) && !entry.previous && entry.refreshing.CompareAndSwap(false, true) {
			v.refreshLater(sum, entry, now, epoch)
		}
		return checkEntry(entry, now, ResultOK)
	}
	if v.Trusted() && v.index.lacks(&sum) {
		// No secret the store holds, nor any it retired, has this hash: nothing to look up,
		// and no key for the audit log to name.
		v.metrics.indexRefusals.Inc()
		return nil, ResultUnknown, ErrKeyRefused
	}
	staleAllowed := entry != nil && v.staleFor > 0 && now.Sub(time.Unix(int64(entry.vouchedAt.Load()), 0)) < v.staleFor
	if v.storeKnownDown() {
		if staleAllowed {
			return checkEntry(entry, now, ResultStale)
		}
		return nil, ResultUnavailable, fmt.Errorf("keyauth: verify api key: %w", models.ErrUnavailable)
	}
	if v.Trusted() {
		if result, refusal, known := v.unknown.known(sum, now, generation); known {
			v.metrics.negativeCacheHits.Inc()
			if refusal != nil {
				return nil, result, refusal
			}
			return nil, result, ErrKeyRefused
		}
	}
	ticket := v.unknown.ticket()
	v.metrics.cacheMisses.Inc()
	asked := int64(time.Since(v.born))
	fresh, err := v.lookup(ctx, sum, now, generation)
	switch {
	case err == nil || errors.Is(err, models.ErrAPIKeyNotFound) || errors.Is(err, errKeyDisabled):
		v.storeAnsweredAt.Store(int64(time.Since(v.born)))
		if v.storeDownUntil.Load() != 0 {
			v.storeDownUntil.Store(0)
		}
	case models.Unavailable(err) && ctx.Err() == nil:
		if v.storeAnsweredAt.Load() < asked {
			v.storeDownUntil.Store(int64(time.Since(v.born) + storeRetryInterval))
		}
		if staleAllowed || (entry != nil && entry.expired(now)) {
			// Checked from what this instance holds: the key must not have expired since.
			return checkEntry(entry, now, ResultStale)
		}
		return nil, ResultUnavailable, err
	default:
		return nil, ResultError, err
	}
	if err != nil {
		// What this instance held for the secret goes, stale entry included: the store has
		// answered that it no longer authenticates.
		if entry != nil {
			v.Evict(hex.EncodeToString(sum[:]))
		}
		// The store's answer is the audit log's to record: a disabled key's, or a secret it
		// does not know, which may be a deleted key's. Repeats answered from memory name a
		// disabled key only.
		var disabled *disabledKeyError
		if errors.As(err, &disabled) {
			refusal := &Refusal{key: disabled.key}
			v.unknown.remember(sum, ticket, now, generation, ResultDisabled, refusal)
			return nil, ResultDisabled, refusal
		}
		v.unknown.remember(sum, ticket, now, generation, ResultUnknown, nil)
		return nil, ResultUnknown, &Refusal{unknown: true, sum: sum}
	}
	v.mu.Lock()
	if v.epoch.Load() == epoch {
		old, replacing := v.cache[sum]
		switch {
		case replacing && old.id == fresh.id && old.previous == fresh.previous:
			fresh.inherit(old)
		case !replacing && len(v.cache) >= v.size:
			for evict := range v.cache {
				delete(v.cache, evict)
				break
			}
		}
		v.cache[sum] = fresh
	}
	v.mu.Unlock()
	return checkEntry(fresh, now, ResultOK)
}

// refreshLater queues entry's key to be read again in the background, as of now and of the
// cache's epoch then. When the store is taken to be unreachable, or maxQueuedRefreshes wait
// already, it does not, and a later request in the entry's refresh window tries again.
func (v *Verifier) refreshLater(sum [sha256.Size]byte, entry *Entry, now time.Time, epoch uint64) {
	if v.storeKnownDown() {
		entry.refreshing.Store(false)
		return
	}
	v.refreshMu.Lock()
	if len(v.refreshQueue) >= maxQueuedRefreshes {
		v.refreshMu.Unlock()
		entry.refreshing.Store(false)
		return
	}
	v.refreshQueue = append(v.refreshQueue, queuedRefresh{sum: sum, entry: entry, now: now, epoch: epoch})
	start := !v.refreshing
	v.refreshing = true
	v.refreshMu.Unlock()
	if start {
		go v.refreshQueued()
	}
}

// refreshQueued reads the queued keys again, refreshBatch at a time, until none wait. Unless
// a whole batch waits, it lets refreshGather pass first, for more to gather.
func (v *Verifier) refreshQueued() {
	for {
		v.refreshMu.Lock()
		full := len(v.refreshQueue) >= refreshBatch
		v.refreshMu.Unlock()
		if !full {
			time.Sleep(refreshGather)
		}
		v.refreshMu.Lock()
		batch := v.refreshQueue
		if len(batch) > refreshBatch {
			batch, v.refreshQueue = batch[:refreshBatch], batch[refreshBatch:]
		} else {
			v.refreshQueue = nil
		}
		if len(batch) == 0 {
			v.refreshing = false
			v.refreshMu.Unlock()
			return
		}
		v.refreshMu.Unlock()
		v.refresh(batch)
	}
}

// refresh reads the keys of a batch of entries from the store in one query, unless the cache
// has changed since the entry was queued: an eviction, a change of trust or another lookup
// decides then. A key read as its entry holds it, as nearly every key is, is trusted for a
// new span in place: nothing is allocated or written to the cache's map, and requests go on
// reading the same entry. A key changed behind the cache's back gets a new entry, as a
// request's lookup would make it; one the store no longer vouches for with that secret
// (deleted, disabled or rotated) is evicted, and its next request goes to the store. When the
// store cannot be asked the entries stay, and their trust runs out as it would have.
func (v *Verifier) refresh(batch []queuedRefresh) {
	ids := make([]int64, len(batch))
	for i, r := range batch {
		ids[i] = r.entry.id
	}
	ctx, cancel := context.WithTimeout(context.Background(), v.lookupTimeout)
	defer cancel()
	keys, err := v.store.APIKeysByID(ctx, ids)
	if err != nil {
		return
	}
	byID := make(map[int64]*models.APIKey, len(keys))
	for i := range keys {
		byID[keys[i].ID] = &keys[i]
	}
	// fresh holds a new entry for a key that changed, and the queued one for a key that did
	// not; nil for one to leave as it is.
	fresh := make([]*Entry, len(batch))
	var gone []string
	for i, r := range batch {
		hash := hex.EncodeToString(r.sum[:])
		key := byID[r.entry.id]
		if key == nil || key.SecretHash != hash {
			gone = append(gone, hash)
			continue
		}
		entry := r.entry
		if key.DisabledAt != nil || !entry.holds(key) {
			entry, err = v.entryOf(ctx, key, hash, r.now, uint64(r.entry.generation))
		} else {
			err = v.noteScannerOf(ctx, key)
		}
		if errors.Is(err, errKeyDisabled) {
			gone = append(gone, hash)
		}
		if err != nil {
			continue
		}
		fresh[i] = entry
	}
	// The entries read again are trusted anew, or take their places, before any eviction
	// moves the epoch.
	v.mu.Lock()
	for i, r := range batch {
		entry := fresh[i]
		if entry == nil || v.epoch.Load() != r.epoch || v.cache[r.sum] != r.entry {
			continue
		}
		if entry == r.entry {
			entry.trustedUntil.Store(r.now.UnixNano() + cacheLifetime())
			entry.refreshing.Store(false)
		} else {
			entry.inherit(r.entry)
			v.cache[r.sum] = entry
		}
		if !entry.expired(r.now) {
			entry.vouch(r.now)
		}
		v.metrics.cacheRefreshes.Inc()
	}
	v.mu.Unlock()
	for _, hash := range gone {
		v.Evict(hash)
	}
}

// lookup reads the key whose current or previous secret hashes to sum from the store, within
// the verifier's deadline, and makes its cache entry; a *disabledKeyError (errKeyDisabled) for
// a disabled key. A previous secret whose grace is over at now is ended, for every instance,
// by whichever instance notices first: that is answered ErrAPIKeyNotFound, as the secret is
// from then on.
func (v *Verifier) lookup(ctx context.Context, sum [sha256.Size]byte, now time.Time, generation uint64) (*Entry, error) {
	ctx, cancel := context.WithTimeout(ctx, v.lookupTimeout)
	defer cancel()
	hash := hex.EncodeToString(sum[:])
	key, err := v.store.APIKeyBySecretHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	if key.SecretHash != hash && !now.Before(key.PreviousEndsAt()) {
		ended, err := v.store.EndGrace(ctx, key.ID, hash)
		if err != nil || ended {
			if err != nil {
				// Over as read: refused all the same; the next use, or the sweep, ends it.
				v.log.Warn("end the grace of a previous secret", "key_id", key.PublicID, "error", err)
			}
			return nil, models.ErrAPIKeyNotFound
		}
		// A use recorded since the read prolonged the grace, or another instance ended it.
		if key, err = v.store.APIKeyBySecretHash(ctx, hash); err != nil {
			return nil, err
		}
	}
	return v.entryOf(ctx, key, hash, now, generation)
}

// entryOf makes the cache entry of key, read from the store for the secret whose SHA-256 is
// hash (its current or its previous secret); a *disabledKeyError (errKeyDisabled) for a
// disabled key. For a Scanner key it notes the scanner's name, which another instance, or this
// one before a restart, may have seen check in.
func (v *Verifier) entryOf(ctx context.Context, key *models.APIKey, hash string, now time.Time, generation uint64) (*Entry, error) {
	if key.DisabledAt != nil {
		return nil, &disabledKeyError{key: &refusedKey{id: key.ID, publicID: key.PublicID, name: key.Name}}
	}
	if err := v.noteScannerOf(ctx, key); err != nil {
		return nil, err
	}
	return newEntry(key, now, generation, key.SecretHash != hash)
}

// noteScannerOf notes the scanner name a Scanner key checked in with, as read from the store.
func (v *Verifier) noteScannerOf(ctx context.Context, key *models.APIKey) error {
	if key.Scope != models.ScopeScanner {
		return nil
	}
	name, err := v.store.ScannerNameForKey(ctx, key.ID)
	if err != nil {
		return err
	}
	if name != "" {
		v.NoteScanner(key.ID, name)
	}
	return nil
}

// checkEntry checks expiry at now (the cache and the store found the entry by the full hash of
// the presented secret); a key that passes is vouched for at now unless the answer is stale.
// The entry it returns may be the cached one, shared with other requests: read it, never
// change it.
func checkEntry(entry *Entry, now time.Time, result Result) (*Entry, Result, error) {
	if entry.expired(now) {
		return nil, ResultExpired, entry.Refused()
	}
	if result == ResultOK {
		entry.vouch(now)
	}
	return entry, result, nil
}

// secretSum is the SHA-256 of a well-formed secret: models.HashSecret before hex encoding,
// computed without allocating.
func secretSum(secret string) [sha256.Size]byte {
	var buf [models.SecretLength]byte
	return sha256.Sum256(buf[:copy(buf[:], secret)])
}

// decodeHash reads a hex SHA-256 as stored in the database; false if it is not one.
func decodeHash(sum *[sha256.Size]byte, secretHash string) bool {
	if len(secretHash) != 2*sha256.Size {
		return false
	}
	_, err := hex.Decode(sum[:], []byte(secretHash))
	return err == nil
}

// Evict forgets a key on this instance, so its next use goes to the database and it can never
// be accepted from memory again.
func (v *Verifier) Evict(secretHash string) {
	var sum [sha256.Size]byte
	known := decodeHash(&sum, secretHash)
	v.mu.Lock()
	entry, cached := v.cache[sum]
	if known {
		delete(v.cache, sum)
	}
	v.epoch.Add(1)
	v.mu.Unlock()
	if known && cached {
		// What this instance remembers of the key's uses goes with it.
		v.usage.forget(entry.id)
	}
}

// forgetUnknown forgets that the secret hashing to secretHash was unknown, so that its next use
// asks the store: for a secret that has just begun to authenticate, which must never be
// answered unknown from memory.
func (v *Verifier) forgetUnknown(secretHash string) {
	var sum [sha256.Size]byte
	if decodeHash(&sum, secretHash) {
		v.unknown.forget(sum)
	}
}

// Apply makes this instance hold nothing wrong about the secret hashes a notice names. A
// notice that revokes them drops their verified entries (stale ones with them) and what is
// remembered of the key's uses; one that begins their validity forgets that they were unknown.
// The next use asks the store. Neither needs the other's step: a key is cached only while it
// authenticates, and a revoked secret answered unknown is answered rightly. The store calls
// apply for this instance's own changes (models.Store.OnKeyNotice), and the revocation
// listener for every instance's on PostgreSQL, this one's included.
func (v *Verifier) Apply(notice models.KeyNotice) {
	// Revoked or not, a hash a notice names is one the store holds: a secret that works, or a
	// tombstone that names its key.
	v.index.add(notice.Hashes)
	for _, hash := range notice.Hashes {
		if notice.Revoked {
			v.Evict(hash)
		} else {
			v.forgetUnknown(hash)
		}
	}
	if notice.Revoked {
		v.usage.forget(notice.KeyID)
	}
}

// Distrust stops the cache answering until trust is restored, for while revocations from
// other instances could be missed. The entries stay, for stale-if-error only: each is read
// from the store again before the cache answers for it.
func (v *Verifier) Distrust() {
	v.index.invalidate()
	v.mu.Lock()
	v.vouchedUntil.Store(0)
	v.generation.Add(1)
	v.epoch.Add(1)
	v.mu.Unlock()
}

// RestoreTrust trusts the cache again, until the given time, for keys read from the store
// from now on. It moves the generation, so that no entry read while revocations could be
// missed answers from the cache before it is read again.
func (v *Verifier) RestoreTrust(until time.Time) {
	v.mu.Lock()
	v.vouchedUntil.Store(int64(until.Sub(v.born)))
	v.generation.Add(1)
	v.epoch.Add(1)
	v.mu.Unlock()
	// Secrets that began to work while nobody listened are in no notice heard.
	select {
	case v.indexWanted <- struct{}{}:
	default:
	}
}

// VouchUntil extends the trust in the cache to the given time, when every revocation
// announced before it has been applied.
func (v *Verifier) VouchUntil(until time.Time) {
	v.vouchedUntil.Store(int64(until.Sub(v.born)))
}

// NoteScanner remembers the scanner name a key checked in with, so its later uses are shown
// under that name rather than its User-Agent.
func (v *Verifier) NoteScanner(keyID int64, name string) {
	v.usage.scanners.Store(keyID, name)
}
