package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keysmith/app/apptest"
)

func TestForwardedForIsBelievedOnlyFromTrustedProxies(t *testing.T) {
	guess := func(c *apptest.Client, email, forwardedFor string) int {
		form := url.Values{"email": {email}, "password": {"wrong"}, "_csrf": {c.CSRF}}
		return c.Do(http.MethodPost, "/login", strings.NewReader(form.Encode()), map[string]string{
			"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": forwardedFor,
		}).StatusCode
	}
	// Without a trusted proxy, a forged header does not make each guess a new address.
	eachApp(t, func(t *testing.T, app *apptest.App, _ *apptest.Client) {
		attacker := app.Client(t)
		attacker.Get("/login")
		for i := range 20 {
			guess(attacker, fmt.Sprintf("spray%d@example.com", i), fmt.Sprintf("203.0.113.%d", i))
		}
		if got := guess(attacker, "one.more@example.com", "203.0.113.99"); got != http.StatusTooManyRequests {
			t.Errorf("21st guess with a forged X-Forwarded-For: status %d, want 429", got)
		}
	})
	// Behind a trusted proxy, clients are told apart by the address it forwards.
	eachApp(t, func(t *testing.T, app *apptest.App, _ *apptest.Client) {
		attacker := app.Client(t)
		attacker.Get("/login")
		for i := range 20 {
			guess(attacker, fmt.Sprintf("spray%d@example.com", i), "203.0.113.7")
		}
		if got := guess(attacker, "one.more@example.com", "203.0.113.7"); got != http.StatusTooManyRequests {
			t.Errorf("21st guess from one forwarded address: status %d, want 429", got)
		}
		if got := guess(attacker, "colleague@example.com", "198.51.100.20"); got != http.StatusUnauthorized {
			t.Errorf("a guess from another client behind the proxy: status %d, want 401", got)
		}
	}, behindLoopbackProxy)
}
