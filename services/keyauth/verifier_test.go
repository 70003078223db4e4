package keyauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"keysmith/config"
	"keysmith/metrics"
	"keysmith/models"
	"keysmith/models/modelstest"
)

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// newTestVerifier is a verifier with the default cache size and stale window, and a second
// for lookups.
func newTestVerifier(store *models.Store) *Verifier {
	return New(store, discardLog, metrics.New(store), config.DefaultKeyCacheSize, time.Second, config.DefaultStaleKeysFor)
}

// use verifies secret and gathers its use, as RequireKey does for a request it lets through
// from remoteAddr (host:port) with client as its User-Agent.
func use(t testing.TB, v *Verifier, secret, client, remoteAddr string) {
	t.Helper()
	entry, _, err := v.Check(context.Background(), secret)
	if err != nil {
		t.Fatalf("use: %v", err)
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		t.Fatal(err)
	}
	v.RecordUse(entry, host, client, v.store.Now())
}

// deleteBehindItsBack removes a key from the database without telling the verifier, so a test
// can tell a cache hit from a lookup: through another store on the same database, as another
// instance would on PostgreSQL, with no listener to hear it.
func deleteBehindItsBack(t testing.TB, store *models.Store, key *models.APIKey) {
	t.Helper()
	if _, err := openAgain(t, store).DeleteAPIKey(context.Background(), key.PublicID); err != nil {
		t.Fatal(err)
	}
}

// openAgain opens another store on store's database, whose changes store's subscribers do not
// hear of; on SQLite with the audit key kept beside the database, as store has.
func openAgain(t testing.TB, store *models.Store) *models.Store {
	t.Helper()
	return modelstest.Open(t, modelstest.Target{Name: string(store.Dialect()), URL: store.URL()})
}

func TestVerifierCacheHitEvictAndUntrustedBypass(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		v := newTestVerifier(store)

		key, secret := modelstest.CreateKey(t, store, "cached", nil)
		got, err := v.Verify(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		if got.PublicID != key.PublicID {
			t.Fatalf("verified key %q, want %q", got.PublicID, key.PublicID)
		}
		deleteBehindItsBack(t, store, key)
		if _, err := v.Verify(ctx, secret); err != nil {
			t.Fatalf("cache hit after a silent delete: %v, want the cached key", err)
		}
		v.Evict(key.SecretHash)
		if _, err := v.Verify(ctx, secret); !errors.Is(err, ErrKeyRefused) {
			t.Fatalf("after Evict: got %v, want ErrKeyRefused", err)
		}

		other, otherSecret := modelstest.CreateKey(t, store, "untrusted", nil)
		if _, err := v.Verify(ctx, otherSecret); err != nil {
			t.Fatal(err)
		}
		v.Distrust()
		if _, err := v.Verify(ctx, otherSecret); err != nil {
			t.Fatalf("untrusted, key in the store: %v", err)
		}
		deleteBehindItsBack(t, store, other)
		if _, err := v.Verify(ctx, otherSecret); !errors.Is(err, ErrKeyRefused) {
			t.Fatalf("untrusted, key deleted from the store: got %v, want ErrKeyRefused", err)
		}

		v.RestoreTrust(time.Now().Add(time.Hour))
		again, againSecret := modelstest.CreateKey(t, store, "trusted again", nil)
		if _, err := v.Verify(ctx, againSecret); err != nil {
			t.Fatal(err)
		}
		deleteBehindItsBack(t, store, again)
		if _, err := v.Verify(ctx, againSecret); err != nil {
			t.Fatalf("trusted again, cache hit: %v, want the cached key", err)
		}
	})
}

