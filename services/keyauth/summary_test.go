package keyauth

import (
	"encoding/json"
	"testing"
	"time"

	"keysmith/models"
)

// A cached key's summary is the JSON the API answers, and its name and public id are read
// back from it, whatever JSON had to escape.
func TestCachedKeySummaryHoldsItsKey(t *testing.T) {
	for _, name := range []string{
		"nightly export",
		"Ωmega 📦 café",
		`with "quotes" and \\backslashes`,
		"<script>alert(1)</script> & more",
		"line\u2028separator",
		"",
	} {
		key := &models.APIKey{ID: 7, PublicID: "ak_0123456789abcdef", Name: name, Scope: models.ScopeManageDocumentation}
		entry, err := newEntry(key, time.Now(), 3, false)
		if err != nil {
			t.Fatal(err)
		}
		var summary struct{ ID, Name, Scope string }
		if err := json.Unmarshal(entry.summary.JSON, &summary); err != nil {
			t.Fatalf("%q: summary %s is not JSON: %v", name, entry.summary.JSON, err)
		}
		if summary.ID != key.PublicID || summary.Name != name || summary.Scope != string(key.Scope) {
			t.Errorf("%q: summary %s, want the key's id, name and scope", name, entry.summary.JSON)
		}
		if got := entry.keyName(); got != name {
			t.Errorf("keyName: got %q, want %q", got, name)
		}
		if entry.publicID() != key.PublicID || entry.Scope() != key.Scope {
			t.Errorf("%q: public id %q, scope %q, want %q, %q", name, entry.publicID(), entry.Scope(), key.PublicID, key.Scope)
		}
		if got := entry.summary.IDHeader(); len(got) != 1 || got[0] != key.PublicID {
			t.Errorf("%q: id header %q", name, got)
		}
		if !entry.holds(key) {
			t.Errorf("%q: the entry does not hold the key it was made of", name)
		}
	}
}
