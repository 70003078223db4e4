package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"keysmith/models"
)

const (
	// keyCacheSize bounds the verified-key cache; past it, an arbitrary entry makes room.
	keyCacheSize = 10_000
	// keyCacheTTL bounds how long a verified key is trusted without asking the database.
	keyCacheTTL = 5 * time.Minute
	// usageFlushInterval is how often gathered key uses are written, in one batch.
	usageFlushInterval = 2 * time.Second
)

// ErrKeyRefused covers every reason a presented key does not authenticate: missing, malformed,
// unknown, expired or deleted. Callers answer all of them alike.
var ErrKeyRefused = errors.New("web: api key refused")

// KeyVerifier turns a presented secret into its key: format and checksum first (no database
// work for garbage), then SHA-256, then a bounded in-memory cache of verified keys, then the
// store. Expiry is checked on every call. It also gathers each use in memory for batched
// last-use writes.
type KeyVerifier struct {
	store *models.Store
	log   *slog.Logger

	mu sync.RWMutex
	// cache is keyed by the secret's SHA-256, raw rather than in hex, so a hit allocates
	// nothing for the key.
	cache map[[sha256.Size]byte]*cachedKey
	// vouchedUntil is when the cache stops being trusted unless the trust is renewed, in
	// nanoseconds since born (the monotonic clock): never on a single instance, the revocation
	// listener's lease on PostgreSQL, and 0 while revocations from other instances might be
	// missed. An untrusted cache is bypassed.
	vouchedUntil atomic.Int64
	born         time.Time
	// epoch moves on every eviction and change of trust, so a store lookup that raced with one
	// does not put a key back into the cache.
	epoch atomic.Uint64

	usageMu sync.Mutex
	usage   map[usageKey]models.APIKeyUse
	// usageClients counts usage's entries per api key id, so that no key gathers more than
	// models.MaxClientsPerKey clients between two flushes, whatever its holder sends.
	usageClients map[int64]int
	// lastUse holds, per api key id, an *atomic.Pointer[recentUse]: the use last gathered,
	// so that repeats within the same second skip the lock.
	lastUse  sync.Map
	scanners sync.Map // api key id → scanner name from its last check-in
}

// recentUse is the use of a key last gathered, to the second.
type recentUse struct {
	client, ip string
	second     int64
}

type cachedKey struct {
	// key is shared by every request that presents it and never changed after it is cached.
	key *models.APIKey
	// sum is the stored hash of the key's secret, decoded from key.SecretHash.
	sum      [sha256.Size]byte
	cachedAt time.Time
	// summary is made once per cached key, not on every request that shows it.
	summary *KeySummary
}

// KeySummary is what a key that authenticated may tell about itself: its public id, name and
// scope, as a JSON object and as header values. It is shared: read it, never change it.
type KeySummary struct {
	JSON     []byte   // {"id":…,"name":…,"scope":…}
	IDHeader []string // the public id, as an http.Header value
	Scope    []string // the scope, as an http.Header value
}

func newKeySummary(key *models.APIKey) (*KeySummary, error) {
	body, err := json.Marshal(struct {
		ID    string       `json:"id"`
		Name  string       `json:"name"`
		Scope models.Scope `json:"scope"`
	}{key.PublicID, key.Name, key.Scope})
	if err != nil {
		return nil, err
	}
	return &KeySummary{JSON: body, IDHeader: []string{key.PublicID}, Scope: []string{string(key.Scope)}}, nil
}

type usageKey struct {
	keyID      int64
	client, ip string
}

// NewKeyVerifier returns a verifier over store whose cache is trusted from the start; on
// PostgreSQL, StartRevocationListener makes trust depend on the listening connection.
func NewKeyVerifier(store *models.Store, log *slog.Logger) *KeyVerifier {
	v := &KeyVerifier{store: store, log: log, cache: map[[sha256.Size]byte]*cachedKey{}, usage: map[usageKey]models.APIKeyUse{}, usageClients: map[int64]int{}, born: time.Now()}
	v.vouchedUntil.Store(math.MaxInt64)
	return v
}

// trusted tells whether the cache may answer now.
func (v *KeyVerifier) trusted() bool {
	return int64(time.Since(v.born)) < v.vouchedUntil.Load()
}

// Verify returns the live key for secret, or ErrKeyRefused. The key may be shared with other
// requests through the cache: read it, never change it.
func (v *KeyVerifier) Verify(ctx context.Context, secret string) (*models.APIKey, error) {
	entry, err := v.verify(ctx, secret)
	if err != nil {
		return nil, err
	}
	return entry.key, nil
}

