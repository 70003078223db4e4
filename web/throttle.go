package web

import (
	"math"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Login throttling: each failed attempt spends a token; an account gets 5 and a client address
// 20, refilled at one a minute. With no token left, logins are refused until one comes back.
const (
	accountBurst = 5
	addressBurst = 20
	refillEvery  = time.Minute
	// throttleForget drops idle limiters, which by then are full again.
	throttleForget = time.Duration(addressBurst) * refillEvery
	// throttleCapacity bounds the memory the throttle may use; past it, sign-ins wait.
	throttleCapacity = 100_000
	// maxEmailLength is the longest address RFC 5321 allows; longer input names no account.
	maxEmailLength = 254
)

// LoginThrottle counts failed logins per account and per client address on this instance.
type LoginThrottle struct {
	mu       sync.Mutex
	limiters map[string]*entry
	now      func() time.Time
	lastGC   time.Time
}

type entry struct {
	limiter *rate.Limiter
	// inFlight counts attempts whose password is being checked; they count against the
	// limit until their outcome is known.
	inFlight int
	lastUsed time.Time
}

// NewLoginThrottle returns an empty throttle.
func NewLoginThrottle() *LoginThrottle {
	return &LoginThrottle{limiters: map[string]*entry{}, now: time.Now}
}

// SetClock replaces the throttle's clock; tests use it to let time pass.
func (t *LoginThrottle) SetClock(now func() time.Time) { t.now = now }

// Attempt is called before a password is checked. When the account or the address has no
// attempt left it returns how long to wait. Otherwise it holds one attempt of each while the
// password is checked, so that guesses sent in parallel cannot all get through before the
// first one fails, and returns done, to be called with the outcome: only a failure spends it.
func (t *LoginThrottle) Attempt(email, address string) (wait time.Duration, done func(failed bool)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.forgetIdle(now)
	keys := []struct {
		key   string
		burst int
	}{
		{"account:" + accountKey(email), accountBurst},
		{"address:" + address, addressBurst},
	}
	for _, k := range keys {
		if e, ok := t.limiters[k.key]; ok {
			if tokens := e.limiter.TokensAt(now) - float64(e.inFlight); tokens < 1 {
				wait = max(wait, time.Duration(math.Ceil((1-tokens)*float64(refillEvery))))
			}
		}
	}
	if wait == 0 && len(t.limiters)+len(keys) > throttleCapacity {
		wait = refillEvery
	}
	if wait > 0 {
		return wait, nil
	}
	held := make([]*entry, 0, len(keys))
	for _, k := range keys {
		e, ok := t.limiters[k.key]
		if !ok {
			e = &entry{limiter: rate.NewLimiter(rate.Every(refillEvery), k.burst)}
			t.limiters[k.key] = e
		}
		e.lastUsed = now
		e.inFlight++
		held = append(held, e)
	}
	return 0, func(failed bool) {
		t.mu.Lock()
		defer t.mu.Unlock()
		for _, e := range held {
			e.inFlight--
			if failed {
				e.limiter.AllowN(t.now(), 1)
			}
		}
	}
}

// accountKey normalises an email the way accounts are looked up, bounded in length.
func accountKey(email string) string {
	email = strings.ToLower(strings.TrimSpace(email))
	if len(email) > maxEmailLength {
		email = email[:maxEmailLength]
	}
	return email
}

// forgetIdle drops limiters nobody used for a while; they are full again by then.
func (t *LoginThrottle) forgetIdle(now time.Time) {
	if now.Sub(t.lastGC) < throttleForget && len(t.limiters) < throttleCapacity {
		return
	}
	for key, e := range t.limiters {
		if now.Sub(e.lastUsed) > throttleForget && e.inFlight == 0 {
			delete(t.limiters, key)
		}
	}
	t.lastGC = now
}
