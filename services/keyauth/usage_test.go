package keyauth

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"keysmith/logging"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// Held uses are bounded while the database cannot take them, but every key keeps its first:
// only more clients of keys already held are given up, and they are counted in the log.
func TestPendingUsesAreBoundedButKeepEveryKey(t *testing.T) {
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	v := newTestVerifier(store)
	var logs strings.Builder
	v.log = logging.New(&logs, "text", nil)
	at := time.Unix(1_800_000_000, 0)
	g := &v.usage
	g.mu.Lock()
	for i := range maxPendingUses {
		g.gather(models.APIKeyUse{APIKeyID: int64(i % 4000), At: at, IP: "192.0.2.1", Client: fmt.Sprintf("client/%d", i)}, nil, 0)
	}
	g.gather(models.APIKeyUse{APIKeyID: 5000, At: at, IP: "192.0.2.1", Client: "a key not held yet"}, nil, 0)
	g.gather(models.APIKeyUse{APIKeyID: 7, At: at, IP: "192.0.2.1", Client: "one client too many"}, nil, 0)
	g.gather(models.APIKeyUse{APIKeyID: 8, At: at, IP: "192.0.2.1", Client: "one client too many"}, nil, 0)
	held, newKeyHeld := len(g.uses), g.perKey[5000] == 1
	g.mu.Unlock()
	if held != maxPendingUses+1 || !newKeyHeld {
		t.Fatalf("held %d uses (new key held: %v), want %d with the new key's", held, newKeyHeld, maxPendingUses+1)
	}
	v.logDroppedUses()
	if want := `msg="last uses not written" uses=2 keys=2`; !strings.Contains(logs.String(), want) {
		t.Errorf("log %q, want %q", logs.String(), want)
	}
}

// Keys first used together are not written again together: each key waits its own interval,
// between useWriteInterval less useWriteSpread and useWriteInterval, so that a flush carries a
// share of them rather than all at once.
func TestKeysFirstUsedTogetherAreWrittenAgainApart(t *testing.T) {
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	v := newTestVerifier(store)
	ctx := t.Context()
	const keys = 62
	entries := make([]*Entry, keys)
	start := time.Unix(1_800_000_000, 0)
	for i := range entries {
		entries[i] = &Entry{id: int64(i + 1), summary: Summary{scope: scopeHeaders[models.ScopeReadOnly]}}
		v.RecordUse(entries[i], "192.0.2.1", "nightly-export/1.0", start)
	}
	if got := v.usage.pending(); got != keys {
		t.Fatalf("pending after the first uses: %d, want %d", got, keys)
	}
	// Written (to no row: the ids are made up), which each entry learns.
	if err := v.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	first := int64(useWriteInterval/time.Second - useWriteSpread/time.Second)
	last := int64(useWriteInterval / time.Second)
	again := map[int64]bool{}
	for second := int64(1); second <= last; second++ {
		for _, entry := range entries {
			v.RecordUse(entry, "192.0.2.1", "nightly-export/1.0", start.Add(time.Duration(second)*time.Second))
		}
		written := v.usage.pending()
		switch {
		case second < first && written != 0:
			t.Fatalf("%d s after the write: %d uses gathered again, want none before %d s", second, written, first)
		case written > 2*keys/int(last-first+1):
			t.Fatalf("%d s after the write: %d uses gathered again in one second, want the %d keys spread over %d s", second, written, keys, last-first+1)
		}
		v.usage.mu.Lock()
		for k := range v.usage.uses {
			again[k.keyID] = true
		}
		v.usage.mu.Unlock()
		if err := v.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(again) != keys {
		t.Errorf("keys whose use was gathered again within %d s: %d, want every one, %d", last, len(again), keys)
	}
}

// A rotated key's previous secret has its last use written again within a minute, as an
// until-unused grace counts from it; the current secret's waits its longer interval.
func TestPreviousSecretsUsesAreWrittenAgainWithinAMinute(t *testing.T) {
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	v := newTestVerifier(store)
	start := time.Unix(1_800_000_000, 0)
	summary := Summary{scope: scopeHeaders[models.ScopeReadOnly]}
	current := &Entry{id: 7, summary: summary}
	previous := &Entry{id: 7, summary: summary, previous: true}
	for _, entry := range []*Entry{current, previous} {
		v.RecordUse(entry, "192.0.2.1", "nightly-export/1.0", start)
	}
	if err := v.FlushUsage(t.Context()); err != nil {
		t.Fatal(err)
	}
	minute := start.Add(previousUseWriteInterval)
	for _, entry := range []*Entry{current, previous} {
		v.RecordUse(entry, "192.0.2.1", "nightly-export/1.0", minute)
	}
	v.usage.mu.Lock()
	var gathered []bool
	for k := range v.usage.uses {
		gathered = append(gathered, k.previous)
	}
	v.usage.mu.Unlock()
	if len(gathered) != 1 || !gathered[0] {
		t.Errorf("uses gathered again a minute after the write, by previous secret: %v; want the previous secret's alone", gathered)
	}
}

// Every request is counted for its UTC day, repeats that return before the lock included, and
// the counts reach the database with the batched uses: one row per key and day, however many
// requests.
func TestRequestsAreCountedPerDay(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := t.Context()
		now := time.Date(2030, 3, 10, 23, 59, 59, 0, time.UTC)
		store.SetClock(func() time.Time { return now })
		v := newTestVerifier(store)
		key, secret := modelstest.CreateKey(t, store, "counted", nil)
		other, otherSecret := modelstest.CreateKey(t, store, "other", nil)
		for range 150 {
			use(t, v, secret, "nightly-export/1.0", "192.0.2.10:40000")
		}
		use(t, v, otherSecret, "curl/8.5.0", "192.0.2.11:40000")
		if err := v.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		// Past midnight: the same client again, within the second of its last use written.
		now = now.Add(time.Second)
		for range 40 {
			use(t, v, secret, "nightly-export/1.0", "192.0.2.10:40000")
		}
		if err := v.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			key  *models.APIKey
			want []int64
		}{{key, []int64{150, 40}}, {other, []int64{1, 0}}} {
			series, err := store.APIKeyDailyUses(ctx, tc.key.ID, 2)
			if err != nil {
				t.Fatal(err)
			}
			if got := []int64{series[0].Requests, series[1].Requests}; !slices.Equal(got, tc.want) {
				t.Errorf("%s: requests on 10 and 11 March: got %v, want %v", tc.key.Name, got, tc.want)
			}
		}
	})
}

