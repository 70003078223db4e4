package keyauth

import (
	"context"
	"errors"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// indexedVerifier is a test verifier whose index of secret hashes is built.
func indexedVerifier(t *testing.T, store *models.Store) *Verifier {
	t.Helper()
	v := newTestVerifier(store)
	if err := v.rebuildIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !v.index.complete.Load() {
		t.Fatal("index not complete after a build")
	}
	return v
}

// wantNoStatements runs do and fails the test if the store sent any statement meanwhile.
func wantNoStatements(t *testing.T, store *models.Store, what string, do func()) {
	t.Helper()
	before := store.Statements()
	do()
	if sent := store.Statements() - before; sent != 0 {
		t.Errorf("%s: %d database statements, want none", what, sent)
	}
}

// A well-formed secret that no key holds, nor held within the tombstones' 30 days, is refused
// without a single statement, however many such secrets come: passed on as RequireKey passes a
// refusal on, the refusal writer queues nothing for them either. Every secret the store holds is still looked up: a
// key's current and previous secret, which authenticate, and a deleted key's, which the audit
// log names.
func TestIndexRefusesUnknownKeysWithoutTheDatabase(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		_, current := modelstest.CreateKey(t, store, "in use", nil)
		rotating, previous := modelstest.CreateKey(t, store, "rotating", nil)
		if _, _, err := store.RotateAPIKey(ctx, rotating.PublicID, models.Rotation{Grace: models.GraceDay}); err != nil {
			t.Fatal(err)
		}
		gone, deleted := modelstest.CreateKey(t, store, "deleted", nil)
		if _, err := store.DeleteAPIKey(ctx, gone.PublicID); err != nil {
			t.Fatal(err)
		}
		v := newTestVerifier(store)
		if err := v.rebuildIndex(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := v.index.len(), 4; got != want {
			t.Errorf("index entries: got %d, want %d (two current secrets, a previous one, a tombstone)", got, want)
		}

		wantNoStatements(t, store, "1,000 unknown keys", func() {
			for range 1000 {
				_, result, err := v.Check(ctx, models.GenerateSecret())
				if !errors.Is(err, ErrKeyRefused) || result != ResultUnknown {
					t.Fatalf("unknown key: got %v, %v; want ErrKeyRefused, unknown", result, err)
				}
				if refusal := RefusalOf(err); refusal != nil {
					v.NoteRefusal(refusal, result, RefusedRequest{Route: "GET /api/v1/ping", At: store.Now()})
				}
			}
			if err := v.FlushRefusals(ctx); err != nil {
				t.Fatal(err)
			}
		})
		if got := counted(t, v.metrics.indexRefusals); got != 1000 {
			t.Errorf("index refusals: got %v, want 1000", got)
		}
		if got := counted(t, v.metrics.cacheMisses); got != 0 {
			t.Errorf("lookups for unknown keys: got %v, want 0", got)
		}

		for _, secret := range []string{current, previous} {
			if _, err := v.Verify(ctx, secret); err != nil {
				t.Errorf("a secret the store holds: got %v, want its key", err)
			}
		}
		before := store.Statements()
		wantRefused(t, v, deleted, "a deleted key's secret")
		if store.Statements() == before {
			t.Error("a deleted key's secret was refused without a lookup: its tombstone names the key for the audit log")
		}
		if got := counted(t, v.metrics.indexRefusals); got != 1000 {
			t.Errorf("index refusals after the store's secrets: got %v, want still 1000", got)
		}
	})
}

// A secret that begins to work is in the index as soon as the verifier hears of it: at once
// for a key this instance makes, through the notice for one made elsewhere. Until that notice,
// the secret is refused like any unknown one; that is the window, as short as a revocation's,
// in which a key made on another instance is not yet accepted here.
func TestIndexLearnsNewSecretsFromNotices(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		v := indexedVerifier(t, store)

		_, secret := modelstest.CreateKey(t, store, "made here", nil)
		if _, err := v.Verify(ctx, secret); err != nil {
			t.Errorf("a key made through the verifier's store: got %v, want it at once", err)
		}

		elsewhere, elsewhereSecret := modelstest.CreateKey(t, openAgain(t, store), "made elsewhere", nil)
		wantNoStatements(t, store, "a key made elsewhere, before its notice", func() {
			wantRefused(t, v, elsewhereSecret, "before its notice")
		})
		v.Apply(models.KeyNotice{KeyID: elsewhere.ID, Hashes: []string{elsewhere.SecretHash}})
		if _, err := v.Verify(ctx, elsewhereSecret); err != nil {
			t.Errorf("once its notice is heard: got %v, want the key", err)
		}

		// A rotation elsewhere announces the new secret with the ones it replaces.
		rotated, fresh, err := openAgain(t, store).RotateAPIKey(ctx, elsewhere.PublicID, models.Rotation{Grace: models.GraceHour})
		if err != nil {
			t.Fatal(err)
		}
		wantRefused(t, v, fresh, "a new secret made elsewhere, before its notice")
		v.Apply(models.KeyNotice{KeyID: rotated.ID, Hashes: rotated.SecretHashes(), Revoked: true, NothingEnded: true})
		if _, err := v.Verify(ctx, fresh); err != nil {
			t.Errorf("a new secret once its notice is heard: got %v, want the key", err)
		}
	})
}

