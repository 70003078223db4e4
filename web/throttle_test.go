package web

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestThrottleMemoryIsBounded(t *testing.T) {
	throttle := NewLoginThrottle()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	throttle.SetClock(func() time.Time { return now })

	_, done := throttle.Attempt(strings.Repeat("a", 64<<10)+"@example.com", "192.0.2.1")
	done(true)
	for key := range throttle.limiters {
		if len(key) > len("account:")+maxEmailLength {
			t.Errorf("a %d-byte key is kept for one email", len(key))
		}
	}

	for i := 0; len(throttle.limiters)+2 <= throttleCapacity; i++ {
		wait, done := throttle.Attempt(fmt.Sprintf("user%d@example.com", i), "192.0.2.1")
		if wait > 0 {
			t.Fatalf("attempt %d refused before the throttle was full", i)
		}
		done(false)
	}
	if wait, _ := throttle.Attempt("one.more@example.com", "192.0.2.1"); wait == 0 {
		t.Fatal("a full throttle let a new account in")
	}
	now = now.Add(throttleForget + time.Minute)
	if wait, _ := throttle.Attempt("one.more@example.com", "192.0.2.1"); wait != 0 {
		t.Errorf("idle entries were not forgotten: wait %v", wait)
	}
	if n := len(throttle.limiters); n > 2 {
		t.Errorf("%d entries kept after they went idle, want the 2 just used", n)
	}
}
