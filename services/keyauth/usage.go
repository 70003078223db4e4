package keyauth

import (
	"context"
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"keysmith/models"
)

const (
	// usageFlushInterval is how often gathered key uses are written, in one batch.
	usageFlushInterval = 2 * time.Second
	// maxPendingUses bounds the uses (key, client, address) held in memory while the database
	// cannot take them. A key's first use is held past it, so every key keeps its last use
	// however many keys there are; only more clients of keys already held are given up.
	maxPendingUses = 200_000
	// maxHeldCounts bounds the daily request counts (a key's day each) held while the database
	// cannot take them. Requests of a key and day already held add up in place; only those of
	// other keys and days past the bound are given up, and counted in the log.
	maxHeldCounts = 200_000
	// shutdownFlushRetry is how long the last write of uses waits between tries at shutdown.
	shutdownFlushRetry = 250 * time.Millisecond
	// useWriteInterval is how far a recorded last use of a key's current secret may lag behind
	// the real one: a use by the same key, client and address within it of the one last
	// written is not written again. A key in constant use then costs one write every 4 to 5
	// minutes (see useWriteSpread), not one each flush, however many keys are in use: with
	// 100,000 keys in use, rewriting each every minute cost verification a tenth of its speed
	// (bench/README.md). GitLab, for one, refreshes a token's last use every 10 minutes.
	useWriteInterval = 5 * time.Minute
	// useWriteSpread is how much shorter than useWriteInterval a key's own interval may be
	// (useWriteSeconds). Keys first used together, as after a restart, would otherwise be
	// written again together, every interval: with 100,000 keys that is 100,000 uses gathered
	// for one flush, about 30 MB held at once. Spread, each flush writes a share of them.
	useWriteSpread = time.Minute
	// previousUseWriteInterval and previousUseWriteSpread are the same for a rotated key's
	// previous secret, whose last use ends an until-unused grace: it lags a minute at most, so
	// the grace's hour runs from a use up to a minute old.
	previousUseWriteInterval = time.Minute
	previousUseWriteSpread   = 30 * time.Second
	// countWriteInterval is how often the flusher writes the requests counted per key and day.
	// Every key in use has a count each time, so writing them every flush would cost a write
	// per key in use every few seconds, which the last uses were spread out to avoid; the key
	// page, the delete page and a stop write them at once.
	countWriteInterval = time.Minute
)

// useWriteSeconds is the key's write interval in seconds: between useWriteInterval less
// useWriteSpread and useWriteInterval (for its previous secret, the previousUseWrite ones),
// the same for a key every time, and different for keys with neighbouring ids, so that their
// writes drift apart.
func useWriteSeconds(keyID int64, previous bool) int64 {
	interval, spread := useWriteInterval, useWriteSpread
	if previous {
		interval, spread = previousUseWriteInterval, previousUseWriteSpread
	}
	return int64(interval/time.Second) - int64(uint64(keyID)%(uint64(spread/time.Second)+1))
}

// usageGatherer holds the uses of keys between two writes.
type usageGatherer struct {
	metrics *keyMetrics

	// seed keys useFingerprint, a different one in each process.
	seed maphash.Seed

	mu   sync.Mutex
	uses map[usageKey]pendingUse
	// perKey counts uses' entries per api key id, so that no key gathers more than
	// models.MaxClientsPerKey clients between two flushes, whatever its holder sends.
	perKey map[int64]int
	// dropped holds, per api key id, the uses left out at the memory bound since they were
	// last counted in the log.
	dropped  map[int64]int
	scanners sync.Map // api key id → scanner name from its last check-in

	// counted lists, newest first, the day counts holding requests not yet taken: a count
	// joins it, without a lock, with its first request since it was last taken, and a flush
	// takes the whole list (takeCounts).
	counted atomic.Pointer[dayCount]
	// heldCounts are requests per key and day taken but not yet written, while the database
	// could not take them; under mu.
	heldCounts map[dayKey]int64
	// uncounted holds, per api key id, the requests given up at the memory bound since they
	// were last counted in the log; under mu.
	uncounted map[int64]int64
	// refused counts the refused requests of known keys per key and day, not yet written, and
	// those held after flushes that failed; under mu, as a refusal already takes a lock to be
	// passed on to the audit log. It holds maxHeldCounts keys and days at most.
	refused map[dayKey]int64
}

type usageKey struct {
	keyID      int64
	client, ip string
	// previous tells the uses of a rotated key's previous secret from those of its current one.
	previous bool
}

// dayKey names a key's day: its api key id and the day's models.UnixDay.
type dayKey struct{ keyID, day int64 }