// The cache answers only while its lease runs: past it, keys are looked up again, and what was
// cached before is used again once the lease is renewed.
func TestVerifierCacheAnswersOnlyWithinItsLease(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		v := newTestVerifier(store)
		v.RestoreTrust(time.Now().Add(time.Hour))
		kept, keptSecret := modelstest.CreateKey(t, store, "kept", nil)
		gone, goneSecret := modelstest.CreateKey(t, store, "gone", nil)
		for _, secret := range []string{keptSecret, goneSecret} {
			if _, err := v.Verify(ctx, secret); err != nil {
				t.Fatal(err)
			}
		}
		deleteBehindItsBack(t, store, gone)
		if _, err := v.Verify(ctx, goneSecret); err != nil {
			t.Fatalf("within the lease: %v, want the cached key", err)
		}

		v.VouchUntil(time.Now().Add(-time.Millisecond))
		if _, err := v.Verify(ctx, goneSecret); !errors.Is(err, ErrKeyRefused) {
			t.Fatalf("past the lease: got %v, want ErrKeyRefused from the store", err)
		}
		if _, err := v.Verify(ctx, keptSecret); err != nil {
			t.Fatalf("past the lease, key in the store: %v", err)
		}

		// Renewed: the cache answers again (a key removed behind its back is still served).
		v.VouchUntil(time.Now().Add(time.Hour))
		deleteBehindItsBack(t, store, kept)
		if _, err := v.Verify(ctx, keptSecret); err != nil {
			t.Fatalf("lease renewed: %v, want the cached key", err)
		}
	})
}

func TestVerifierChecksExpiryOfCachedKeyToTheSecond(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		store.SetClock(func() time.Time { return now })
		v := newTestVerifier(store)
		expiresAt := now.Add(2 * time.Minute)
		key, secret := modelstest.CreateKey(t, store, "short-lived", &expiresAt)
		if _, err := v.Verify(ctx, secret); err != nil {
			t.Fatal(err)
		}
		// From here on the key is only in the cache, so every answer below comes from it.
		deleteBehindItsBack(t, store, key)

		cases := []struct {
			at      time.Time
			refused bool
		}{
			{expiresAt.Add(-time.Second), false},
			{expiresAt, true},
			{expiresAt.Add(time.Second), true},
		}
		for _, tc := range cases {
			now = tc.at
			_, err := v.Verify(ctx, secret)
			if refused := errors.Is(err, ErrKeyRefused); refused != tc.refused {
				t.Errorf("at expiry %+v: refused %v (err %v), want %v", tc.at.Sub(expiresAt), refused, err, tc.refused)
			}
		}
	})
}

func TestVerifierRefusesMalformedSecretsWithoutTheStore(t *testing.T) {
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	v := newTestVerifier(store)
	valid := models.GenerateSecret()
	// With the database closed, a secret that reaches the store fails with a database error;
	// one that is refused first never gets there.
	store.Close()
	if _, err := v.Verify(context.Background(), valid); err == nil || errors.Is(err, ErrKeyRefused) {
		t.Fatalf("well-formed secret with the database closed: got %v, want a database error", err)
	}
	replacement := "A"
	if strings.HasSuffix(valid, replacement) {
		replacement = "B"
	}
	wrongChecksum := valid[:len(valid)-1] + replacement
	for _, secret := range []string{"", "ksk_", "not a key", strings.ToUpper(valid), wrongChecksum, valid + "x"} {
		if _, err := v.Verify(context.Background(), secret); !errors.Is(err, ErrKeyRefused) {
			t.Errorf("Verify(%q): got %v, want ErrKeyRefused", secret, err)
		}
	}
}

// clockedVerifier returns a verifier over a store on the first test database whose clock reads
// the Unix nanoseconds in clock, which starts at the real time.
func clockedVerifier(t *testing.T) (*models.Store, *Verifier, *atomic.Int64) {
	t.Helper()
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	clock := new(atomic.Int64)
	clock.Store(time.Now().UnixNano())
	store.SetClock(func() time.Time { return time.Unix(0, clock.Load()) })
	return store, newTestVerifier(store), clock
}

