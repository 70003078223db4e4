package keyauth

import (
	"testing"
	"time"

	"keysmith/models/modelstest"
)

// BenchmarkRecordUse measures what each authenticated request adds after verification: its use
// gathered in memory. A repeated use by the same client, the common case, takes no lock.
//
//	go test -run='^$' -bench=BenchmarkRecordUse -benchmem ./services/keyauth/
func BenchmarkRecordUse(b *testing.B) {
	store := modelstest.Open(b, modelstest.Targets(b)[0])
	v := newTestVerifier(store)
	_, secret := modelstest.CreateKey(b, store, "bench", nil)
	entry, err := checkOnly(v, b.Context(), secret)
	if err != nil {
		b.Fatal(err)
	}
	at := time.Unix(1_800_000_000, 0)
	v.RecordUse(entry, "192.0.2.1", "bench/1.0", at)
	b.Run("repeat", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v.RecordUse(entry, "192.0.2.1", "bench/1.0", at)
		}
	})
	b.Run("repeat-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				v.RecordUse(entry, "192.0.2.1", "bench/1.0", at)
			}
		})
	})
}