// verify is Verify returning the cache entry, which also carries the key's summary.
func (v *KeyVerifier) verify(ctx context.Context, secret string) (*cachedKey, error) {
	if models.ParseSecret(secret) != nil {
		return nil, ErrKeyRefused
	}
	sum := secretSum(secret)
	now := v.store.Now()
	epoch := v.epoch.Load()
	if v.trusted() {
		v.mu.RLock()
		entry, ok := v.cache[sum]
		v.mu.RUnlock()
		if ok && now.Sub(entry.cachedAt) < keyCacheTTL {
			return check(entry, sum, now)
		}
	}
	key, err := v.store.APIKeyBySecretHash(ctx, hex.EncodeToString(sum[:]))
	if errors.Is(err, models.ErrAPIKeyNotFound) {
		return nil, ErrKeyRefused
	}
	if err != nil {
		return nil, err
	}
	if key.Scope == models.ScopeScanner {
		// Another instance, or this one before a restart, may have seen the check-in.
		name, err := v.store.ScannerNameForKey(ctx, key.ID)
		if err != nil {
			return nil, err
		}
		if name != "" {
			v.NoteScanner(key.ID, name)
		}
	}
	summary, err := newKeySummary(key)
	if err != nil {
		return nil, err
	}
	entry := &cachedKey{key: key, cachedAt: now, summary: summary}
	if !decodeHash(&entry.sum, key.SecretHash) {
		return nil, ErrKeyRefused
	}
	v.mu.Lock()
	if v.trusted() && v.epoch.Load() == epoch {
		if len(v.cache) >= keyCacheSize {
			for evict := range v.cache {
				delete(v.cache, evict)
				break
			}
		}
		v.cache[sum] = entry
	}
	v.mu.Unlock()
	return check(entry, sum, now)
}

// check compares the presented secret's hash with the stored one in constant time and checks
// expiry at now. The entry it returns may be the cached one, shared with other requests: read
// it, never change it.
func check(entry *cachedKey, sum [sha256.Size]byte, now time.Time) (*cachedKey, error) {
	if subtle.ConstantTimeCompare(entry.sum[:], sum[:]) != 1 || entry.key.Expired(now) {
		return nil, ErrKeyRefused
	}
	return entry, nil
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

// Evict forgets a key on this instance, so its next use goes to the database.
func (v *KeyVerifier) Evict(secretHash string) {
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
		v.lastUse.Delete(entry.key.ID)
		v.scanners.Delete(entry.key.ID)
	}
}

// distrust empties the cache and bypasses it until trust is restored, for while revocations
// from other instances could be missed.
func (v *KeyVerifier) distrust() {
	v.mu.Lock()
	clear(v.cache)
	v.vouchedUntil.Store(0)
	v.epoch.Add(1)
	v.mu.Unlock()
}

// restoreTrust trusts the cache again, until the given time. It moves the epoch, so that a
// store lookup begun while revocations could be missed does not fill the cache.
func (v *KeyVerifier) restoreTrust(until time.Time) {
	v.mu.Lock()
	v.vouchedUntil.Store(int64(until.Sub(v.born)))
	v.epoch.Add(1)
	v.mu.Unlock()
}

// vouchUntil extends the trust in the cache to the given time, when every revocation
// announced before it has been applied.
func (v *KeyVerifier) vouchUntil(until time.Time) {
	v.vouchedUntil.Store(int64(until.Sub(v.born)))
}

// NoteScanner remembers the scanner name a key checked in with, so its later uses are shown
// under that name rather than its User-Agent.
func (v *KeyVerifier) NoteScanner(keyID int64, name string) {
	v.scanners.Store(keyID, name)
}

// recordUse gathers one use in memory; FlushUsage writes what was gathered. Last use is kept
// to the second: a use by the same client and address within the second already gathered
// changes nothing, and returns without taking the lock every request would otherwise contend
// for.
func (v *KeyVerifier) recordUse(key *models.APIKey, ip, userAgent string, at time.Time) {
	client, scanner := userAgent, false
	if name, ok := v.scanners.Load(key.ID); ok {
		client, scanner = name.(string), true
	}
	client = models.CleanClientName(client)
	slot, ok := v.lastUse.Load(key.ID)
	if !ok {
		slot, _ = v.lastUse.LoadOrStore(key.ID, new(atomic.Pointer[recentUse]))
	}
	recent := slot.(*atomic.Pointer[recentUse])
	second := at.Unix()
	if last := recent.Load(); last != nil && last.second == second && last.client == client && last.ip == ip {
		return
	}
	recent.Store(&recentUse{client: client, ip: ip, second: second})
	v.usageMu.Lock()
	v.gather(models.APIKeyUse{APIKeyID: key.ID, At: time.Unix(second, 0).UTC(), IP: ip, Client: client, Scanner: scanner})
	v.usageMu.Unlock()
}

// gather adds a use to those to write, unless it comes from a client its key has not been
// seen with since the last flush and the key has already gathered models.MaxClientsPerKey
// clients: then the key's last use is already within the flush interval, and the client is
// one of many made up. The caller holds usageMu.
func (v *KeyVerifier) gather(use models.APIKeyUse) {
	k := usageKey{keyID: use.APIKeyID, client: use.Client, ip: use.IP}
	if _, known := v.usage[k]; !known {
		if v.usageClients[use.APIKeyID] >= models.MaxClientsPerKey {
			return
		}
		v.usageClients[use.APIKeyID]++
	}
	v.usage[k] = use
}