// A cached key in use is read again in the background shortly before its trust runs out: the
// request that notices is answered from the cache at once. An unchanged key is trusted anew in
// place; a key changed behind the cache's back gets an entry with what the store says, and one
// deleted or disabled behind its back is refused from then on.
func TestVerifierRefreshesKeysInUseAhead(t *testing.T) {
	store, v, clock := clockedVerifier(t)
	_, kept := modelstest.CreateKey(t, store, "kept", nil)
	renamed, changed := modelstest.CreateKey(t, store, "renamed", nil)
	deleted, gone := modelstest.CreateKey(t, store, "deleted", nil)
	disabled, off := modelstest.CreateKey(t, store, "disabled", nil)
	cached := func(secret string) *Entry {
		v.mu.RLock()
		defer v.mu.RUnlock()
		return v.cache[secretSum(secret)]
	}
	for _, secret := range []string{kept, changed, gone, off} {
		if _, err := v.Verify(context.Background(), secret); err != nil {
			t.Fatal(err)
		}
	}
	if err := openAgain(t, store).Exec(context.Background(), "UPDATE api_keys SET name = ? WHERE id = ?", "renamed behind its back", renamed.ID); err != nil {
		t.Fatal(err)
	}
	deleteBehindItsBack(t, store, deleted)
	if _, _, err := openAgain(t, store).DisableAPIKey(context.Background(), disabled.PublicID); err != nil {
		t.Fatal(err)
	}

	// Within the last refreshAhead of the kept key's trust: answered from the cache, then read
	// again.
	entry := cached(kept)
	before := entry.trustedUntil.Load()
	clock.Store(before - int64(refreshAhead/2))
	misses := testutil.ToFloat64(v.metrics.cacheMisses)
	if _, err := v.Verify(context.Background(), kept); err != nil {
		t.Fatalf("a key in its refresh window: %v, want it answered", err)
	}
	if testutil.ToFloat64(v.metrics.cacheMisses) != misses {
		t.Fatal("a key in its refresh window was looked up by the request, want it answered from the cache")
	}
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(v.metrics.cacheRefreshes) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the key in its refresh window was not read again within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if after := cached(kept); after != entry || after.trustedUntil.Load() <= before || after.refreshing.Load() {
		t.Errorf("after the refresh: the same entry %v, trusted until %d (before %d), refreshing %v; want the same entry, trusted later, and not refreshing",
			after == entry, after.trustedUntil.Load(), before, after.refreshing.Load())
	}

	// The key renamed behind the cache's back: its entry is replaced by one with the new name,
	// which keeps the use the old one gathered.
	entry = cached(changed)
	v.RecordUse(entry, "192.0.2.10", "nightly-export/1.0", store.Now())
	clock.Store(entry.trustedUntil.Load() - int64(refreshAhead/2))
	if _, err := v.Verify(context.Background(), changed); err != nil {
		t.Fatalf("a key renamed behind the cache's back: %v, want it answered", err)
	}
	for cached(changed) == entry {
		if time.Now().After(deadline) {
			t.Fatal("the renamed key in its refresh window was not read again within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if after := cached(changed); after.keyName() != "renamed behind its back" || !strings.Contains(string(after.summary.JSON), "renamed behind its back") ||
		after.lastUse.Load() == 0 || after.lastUse.Load() != entry.lastUse.Load() {
		t.Errorf("the renamed key's new entry: name %q, summary %s, last use kept %v; want the new name in both, and the use kept",
			after.keyName(), after.summary.JSON, after.lastUse.Load() == entry.lastUse.Load())
	}

	// The deleted and the disabled key, each in its own refresh window: answered from the cache
	// once more, then the refresh hears the store no longer vouches for it.
	for what, secret := range map[string]string{"deleted": gone, "disabled": off} {
		clock.Store(cached(secret).trustedUntil.Load() - int64(refreshAhead/2))
		if _, err := v.Verify(context.Background(), secret); err != nil {
			t.Fatalf("a key %s behind the cache's back: %v, want it answered from the cache", what, err)
		}
		for cached(secret) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("the refresh did not evict the key %s behind the cache's back", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if _, err := v.Verify(context.Background(), secret); !errors.Is(err, ErrKeyRefused) {
			t.Errorf("the key %s, after its refresh: %v, want ErrKeyRefused", what, err)
		}
	}
}

// Keys that come due for a refresh apart, as they do one by one under load, are read again
// together: the refresh lets refreshGather pass for more to gather, rather than reading each
// alone.
func TestVerifierRefreshesKeysInBatches(t *testing.T) {
	store, v, clock := clockedVerifier(t)
	var entries []*Entry
	var secrets []string
	for _, name := range []string{"first", "second", "third"} {
		_, secret := modelstest.CreateKey(t, store, name, nil)
		if _, err := v.Verify(context.Background(), secret); err != nil {
			t.Fatal(err)
		}
		v.mu.RLock()
		entries = append(entries, v.cache[secretSum(secret)])
		v.mu.RUnlock()
		secrets = append(secrets, secret)
	}
	// Every entry in its refresh window.
	end := time.Unix(0, clock.Load()).Add(keyCacheTTL).UnixNano()
	before := make([]int64, len(entries))
	for i, entry := range entries {
		entry.trustedUntil.Store(end)
		before[i] = end
	}
	clock.Store(end - int64(refreshAhead/2))
	// The refresh trusts a batch's entries anew under the cache's lock: seen under it, either
	// none of these or all of them moved on.
	refreshed := func() (n int) {
		v.mu.RLock()
		defer v.mu.RUnlock()
		for i, entry := range entries {
			if entry.trustedUntil.Load() != before[i] {
				n++
			}
		}
		return n
	}
	// The keys come due 20 ms apart, each time enough for a refresh that did not wait to have
	// read the keys queued so far.
	for i, secret := range secrets {
		if _, err := v.Verify(context.Background(), secret); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		if n := refreshed(); n != 0 {
			t.Fatalf("%d keys read again 20 ms after the %d of %d that came due apart, want the refresh to wait for the others", n, i+1, len(entries))
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for n := refreshed(); n != len(entries); n = refreshed() {
		if n > 0 {
			t.Fatalf("%d of the %d keys that came due apart were read again in a batch of their own, want all in one", n, len(entries))
		}
		if time.Now().After(deadline) {
			t.Fatal("the keys in their refresh window were not read again within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// A key holder who sends a new User-Agent on every request gathers no more than
// models.MaxClientsPerKey clients between two flushes; other keys are not held back.
func TestGatheredClientsPerKeyAreBounded(t *testing.T) {
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	v := newTestVerifier(store)
	flooder := cachedEntry(t, v, store, "flooder")
	other := cachedEntry(t, v, store, "other")
	at := time.Now()
	for i := range models.MaxClientsPerKey + 50 {
		v.RecordUse(flooder, "192.0.2.1", fmt.Sprintf("made-up/%d", i), at)
	}
	v.RecordUse(flooder, "192.0.2.1", "made-up/0", at.Add(time.Second)) // a client already gathered
	v.RecordUse(other, "192.0.2.2", "cron/1", at)
	v.usage.mu.Lock()
	gathered := map[int64]int{}
	for k, use := range v.usage.uses {
		gathered[k.keyID]++
		if k.client == "made-up/0" && !use.use.At.Equal(time.Unix(at.Add(time.Second).Unix(), 0)) {
			t.Errorf("a gathered client's later use was not kept: %+v", use.use)
		}
	}
	v.usage.mu.Unlock()
	if gathered[flooder.id] != models.MaxClientsPerKey || gathered[other.id] != 1 {
		t.Fatalf("gathered %v, want %d for the flooding key and 1 for the other", gathered, models.MaxClientsPerKey)
	}
	if err := v.FlushUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	v.RecordUse(flooder, "192.0.2.1", "made-up/after-the-flush", at.Add(2*time.Second))
	v.usage.mu.Lock()
	defer v.usage.mu.Unlock()
	if len(v.usage.uses) != 1 {
		t.Fatalf("after a flush, %d uses gathered, want the new client's", len(v.usage.uses))
	}
}

// cachedEntry makes a key and returns its cache entry, as a request presenting it would.
func cachedEntry(t *testing.T, v *Verifier, store *models.Store, name string) *Entry {
	t.Helper()
	_, secret := modelstest.CreateKey(t, store, name, nil)
	entry, _, err := v.Check(context.Background(), secret)
	if err != nil {
		t.Fatal(err)
	}
	return entry
}

// An eviction, as a revocation from another instance brings, also forgets what this instance
// remembered of the key's uses: its entry and its scanner name.
func TestEvictForgetsTheKeysUses(t *testing.T) {
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	v := newTestVerifier(store)
	key, secret := modelstest.CreateKey(t, store, "evicted", nil)
	cached, _, err := v.Check(context.Background(), secret)
	if err != nil {
		t.Fatal(err)
	}
	v.NoteScanner(key.ID, "pg-scanner")
	v.RecordUse(cached, "192.0.2.1", "curl/8.0", time.Now())
	v.Evict(key.SecretHash)
	var sum [32]byte
	decodeHash(&sum, key.SecretHash)
	if _, ok := v.cache[sum]; ok {
		t.Error("the key's cache entry, with its last use, is still held after its eviction")
	}
	if _, ok := v.usage.scanners.Load(key.ID); ok {
		t.Error("the key's scanner name is still remembered after its eviction")
	}
}

// The cache is bounded: full, it makes room for a newly verified key instead of growing.
func TestVerifierCacheIsBounded(t *testing.T) {
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	v := newTestVerifier(store)
	filler := &Entry{}
	filler.trustedUntil.Store(time.Now().Add(keyCacheTTL).UnixNano())
	v.size = 10_000
	for i := range v.size {
		var sum [32]byte
		sum[0], sum[1], sum[2] = byte(i), byte(i>>8), byte(i>>16)
		v.cache[sum] = filler
	}
	key, secret := modelstest.CreateKey(t, store, "newcomer", nil)
	if _, err := v.Verify(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	decodeHash(&sum, key.SecretHash)
	if _, cached := v.cache[sum]; !cached || len(v.cache) != v.size {
		t.Fatalf("cache holds %d keys (newcomer cached: %v), want %d with the newcomer", len(v.cache), cached, v.size)
	}
}

// A cached key is trusted for half of keyCacheTTL at least and keyCacheTTL at most: after
// that the store is asked again.
func TestVerifierCacheEntriesExpire(t *testing.T) {
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	now := time.Now()
	store.SetClock(func() time.Time { return now })
	v := newTestVerifier(store)
	key, secret := modelstest.CreateKey(t, store, "stale", nil)
	if _, err := v.Verify(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	deleteBehindItsBack(t, store, key)
	now = now.Add(keyCacheTTL/2 - time.Second)
	if _, err := v.Verify(context.Background(), secret); err != nil {
		t.Fatalf("within the cache's shortest lifetime: %v, want the cached key", err)
	}
	now = now.Add(keyCacheTTL/2 + time.Second)
	if _, err := v.Verify(context.Background(), secret); !errors.Is(err, ErrKeyRefused) {
		t.Fatalf("after the cache's longest lifetime: got %v, want ErrKeyRefused from the store", err)
	}
}

// Keys cached at the same moment are asked for again at different moments, spread over the
// second half of keyCacheTTL, so that a crowd of keys met together does not come back to the
// database together.
func TestVerifierCacheEntriesExpireApart(t *testing.T) {
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	now := time.Now()
	store.SetClock(func() time.Time { return now })
	v := newTestVerifier(store)
	const keys = 200
	secrets := make([]string, keys)
	for i := range secrets {
		_, secrets[i] = modelstest.CreateKey(t, store, fmt.Sprintf("key %d", i), nil)
		if _, err := v.Verify(context.Background(), secrets[i]); err != nil {
			t.Fatal(err)
		}
	}
	// Each quarter of the spread holds some of the keys' ends (the chance that one holds
	// none is below 10^-24).
	var quarters [4]int
	for _, entry := range v.cache {
		span := time.Duration(entry.trustedUntil.Load() - now.UnixNano())
		if span < keyCacheTTL/2 || span > keyCacheTTL {
			t.Fatalf("an entry is trusted for %v, want between %v and %v", span, keyCacheTTL/2, keyCacheTTL)
		}
		quarters[min(3, int((span-keyCacheTTL/2)*8/keyCacheTTL))]++
	}
	for i, n := range quarters {
		if n == 0 {
			t.Errorf("no key's trust ends in quarter %d of the spread: %v", i+1, quarters)
		}
	}
	// Three quarters of the way, the keys whose trust has ended are asked for again, and only
	// those.
	now = now.Add(keyCacheTTL * 3 / 4)
	misses := testutil.ToFloat64(v.metrics.cacheMisses)
	for _, secret := range secrets {
		if _, err := v.Verify(context.Background(), secret); err != nil {
			t.Fatal(err)
		}
	}
	if asked := int(testutil.ToFloat64(v.metrics.cacheMisses) - misses); asked != quarters[0]+quarters[1] {
		t.Errorf("%d keys asked for again, want the %d whose trust had ended", asked, quarters[0]+quarters[1])
	}
}
