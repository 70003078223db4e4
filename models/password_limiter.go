package models

import (
	"context"
	"errors"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// ErrPasswordHashBusy means that as many passwords as the memory allows are being checked and
// the short queue behind them is full, or did not move in time. Nothing was checked or
// counted: the client may try again in a moment.
var ErrPasswordHashBusy = errors.New("models: too many passwords being checked at once")

// Default bounds of the password hashes a store runs at once.
const (
	// maxHashesAtOnce caps the hashes running at once, whatever GOMAXPROCS says. Each takes
	// 19 MiB, and Go's collector lets the heap grow to about twice what is live, so each costs
	// about 40 MB of resident memory under load (measured in bench/README.md: 4 at once pass
	// 200 MB). Two check about 60 passwords a second, far more than people sign in.
	maxHashesAtOnce = 2
	// hashQueuePerSlot is how many checks may queue for each hash allowed at once.
	hashQueuePerSlot = 8
	// hashQueueWait bounds how long a check waits in the queue.
	hashQueueWait = time.Second
	// idleMemoryReturn is how long after the last hash the memory of the hashes goes back to
	// the system.
	idleMemoryReturn = time.Second
)

// passwordHashes bounds the memory argon2id takes across every check a store makes. A few
// checks are admitted at once: as many as may hash at once, and a short queue. The others are
// refused at once, before any database work. Admitted checks hash while their memory fits in a
// budget of a few hashes with the current parameters, and wait for it a bounded time. A hash
// made with more memory (parameters of the past) takes a larger share of the budget.
type passwordHashes struct {
	memory    *semaphore.Weighted
	budget    int64 // KiB
	maxChecks int64
	maxWait   time.Duration

	// checks are the checks admitted and not yet done, from before their database work to
	// after it.
	checks  atomic.Int64
	running atomic.Int64
	waiting atomic.Int64
	done    atomic.Int64
	// returnPending is set while a return of memory to the system is scheduled.
	returnPending atomic.Bool
}

// newPasswordHashes allows slots hashes with the current parameters at once, and queued more
// checks to wait for them, for at most wait.
func newPasswordHashes(slots, queued int, wait time.Duration) *passwordHashes {
	budget := int64(slots) * int64(currentPasswordParams().Memory)
	return &passwordHashes{memory: semaphore.NewWeighted(budget), budget: budget, maxChecks: int64(slots + queued), maxWait: wait}
}

// defaultPasswordHashes allows one hash per core, up to maxHashesAtOnce: argon2id is
// CPU-bound, so more than the cores would only add memory.
func defaultPasswordHashes() *passwordHashes {
	slots := min(max(runtime.GOMAXPROCS(0), 1), maxHashesAtOnce)
	return newPasswordHashes(slots, slots*hashQueuePerSlot, hashQueueWait)
}

// admit lets a check in, and returns the function that lets it out, unless as many as allowed
// are under way: then it is ErrPasswordHashBusy, at once. SignIn asks first, so that a flood is
// answered at once and costs the database nothing.
func (h *passwordHashes) admit() (leave func(), err error) {
	if h.checks.Add(1) > h.maxChecks {
		h.checks.Add(-1)
		return nil, ErrPasswordHashBusy
	}
	return func() { h.checks.Add(-1) }, nil
}

// run calls hash, which takes memory KiB, once the memory is free: at once, or after waiting
// for it. A wait past its bound is ErrPasswordHashBusy; a caller that gives up while waiting
// gets its context's error.
func (h *passwordHashes) run(ctx context.Context, memory uint32, hash func()) error {
	weight := min(int64(memory), h.budget)
	if !h.memory.TryAcquire(weight) {
		h.waiting.Add(1)
		waitCtx, cancel := context.WithTimeout(ctx, h.maxWait)
		err := h.memory.Acquire(waitCtx, weight)
		cancel()
		h.waiting.Add(-1)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return ErrPasswordHashBusy
		}
	}
	h.running.Add(1)
	hash()
	h.done.Add(1)
	h.running.Add(-1)
	h.memory.Release(weight)
	h.returnMemoryWhenIdle()
	return nil
}

// returnMemoryWhenIdle gives the memory of the hashes back to the system once no check has
// been under way for idleMemoryReturn. Go's collector frees a hash's 19 MiB, but the runtime
// keeps the pages for minutes (measured: 62 MB resident 20 s after two sign-ins, 43 MB after
// 200 s, against 22 MB before), so an idle server would hold them. It costs one forced
// collection after each burst of sign-ins, at most one every idleMemoryReturn, and none while
// a flood goes on.
func (h *passwordHashes) returnMemoryWhenIdle() {
	if !h.returnPending.CompareAndSwap(false, true) {
		return
	}
	var whenIdle func()
	whenIdle = func() {
		if h.checks.Load() > 0 {
			time.AfterFunc(idleMemoryReturn, whenIdle)
			return
		}
		h.returnPending.Store(false)
		debug.FreeOSMemory()
	}
	time.AfterFunc(idleMemoryReturn, whenIdle)
}

// PasswordHashStats says what a store's password checks are doing, for the metrics.
type PasswordHashStats struct {
	// Running and Waiting are the checks hashing now and those waiting for memory.
	Running, Waiting int64
	// Done counts the checks run since the store was opened (a re-hash at sign-in is part of
	// its check).
	Done int64
}

// PasswordHashStats returns what the store's password checks are doing.
func (s *Store) PasswordHashStats() PasswordHashStats {
	h := s.hashes.Load()
	return PasswordHashStats{Running: h.running.Load(), Waiting: h.waiting.Load(), Done: h.done.Load()}
}

// SetPasswordHashLimit replaces the bounds of the password checks the store runs: slots
// hashes with the current parameters at once, queued checks waiting at most wait. Call it
// before the store is used; tests use it to fill the limit with few requests.
func (s *Store) SetPasswordHashLimit(slots, queued int, wait time.Duration) {
	s.hashes.Store(newPasswordHashes(slots, queued, wait))
}