// FlushUsage writes every use gathered since the last flush in one batch. On failure the uses
// are put back, unless newer ones for the same client have arrived.
func (v *KeyVerifier) FlushUsage(ctx context.Context) error {
	v.usageMu.Lock()
	pending := v.usage
	v.usage = map[usageKey]models.APIKeyUse{}
	clear(v.usageClients)
	v.usageMu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	batch := make([]models.APIKeyUse, 0, len(pending))
	for _, use := range pending {
		batch = append(batch, use)
	}
	if err := v.store.RecordAPIKeyUses(ctx, batch); err != nil {
		v.usageMu.Lock()
		for k, use := range pending {
			if _, newer := v.usage[k]; !newer {
				v.gather(use)
			}
		}
		v.usageMu.Unlock()
		return err
	}
	return nil
}

// RunUsageFlusher writes gathered uses every few seconds until ctx ends, then once more, so
// nothing gathered is lost on shutdown.
func (v *KeyVerifier) RunUsageFlusher(ctx context.Context) {
	ticker := time.NewTicker(usageFlushInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			if err := v.FlushUsage(ctx); err != nil {
				v.log.Error("write api key uses", "error", err)
			}
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := v.FlushUsage(final); err != nil {
				v.log.Error("write api key uses at shutdown", "error", err)
			}
			cancel()
			return
		}
	}
}

// presentedSecret reads the secret from X-API-SECRET or an Authorization Bearer header. The
// names are written in canonical form, which Header.Get then uses without allocating.
func presentedSecret(h http.Header) string {
	if secret := h.Get("X-Api-Secret"); secret != "" {
		return strings.TrimSpace(secret)
	}
	auth := h.Get("Authorization")
	if len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		return strings.TrimSpace(auth[7:])
	}
	return ""
}

// unauthorizedBody is the one answer for every refused key, so it tells an attacker nothing.
var unauthorizedBody = map[string]string{
	"error": "A valid API key is required. Send it as X-API-SECRET: <secret> or Authorization: Bearer <secret>.",
}

// RequireKey authenticates /api/v1 requests by API key and lets through only the given
// scopes: 401 for any refused key, 403 naming the allowed scopes for a key of another scope.
// The API's body limit applies after both, so that only an admitted request is told its body
// is too large.
func (s *Server) RequireKey(scopes ...models.Scope) echo.MiddlewareFunc {
	allowed := make([]string, len(scopes))
	for i, scope := range scopes {
		allowed[i] = string(scope)
	}
	bodyLimit := middleware.BodyLimit(apiBodyLimit)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		next = bodyLimit(next)
		return func(c echo.Context) error {
			req := c.Request()
			entry, err := s.Keys.verify(req.Context(), presentedSecret(req.Header))
			if errors.Is(err, ErrKeyRefused) {
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="keysmith"`)
				c.Response().Header().Set("Cache-Control", "no-store")
				return c.JSON(http.StatusUnauthorized, unauthorizedBody)
			}
			if err != nil {
				return err
			}
			key := entry.key
			// The use is gathered once the request is handled, so that a scanner's check-in
			// is already attributed to the scanner's name.
			defer s.Keys.recordUse(key, c.RealIP(), req.UserAgent(), s.store.Now())
			for _, scope := range scopes {
				if key.Scope == scope {
					return next(&keyContext{Context: c, entry: entry})
				}
			}
			return c.JSON(http.StatusForbidden, map[string]any{
				"error":          "This API key's scope does not allow this request.",
				"key_scope":      key.Scope,
				"allowed_scopes": allowed,
			})
		}
	}
}

// CurrentKey returns the API key that authenticated the request, or nil. It is shared with
// other requests: read it, never change it.
func CurrentKey(c echo.Context) *models.APIKey {
	if kc, ok := c.(*keyContext); ok {
		return kc.entry.key
	}
	return nil
}

// CurrentKeySummary returns the public summary of the API key that authenticated the request,
// or nil. It is shared with other requests: read it, never change it.
func CurrentKeySummary(c echo.Context) *KeySummary {
	if kc, ok := c.(*keyContext); ok {
		return kc.entry.summary
	}
	return nil
}

// keyContext carries the authenticated key to the handler. It is lighter than the context's
// store, which would make a map on every API request.
type keyContext struct {
	echo.Context
	entry *cachedKey
}

// KeyDeleted forgets a deleted key on this instance at once; the other instances hear of it
// through the announcement Store.DeleteAPIKey made (see StartRevocationListener).
func (s *Server) KeyDeleted(key *models.APIKey) {
	s.Keys.Evict(key.SecretHash)
	s.Keys.lastUse.Delete(key.ID)
	s.Keys.scanners.Delete(key.ID)
}
