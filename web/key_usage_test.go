package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// Held uses are bounded while the database cannot take them, but every key keeps its first:
// only more clients of keys already held are given up, and they are counted in the log.
func TestPendingUsesAreBoundedButKeepEveryKey(t *testing.T) {
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	v := newTestVerifier(store)
	var logs strings.Builder
	v.log = NewLogger(&logs, "text", nil)
	at := time.Unix(1_800_000_000, 0)
	g := &v.usage
	g.mu.Lock()
	for i := range maxPendingUses {
		g.gather(models.APIKeyUse{APIKeyID: int64(i % 4000), At: at, IP: "192.0.2.1", Client: fmt.Sprintf("client/%d", i)}, nil)
	}
	g.gather(models.APIKeyUse{APIKeyID: 5000, At: at, IP: "192.0.2.1", Client: "a key not held yet"}, nil)
	g.gather(models.APIKeyUse{APIKeyID: 7, At: at, IP: "192.0.2.1", Client: "one client too many"}, nil)
	g.gather(models.APIKeyUse{APIKeyID: 8, At: at, IP: "192.0.2.1", Client: "one client too many"}, nil)
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
	entries := make([]*cachedKey, keys)
	start := time.Unix(1_800_000_000, 0)
	for i := range entries {
		entries[i] = &cachedKey{id: int64(i + 1), summary: KeySummary{scope: [1]string{string(models.ScopeReadOnly)}}}
		v.recordUse(entries[i], "192.0.2.1", "nightly-export/1.0", start)
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
			v.recordUse(entry, "192.0.2.1", "nightly-export/1.0", start.Add(time.Duration(second)*time.Second))
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
