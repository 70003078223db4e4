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