// dayCount counts a key's requests on one day (UTC) without a lock: each request adds one, and
// a flush takes the sum. It is on the gatherer's counted list from its first request after it
// was last taken until it is taken again, so never twice.
type dayCount struct {
	dayKey
	n atomic.Int64
	// next is the count after it on the counted list.
	next *dayCount
}

// pendingUse is a use to write, with the cache entry of its key and the fingerprint of its
// client and address, so that the entry learns when it is written.
type pendingUse struct {
	use         models.APIKeyUse
	entry       *Entry
	fingerprint uint32
}

// useFingerprint names a client and an address in 32 bits, for a cache entry to tell whether a
// use comes from the same client and address as the one before without holding their text:
// two of a key's clients that share one, a chance of one in four billion, have the uses of one
// written within the other's write interval only.
func (g *usageGatherer) useFingerprint(client, ip string) uint32 {
	// The address's hash is turned, so that a client and an address swapped differ.
	return uint32((maphash.String(g.seed, client) ^ bits.RotateLeft64(maphash.String(g.seed, ip), 29)) >> 32)
}

func (g *usageGatherer) init(metrics *keyMetrics) {
	g.metrics = metrics
	g.seed = maphash.MakeSeed()
	g.uses = map[usageKey]pendingUse{}
	g.perKey = map[int64]int{}
	g.dropped = map[int64]int{}
	g.heldCounts = map[dayKey]int64{}
	g.uncounted = map[int64]int64{}
	g.refused = map[dayKey]int64{}
}

// pending is how many uses wait to be written.
func (g *usageGatherer) pending() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.uses)
}

// forget drops what is remembered of a deleted key's uses beside its cache entry.
func (g *usageGatherer) forget(keyID int64) {
	g.scanners.Delete(keyID)
}

// RecordUse gathers one use in memory; FlushUsage writes what was gathered. Every use is
// counted for its day, without a lock (countRequest). Last use is kept to the second, and
// written again only the key's write interval (useWriteSeconds) after the last written: a use
// by the same client and address as the key's last, within the same second or within the
// interval of the last written, changes nothing more, and returns without taking the lock
// every request would otherwise contend for.
func (v *Verifier) RecordUse(entry *Entry, ip, userAgent string, at time.Time) {
	v.usage.countRequest(entry, at)
	v.recordLastUse(entry, ip, userAgent, at)
}

// RecordRefusedUse gathers the use of a key refused for its scope as RecordUse does, but
// counts no request for its day: NoteRefusal counts it as refused.
func (v *Verifier) RecordRefusedUse(entry *Entry, ip, userAgent string, at time.Time) {
	v.recordLastUse(entry, ip, userAgent, at)
}

// recordLastUse is RecordUse but for the count of the day's requests.
func (v *Verifier) recordLastUse(entry *Entry, ip, userAgent string, at time.Time) {
	g := &v.usage
	client, scanner := userAgent, false
	// Only a Scanner key checks in, so only its uses look for a scanner's name.
	if entry.Scope() == models.ScopeScanner {
		if name, ok := g.scanners.Load(entry.id); ok {
			client, scanner = name.(string), true
		}
	}
	client = models.CleanClientName(client)
	second := at.Unix()
	fingerprint := g.useFingerprint(client, ip)
	if last := entry.lastUse.Load(); last != 0 && uint32(last>>32) == fingerprint {
		written := int64(entry.lastUseWritten.Load())
		if int64(uint32(last)) == second || (written != 0 && second-written < useWriteSeconds(entry.id, entry.previous)) {
			return
		}
	} else {
		// Another client or address: none of its uses is written yet, as far as the entry
		// knows.
		entry.lastUseWritten.Store(0)
	}
	entry.lastUse.Store(uint64(fingerprint)<<32 | uint64(uint32(second)))
	g.mu.Lock()
	g.gather(models.APIKeyUse{APIKeyID: entry.id, At: time.Unix(second, 0).UTC(), IP: ip, Client: client, Scanner: scanner, Previous: entry.previous}, entry, fingerprint)
	g.mu.Unlock()
}

// countRequest adds one to the entry's requests on at's day. A count's first request since a
// flush took it puts it on the counted list, for the next flush.
func (g *usageGatherer) countRequest(entry *Entry, at time.Time) {
	day := models.UnixDay(at)
	c := entry.requests.Load()
	for c == nil || c.day != day {
		// A new day, or around midnight a request of the day before: each day gets a count of
		// its own, and the count replaced keeps what it holds for the flush.
		fresh := &dayCount{dayKey: dayKey{keyID: entry.id, day: day}}
		if entry.requests.CompareAndSwap(c, fresh) {
			c = fresh
			break
		}
		c = entry.requests.Load()
	}
	if c.n.Add(1) != 1 {
		return
	}
	for {
		head := g.counted.Load()
		c.next = head
		if g.counted.CompareAndSwap(head, c) {
			return
		}
	}
}

