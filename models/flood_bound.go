package models

import (
	"sync"
	"time"
)

// floodBound bounds the audit events of a kind that anyone can make by the thousand (refused
// sign-ins, refused console requests): in each period (of Unix time) the first few events of
// each key (a client address, an actor) are let through, to be recorded one by one, and the
// others are counted in a C, for one summary event once the period is over. Its memory holds
// the current period's counts only, of a bounded number of keys apart; the keys past them
// share one count, so that no flood of keys makes it grow. Its limits are given with each
// call, so that the zero value is ready to use.
type floodBound[C any] struct {
	mu   sync.Mutex
	keys map[string]*floodCount[C]
}

// floodLimits are a floodBound's limits: its period, how many events of a key each period
// lets through, how many keys it counts apart, and the key of the others' shared count.
type floodLimits struct {
	period    time.Duration
	perPeriod int
	maxKeys   int
	others    string
}

// number is the number of the period that at falls in.
func (l floodLimits) number(at time.Time) int64 { return at.Unix() / int64(l.period/time.Second) }

// floodCount is one key's period: how many of its events were let through, and the counts of
// the others.
type floodCount[C any] struct {
	period   int64
	recorded int
	// counted tells whether any event was counted rather than let through, and last when the
	// last one was.
	counted bool
	last    time.Time
	counts  C
}

// floodOver is the counts of a key's period that is over, for its summary.
type floodOver[C any] struct {
	// key is the key counted, or the limits' others for the keys past maxKeys.
	key string
	// from is when the period began, and last when its last event counted came.
	from, last time.Time
	counts     C
}

// admit tells whether an event of key at now is let through; otherwise count adds it to the
// counts of its key's period. It returns the counts of key's earlier period when it finds it
// over.
func (b *floodBound[C]) admit(l floodLimits, key string, now time.Time, count func(*C)) (bool, []floodOver[C]) {
	period := l.number(now)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.keys == nil {
		b.keys = map[string]*floodCount[C]{}
	}
	if _, counted := b.keys[key]; !counted && len(b.keys) >= l.maxKeys {
		key = l.others
	}
	var due []floodOver[C]
	counts := b.keys[key]
	if counts != nil && counts.period != period {
		due = take(l, key, counts)
		counts = nil
	}
	if counts == nil {
		counts = &floodCount[C]{period: period}
		b.keys[key] = counts
	}
	if counts.recorded < l.perPeriod {
		counts.recorded++
		return true, due
	}
	count(&counts.counts)
	counts.counted, counts.last = true, now
	return false, due
}

// over takes the counts of every period before now's, or of every period when all is set (at
// a stop, when the counts would be lost), and forgets those periods.
func (b *floodBound[C]) over(l floodLimits, now time.Time, all bool) []floodOver[C] {
	period := l.number(now)
	b.mu.Lock()
	defer b.mu.Unlock()
	var due []floodOver[C]
	for key, counts := range b.keys {
		if all || counts.period < period {
			due = append(due, take(l, key, counts)...)
			delete(b.keys, key)
		}
	}
	return due
}

// take is the counts of key's period, none when every event was let through.
func take[C any](l floodLimits, key string, counts *floodCount[C]) []floodOver[C] {
	if !counts.counted {
		return nil
	}
	from := time.Unix(counts.period*int64(l.period/time.Second), 0).UTC()
	return []floodOver[C]{{key: key, from: from, last: counts.last, counts: counts.counts}}
}

// len is how many keys the bound counts apart now.
func (b *floodBound[C]) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.keys)
}