// Counting takes no lock and loses nothing: requests counted in parallel while flushes take the
// counts add up exactly, and a count carried over midnight lands on its own day.
func TestParallelRequestsAreCountedExactly(t *testing.T) {
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	v := newTestVerifier(store)
	ctx := t.Context()
	_, secret := modelstest.CreateKey(t, store, "busy", nil)
	entry, err := checkOnly(v, ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	midnight := time.Date(2030, 3, 11, 0, 0, 0, 0, time.UTC)
	const workers, perWorker = 8, 2000
	var counting sync.WaitGroup
	taken := map[dayKey]int64{}
	var takenMu sync.Mutex
	take := func() {
		takenMu.Lock()
		defer takenMu.Unlock()
		for k, n := range v.usage.takeCounts() {
			taken[k] += n
		}
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			default:
				take()
			}
		}
	}()
	for range workers {
		counting.Go(func() {
			for i := range perWorker {
				// Each worker crosses midnight halfway.
				at := midnight.Add(time.Duration(i-perWorker/2) * time.Millisecond)
				v.RecordUse(entry, "192.0.2.1", "worker/1.0", at)
			}
		})
	}
	counting.Wait()
	close(stop)
	<-stopped
	take()
	day := models.UnixDay(midnight)
	want := map[dayKey]int64{{entry.id, day - 1}: workers * perWorker / 2, {entry.id, day}: workers * perWorker / 2}
	if !maps.Equal(taken, want) {
		t.Errorf("requests taken per day: got %v, want %v", taken, want)
	}
}