// takeCounts takes the requests counted since the last flush, with those held after flushes
// that failed.
func (g *usageGatherer) takeCounts() map[dayKey]int64 {
	g.mu.Lock()
	counts := g.heldCounts
	g.heldCounts = map[dayKey]int64{}
	g.mu.Unlock()
	for c := g.counted.Swap(nil); c != nil; {
		// Read before the count is taken: from then on a request may put it on the next list.
		next := c.next
		counts[c.dayKey] += c.n.Swap(0)
		c = next
	}
	return counts
}

// holdCounts keeps counts that could not be written for the next flush. Past maxHeldCounts
// keys and days, the requests of a key and day not held yet are given up, and counted for
// the log and the metrics.
func (g *usageGatherer) holdCounts(counts map[dayKey]int64) { g.hold(&g.heldCounts, counts) }

// hold adds counts to the map held points to, under the gatherer's lock: past maxHeldCounts
// keys and days, the counts of a key and day not held yet are given up, and counted for the
// log and the metrics.
func (g *usageGatherer) hold(held *map[dayKey]int64, counts map[dayKey]int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, n := range counts {
		if _, ok := (*held)[k]; !ok && len(*held) >= maxHeldCounts {
			g.uncounted[k.keyID] += n
			g.metrics.requestsUncounted.Add(float64(n))
			continue
		}
		(*held)[k] += n
	}
}

// countRefused adds one to the refused requests of the key with api key id keyID on at's
// day. Past maxHeldCounts keys and days, the refusal of a key and day not held yet is given
// up, and counted for the log and the metrics as the requests are.
func (g *usageGatherer) countRefused(keyID int64, at time.Time) {
	k := dayKey{keyID: keyID, day: models.UnixDay(at)}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, held := g.refused[k]; !held && len(g.refused) >= maxHeldCounts {
		g.uncounted[keyID]++
		g.metrics.requestsUncounted.Inc()
		return
	}
	g.refused[k]++
}

// takeRefused takes the refused requests counted since the last flush, with those held after
// flushes that failed.
func (g *usageGatherer) takeRefused() map[dayKey]int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	refused := g.refused
	g.refused = map[dayKey]int64{}
	return refused
}

// holdRefused keeps refused requests that could not be written for the next flush, within
// the bound countRefused keeps.
func (g *usageGatherer) holdRefused(refused map[dayKey]int64) { g.hold(&g.refused, refused) }

// gather adds a use to those to write, with its key's cache entry (nil for none) and the
// fingerprint of its client and address, so that the entry learns when it is written. A client its key has not been seen with since the last flush is
// left out when the key has already gathered models.MaxClientsPerKey clients (its last use is
// then already within the flush interval, and the client one of many made up), or when
// maxPendingUses are held and the key has a use among them. The caller holds mu.
func (g *usageGatherer) gather(use models.APIKeyUse, entry *Entry, fingerprint uint32) {
	k := usageKey{keyID: use.APIKeyID, client: use.Client, ip: use.IP, previous: use.Previous}
	if _, known := g.uses[k]; !known {
		held := g.perKey[use.APIKeyID]
		if held >= models.MaxClientsPerKey {
			return
		}
		if held > 0 && len(g.uses) >= maxPendingUses {
			g.metrics.usesDropped.Inc()
			g.dropped[use.APIKeyID]++
			return
		}
		g.perKey[use.APIKeyID]++
	}
	g.uses[k] = pendingUse{use: use, entry: entry, fingerprint: fingerprint}
}

// FlushUsage writes every use gathered and every request counted since the last flush in one
// batch. On failure the uses are put back, unless newer ones for the same client have arrived,
// and the counts are held, to be written at the next flush.
func (v *Verifier) FlushUsage(ctx context.Context) error {
	return v.flushUsage(ctx, true)
}

