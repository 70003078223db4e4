package models

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestHashMemoryGoesBackToTheSystemWhenIdle: a moment after the last hash, the heap holds no
// more than before it, so an idle server does not keep a hash's memory.
func TestHashMemoryGoesBackToTheSystemWhenIdle(t *testing.T) {
	hashes := newPasswordHashes(1, 0, 0)
	params := DefaultPasswordParams
	held := func() uint64 {
		var stats runtime.MemStats
		runtime.ReadMemStats(&stats)
		return stats.HeapSys - stats.HeapReleased
	}
	hashMemory := uint64(params.Memory) * 1024
	if err := hashes.run(context.Background(), params.Memory, func() { params.Hash("a long enough password") }); err != nil {
		t.Fatal(err)
	}
	var got uint64
	for deadline := time.Now().Add(idleMemoryReturn + 2*time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got = held(); got < hashMemory {
			return
		}
	}
	t.Errorf("heap memory held after the hash: got %d bytes, want less than one hash's %d", got, hashMemory)
}