// Requests counted while the database cannot take them are held and written once it can, once:
// a failed flush loses no count and a later one writes none twice.
func TestCountsAreHeldWhileTheDatabaseIsAway(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := t.Context()
		v := newTestVerifier(store)
		key, secret := modelstest.CreateKey(t, store, "held", nil)
		away, cancel := context.WithCancel(ctx)
		cancel()
		for _, requests := range []int{5, 3} {
			for range requests {
				use(t, v, secret, "nightly-export/1.0", "192.0.2.10:40000")
			}
			if err := v.FlushUsage(away); err == nil {
				t.Fatal("a flush without the database succeeded")
			}
		}
		for range 2 {
			if err := v.FlushUsage(ctx); err != nil {
				t.Fatal(err)
			}
		}
		series, err := store.APIKeyDailyUses(ctx, key.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := series[0].Requests; got != 8 {
			t.Errorf("requests written after the database came back: got %d, want 8", got)
		}
	})
}

// Held counts are bounded while the database cannot take them: a key and day already held
// keeps adding up, others past the bound are given up, counted in the log and the metrics;
// so are those still held when a stop gives up writing them.
func TestHeldCountsAreBoundedAndNeverLostSilently(t *testing.T) {
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	v := newTestVerifier(store)
	var logs strings.Builder
	v.log = logging.New(&logs, "text", nil)
	counts := make(map[dayKey]int64, maxHeldCounts)
	for i := range maxHeldCounts {
		counts[dayKey{keyID: int64(i), day: 20000}] = 1
	}
	v.usage.holdCounts(counts)
	v.usage.holdCounts(map[dayKey]int64{
		{keyID: 7, day: 20000}:         4, // held already: adds up
		{keyID: 7, day: 20001}:         5, // a new day past the bound
		{keyID: 1_000_000, day: 20000}: 6,
	})
	if got := v.usage.heldCounts[dayKey{keyID: 7, day: 20000}]; got != 5 {
		t.Errorf("requests held for a key and day held already: got %d, want 5", got)
	}
	if got := len(v.usage.heldCounts); got != maxHeldCounts {
		t.Errorf("keys and days held: got %d, want %d", got, maxHeldCounts)
	}
	v.logDroppedUses()
	if want := `msg="daily request counts not written" requests=11 keys=2`; !strings.Contains(logs.String(), want) {
		t.Errorf("log %q, want %q", logs.String(), want)
	}
	if got := counterValue(t, v.metrics.requestsUncounted); got != 11 {
		t.Errorf("uncounted requests in the metrics: got %v, want 11", got)
	}

	// A stop that cannot write what is held says how much it gives up.
	logs.Reset()
	v.usage.heldCounts = map[dayKey]int64{{keyID: 1, day: 20000}: 2, {keyID: 1, day: 20001}: 3, {keyID: 2, day: 20000}: 4}
	stopping, cancel := context.WithCancel(t.Context())
	cancel()
	v.FlushUsageAtShutdown(stopping)
	if want := `msg="daily request counts not written" requests=9 keys=2`; !strings.Contains(logs.String(), want) {
		t.Errorf("log %q, want %q", logs.String(), want)
	}
	if got := counterValue(t, v.metrics.requestsUncounted); got != 20 {
		t.Errorf("uncounted requests in the metrics: got %v, want 20", got)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// The flusher writes last uses every flush but requests counted only every
// countWriteInterval: every key in use has a count each time. A full flush (the key page, a
// stop) writes them at once.
func TestRequestCountsWaitForTheirOwnInterval(t *testing.T) {
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	v := newTestVerifier(store)
	ctx := t.Context()
	key, _ := modelstest.CreateKey(t, store, "counted", nil)
	entry := &Entry{id: key.ID, summary: Summary{scope: scopeHeaders[models.ScopeReadOnly]}}
	at := store.Now()
	for range 3 {
		v.RecordUse(entry, "192.0.2.1", "nightly-export/1.0", at)
	}
	requests := func() int64 {
		days, err := store.APIKeyDailyUses(ctx, key.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		return days[0].Requests
	}
	if err := v.flushUsage(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := requests(); got != 0 {
		t.Errorf("requests written by a flush without counts: got %d, want 0", got)
	}
	if stored, _ := store.APIKeyByPublicID(ctx, key.PublicID); stored.LastUsedAt == nil {
		t.Errorf("last use not written by a flush without counts")
	}
	if err := v.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	if got := requests(); got != 3 {
		t.Errorf("requests written by a full flush: got %d, want 3", got)
	}
}
