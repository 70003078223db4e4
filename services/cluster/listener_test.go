package cluster

import (
	"context"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// The serving process hears of secrets made by another process on the same database: on
// PostgreSQL by its listener, on SQLite by its poll of recorded changes (a key rotated with
// `keysmith keys rotate`, say), within a second, as it hears of revocations.
func TestIndexHearsOfSecretsMadeByAnotherProcess(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		i := newTestInstance(store, time.Second)
		run(t, i, "127.0.0.1:8080")
		indexing, stopIndexing := context.WithCancel(context.Background())
		t.Cleanup(stopIndexing)
		go i.keys.RunIndex(indexing)
		deadline := time.Now().Add(5 * time.Second)
		for !i.keys.IndexComplete() {
			if time.Now().After(deadline) {
				t.Fatal("the index was not built within 5 s of serving")
			}
			time.Sleep(10 * time.Millisecond)
		}
		other := modelstest.Open(t, modelstest.Target{Name: string(store.Dialect()), URL: store.URL()})
		key, _ := modelstest.CreateKey(t, other, "made by another process", nil)
		_, fresh, err := other.RotateAPIKey(context.Background(), key.PublicID, models.Rotation{Grace: models.GraceHour})
		if err != nil {
			t.Fatal(err)
		}
		deadline = time.Now().Add(time.Second)
		for {
			_, err := i.keys.Verify(context.Background(), fresh)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a secret made by another process: still refused a second later (%v)", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
