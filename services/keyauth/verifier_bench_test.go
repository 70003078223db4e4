package keyauth

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// checkOnly is the verification a request makes (RequireKey's), without making the models'
// key that Verify returns for other callers.
func checkOnly(v *Verifier, ctx context.Context, secret string) (*Entry, error) {
	entry, _, err := v.Check(ctx, secret)
	return entry, err
}

// BenchmarkVerify measures the verification path on each database: a key found in the cache,
// a key looked up in the store (the untrusted verifier bypasses the cache, as it does while
// the revocation listener is down), a well-formed unknown key presented again (answered from
// memory after its first lookup), and a wrong checksum, refused before any lookup.
//
//	go test -run='^$' -bench=BenchmarkVerify -benchmem ./services/keyauth/
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	for _, target := range modelstest.Targets(b) {
		store := modelstest.Open(b, target)
		v := newTestVerifier(store)
		_, secret := modelstest.CreateKey(b, store, "bench", nil)
		wrongChecksum := secret[:len(secret)-1] + "0"
		if secret[len(secret)-1] == '0' {
			wrongChecksum = secret[:len(secret)-1] + "1"
		}

		b.Run(target.Name+"/cache-hit", func(b *testing.B) {
			if _, err := checkOnly(v, ctx, secret); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := checkOnly(v, ctx, secret); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(target.Name+"/cache-hit-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := checkOnly(v, ctx, secret); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run(target.Name+"/cache-miss", func(b *testing.B) {
			v.Distrust()
			defer v.RestoreTrust(time.Now().Add(time.Hour))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := checkOnly(v, ctx, secret); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(target.Name+"/unknown-repeated", func(b *testing.B) {
			unknown := models.GenerateSecret()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := checkOnly(v, ctx, unknown); !errors.Is(err, ErrKeyRefused) {
					b.Fatalf("got %v, want ErrKeyRefused", err)
				}
			}
		})
		b.Run(target.Name+"/bad-checksum", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := checkOnly(v, ctx, wrongChecksum); !errors.Is(err, ErrKeyRefused) {
					b.Fatalf("got %v, want ErrKeyRefused", err)
				}
			}
		})
	}
}

// BenchmarkRefresh measures one batch of the cache's background refresh: refreshBatch cached
// keys in use, read again from the store and put back in the cache, as in the last 30 s of
// their trust. Its cost per key is what a steady state with many keys in use pays for each
// key every few minutes.
//
//	go test -run='^$' -bench=BenchmarkRefresh -benchmem ./services/keyauth/
func BenchmarkRefresh(b *testing.B) {
	ctx := context.Background()
	for _, target := range modelstest.Targets(b) {
		store := modelstest.Open(b, target)
		v := newTestVerifier(store)
		sums := make([][32]byte, refreshBatch)
		for i := range sums {
			_, secret := modelstest.CreateKey(b, store, fmt.Sprintf("bench %d", i), nil)
			if _, err := checkOnly(v, ctx, secret); err != nil {
				b.Fatal(err)
			}
			sums[i] = secretSum(secret)
		}
		b.Run(target.Name, func(b *testing.B) {
			b.ReportAllocs()
			batch := make([]queuedRefresh, len(sums))
			for b.Loop() {
				now, epoch := store.Now(), v.epoch.Load()
				v.mu.RLock()
				for i, sum := range sums {
					batch[i] = queuedRefresh{sum: sum, entry: v.cache[sum], now: now, epoch: epoch}
				}
				v.mu.RUnlock()
				v.refresh(batch)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(sums)), "ns/key")
		})
	}
}

// BenchmarkCacheMemory measures the memory each key in use holds on an instance: its cache
// entry, as a lookup makes it, with its first use gathered and written, and its prefix in the
// index of secret hashes, built as RunIndex builds it. It reports the heap in use per key after a garbage collection, for
// 100,000 keys, the size of bench/verify.sh --keys 100000; -memprofile shows where it goes.
//
//	go test -run='^$' -bench=BenchmarkCacheMemory -benchmem -memprofile=mem.out ./services/keyauth/ && go tool pprof -sample_index=inuse_space -top keyauth.test mem.out
func BenchmarkCacheMemory(b *testing.B) {
	const keys = 100_000
	store := modelstest.Open(b, modelstest.Targets(b)[0])
	for b.Loop() {
		v := newTestVerifier(store)
		now := store.Now()
		secrets := make([]string, keys)
		hashes := make([][]byte, keys)
		for i := range secrets {
			secrets[i] = models.GenerateSecret()
			hashes[i] = []byte(models.HashSecret(secrets[i]))
		}
		heapInUse := func() uint64 {
			runtime.GC()
			var stats runtime.MemStats
			runtime.ReadMemStats(&stats)
			return stats.HeapAlloc
		}
		before := heapInUse()
		for i, secret := range secrets {
			// As the store reads a key: each text a string of its own.
			key := &models.APIKey{ID: int64(i + 1), PublicID: "ak_" + strings.Repeat("x", 12) + fmt.Sprintf("%04d", i%10000),
				Name: fmt.Sprintf("bench verify %d", i+1), Scope: models.ScopeReadOnly, SecretHash: models.HashSecret(secret)}
			entry, err := newEntry(key, now, v.generation.Load(), false)
			if err != nil {
				b.Fatal(err)
			}
			v.cache[secretSum(secret)] = entry
			v.RecordUse(entry, "127.0.0.1", "wrk", now)
		}
		if err := v.FlushUsage(context.Background()); err != nil {
			b.Fatal(err)
		}
		cached := heapInUse()
		// As RunIndex builds it: read from the store, one hash at a time.
		err := v.index.rebuild(context.Background(), func(_ context.Context, fn func([]byte)) error {
			for _, hash := range hashes {
				fn(hash)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		indexed := heapInUse()
		runtime.KeepAlive(hashes)
		b.ReportMetric(float64(cached-before)/keys, "cache-B/key")
		b.ReportMetric(float64(indexed-cached)/keys, "index-B/key")
		runtime.KeepAlive(v)
		runtime.KeepAlive(secrets)
	}
}