// The index answers only while complete: from a build until notices may be missed (the
// revocation listener lost), and again after the next build, which trust restored asks for.
// Meanwhile unknown keys are looked up, as before the index.
func TestIndexAnswersOnlyWhileComplete(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		v := newTestVerifier(store)
		lookups := func() float64 { return counted(t, v.metrics.cacheMisses) }

		wantRefused(t, v, models.GenerateSecret(), "before any build")
		if got := lookups(); got != 1 {
			t.Fatalf("before any build: got %v lookups, want 1", got)
		}
		if err := v.rebuildIndex(ctx); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, v, models.GenerateSecret(), "once built")
		if got := lookups(); got != 1 {
			t.Errorf("once built: got %v lookups, want still 1", got)
		}

		v.Distrust()
		// A key made while nobody listened: no notice will tell of it.
		_, missed := modelstest.CreateKey(t, openAgain(t, store), "made while nobody listened", nil)
		v.RestoreTrust(time.Now().Add(time.Hour))
		select {
		case <-v.indexWanted:
		default:
			t.Fatal("trust restored without asking for a build")
		}
		if _, err := v.Verify(ctx, missed); err != nil {
			t.Errorf("a key made while notices were missed, before the next build: got %v, want it looked up", err)
		}
		wantRefused(t, v, models.GenerateSecret(), "an unknown key before the next build")
		if got := lookups(); got != 3 {
			t.Errorf("before the next build: got %v lookups, want 3", got)
		}
		if err := v.rebuildIndex(ctx); err != nil {
			t.Fatal(err)
		}
		v.Evict(models.HashSecret(missed))
		if _, err := v.Verify(ctx, missed); err != nil {
			t.Errorf("a key made while notices were missed, after the build: got %v, want it", err)
		}
		wantRefused(t, v, models.GenerateSecret(), "an unknown key after the build")
		if got := lookups(); got != 4 {
			t.Errorf("after the next build: got %v lookups, want 4 (the evicted key only)", got)
		}
	})
}

// A build keeps the hashes announced while it reads the store, which its read may have missed;
// one during which notices may have been missed leaves the index incomplete; one that fails
// leaves it as it was.
func TestIndexBuildRacesWithNotices(t *testing.T) {
	var x secretIndex
	stored := models.HashSecret(models.GenerateSecret())
	announced := models.HashSecret(models.GenerateSecret())
	sumOf := func(hash string) *[32]byte {
		var sum [32]byte
		if !decodeHash(&sum, hash) {
			t.Fatalf("not a hash: %q", hash)
		}
		return &sum
	}
	read := func(during func()) func(context.Context, func([]byte)) error {
		return func(_ context.Context, fn func([]byte)) error {
			fn([]byte(stored))
			during()
			return nil
		}
	}
	if err := x.rebuild(context.Background(), read(func() { x.add([]string{announced}) })); err != nil {
		t.Fatal(err)
	}
	for _, hash := range []string{stored, announced} {
		if x.lacks(sumOf(hash)) {
			t.Errorf("after a build: lacks %s", hash)
		}
	}
	if unknown := models.HashSecret(models.GenerateSecret()); !x.lacks(sumOf(unknown)) {
		t.Error("after a build: holds a hash never stored nor announced")
	}

	if err := x.rebuild(context.Background(), read(x.invalidate)); err != nil {
		t.Fatal(err)
	}
	if x.complete.Load() {
		t.Error("complete after a build during which notices may have been missed")
	}

	if err := x.rebuild(context.Background(), read(func() {})); err != nil {
		t.Fatal(err)
	}
	failed := errors.New("database gone")
	err := x.rebuild(context.Background(), func(context.Context, func([]byte)) error { return failed })
	if !errors.Is(err, failed) {
		t.Errorf("a failed build: got %v, want its error", err)
	}
	if !x.complete.Load() || x.lacks(sumOf(stored)) {
		t.Error("a failed build changed the index it left")
	}
}
