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
)

// LoginThrottle counts failed logins per account and per client address on this instance.
type LoginThrottle struct {
	mu       sync.Mutex
	limiters map[string]*entry
	now      func() time.Time
	lastGC   time.Time
}

type entry struct {
	limiter  *rate.Limiter
	lastUsed time.Time
}

// NewLoginThrottle returns an empty throttle.
func NewLoginThrottle() *LoginThrottle {
	return &LoginThrottle{limiters: map[string]*entry{}, now: time.Now}
}

// SetClock replaces the throttle's clock; tests use it to let time pass.
func (t *LoginThrottle) SetClock(now func() time.Time) { t.now = now }

// Wait reports how long the account or address must wait before trying again; zero means go.
func (t *LoginThrottle) Wait(email, address string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	wait := time.Duration(0)
	for _, lim := range t.limitersFor(email, address, now) {
		if tokens := lim.TokensAt(now); tokens < 1 {
			missing := time.Duration(math.Ceil((1 - tokens) * float64(refillEvery)))
			wait = max(wait, missing)
		}
	}
	return wait
}

// Fail records a failed attempt against both the account and the address.
func (t *LoginThrottle) Fail(email, address string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, lim := range t.limitersFor(email, address, now) {
		lim.AllowN(now, 1)
	}
}

func (t *LoginThrottle) limitersFor(email, address string, now time.Time) []*rate.Limiter {
	if now.Sub(t.lastGC) > throttleForget {
		for key, e := range t.limiters {
			if now.Sub(e.lastUsed) > throttleForget {
				delete(t.limiters, key)
			}
		}
		t.lastGC = now
	}
	get := func(key string, burst int) *rate.Limiter {
		e, ok := t.limiters[key]
		if !ok {
			e = &entry{limiter: rate.NewLimiter(rate.Every(refillEvery), burst)}
			t.limiters[key] = e
		}
		e.lastUsed = now
		return e.limiter
	}
	return []*rate.Limiter{
		get("account:"+strings.ToLower(strings.TrimSpace(email)), accountBurst),
		get("address:"+address, addressBurst),
	}
}