// flushUsage is FlushUsage, writing the requests and refusals counted only when withCounts: the flusher
// writes them once every countWriteInterval, not every flush, since every key in use has a
// count to write each time.
func (v *Verifier) flushUsage(ctx context.Context, withCounts bool) error {
	g := &v.usage
	g.mu.Lock()
	pending := g.uses
	// New maps rather than cleared ones, which would keep the room of the largest flush (a
	// hundred thousand keys first used together) for ever.
	g.uses, g.perKey = map[usageKey]pendingUse{}, map[int64]int{}
	g.mu.Unlock()
	var counts, refused map[dayKey]int64
	if withCounts {
		counts, refused = g.takeCounts(), g.takeRefused()
	}
	if len(pending) == 0 && len(counts) == 0 && len(refused) == 0 {
		return nil
	}
	batch := make([]models.APIKeyUse, 0, len(pending))
	for _, p := range pending {
		batch = append(batch, p.use)
	}
	days := make([]models.APIKeyDayCount, 0, len(counts)+len(refused))
	for k, n := range counts {
		days = append(days, models.APIKeyDayCount{APIKeyID: k.keyID, Day: models.UnixDayStart(k.day), Requests: n})
	}
	for k, n := range refused {
		days = append(days, models.APIKeyDayCount{APIKeyID: k.keyID, Day: models.UnixDayStart(k.day), Refused: n})
	}
	if err := v.store.RecordAPIKeyUses(ctx, batch, days); err != nil {
		g.mu.Lock()
		for k, p := range pending {
			if _, newer := g.uses[k]; !newer {
				g.gather(p.use, p.entry, p.fingerprint)
			}
		}
		g.mu.Unlock()
		g.holdCounts(counts)
		g.holdRefused(refused)
		return err
	}
	v.metrics.usesWritten.Add(float64(len(batch)))
	// The key's next uses by the same client skip the lock until the write interval has
	// passed: its entry learns when the use was written, unless another client's use came
	// since.
	for _, p := range pending {
		if p.entry != nil && uint32(p.entry.lastUse.Load()>>32) == p.fingerprint {
			p.entry.lastUseWritten.Store(uint32(p.use.At.Unix()))
		}
	}
	return nil
}

// RunUsageFlusher writes gathered uses every few seconds until ctx ends. What is gathered
// after that is for FlushUsageAtShutdown.
func (v *Verifier) RunUsageFlusher(ctx context.Context) {
	ticker := time.NewTicker(usageFlushInterval)
	defer ticker.Stop()
	countsWritten := time.Now()
	for {
		select {
		case <-ticker.C:
			withCounts := time.Since(countsWritten) >= countWriteInterval
			err := v.flushUsage(ctx, withCounts)
			if err != nil && ctx.Err() == nil {
				v.log.Error("write api key uses", "error", err)
			}
			if withCounts && err == nil {
				countsWritten = time.Now()
			}
			v.logDroppedUses()
		case <-ctx.Done():
			return
		}
	}
}

// logDroppedUses counts in the log the uses and requests left out at the memory bound since the
// last call.
func (v *Verifier) logDroppedUses() {
	g := &v.usage
	g.mu.Lock()
	uses, keys := 0, len(g.dropped)
	for _, n := range g.dropped {
		uses += n
	}
	clear(g.dropped)
	requests, countedKeys := int64(0), len(g.uncounted)
	for _, n := range g.uncounted {
		requests += n
	}
	clear(g.uncounted)
	g.mu.Unlock()
	if uses > 0 {
		v.log.Warn("last uses not written", "uses", uses, "keys", keys, "reason", "memory bound reached while the database could not take them")
	}
	if requests > 0 {
		v.log.Warn("daily request counts not written", "requests", requests, "keys", countedKeys, "reason", "memory bound reached while the database could not take them")
	}
}

// FlushUsageAtShutdown writes what is gathered, trying again until ctx ends. Uses it must give
// up are counted in one log line, "last uses not written", requests in another, "daily request
// counts not written", and both in the metrics: nothing is lost without a word.
func (v *Verifier) FlushUsageAtShutdown(ctx context.Context) {
	for {
		err := v.FlushUsage(ctx)
		if err == nil {
			return
		}
		timer := time.NewTimer(shutdownFlushRetry)
		select {
		case <-ctx.Done():
			timer.Stop()
			g := &v.usage
			g.mu.Lock()
			uses, keys := len(g.uses), len(g.perKey)
			g.mu.Unlock()
			if uses > 0 {
				v.metrics.usesDropped.Add(float64(uses))
				v.log.Error("last uses not written", "uses", uses, "keys", keys, "error", err)
			}
			requests, countedKeys := int64(0), map[int64]bool{}
			for _, counts := range []map[dayKey]int64{g.takeCounts(), g.takeRefused()} {
				for k, n := range counts {
					requests += n
					countedKeys[k.keyID] = true
				}
			}
			if requests > 0 {
				v.metrics.requestsUncounted.Add(float64(requests))
				v.log.Error("daily request counts not written", "requests", requests, "keys", len(countedKeys), "error", err)
			}
			return
		case <-timer.C:
			v.log.Warn("write api key uses at shutdown: trying again", "error", err)
		}
	}
}
