package webhook

import (
	"net/http"
	"testing"
	"time"
)

// A receiver's Retry-After is read as seconds or as an HTTP date, held to the sender's longest
// delay, and ignored when it cannot be read or lies in the past: whatever a receiver sends, it
// cannot stop the sender, nor hold an event back for longer than the sender itself would.
func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for value, want := range map[string]time.Duration{
		"120":                  2 * time.Minute,
		"0":                    0,
		"7200":                 webhookRetryCap,
		"86400":                webhookRetryCap,
		"18446744073709551615": webhookRetryCap,
		"18446744073709551616": 0,
		now.Add(10 * time.Minute).Format(http.TimeFormat): 10 * time.Minute,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
		"Fri, 31 Dec 9999 23:59:59 GMT":                   webhookRetryCap,
		"":                                                0,
		"-5":                                              0,
		"1e3":                                             0,
		" 120":                                            0,
		"120\x00":                                         0,
		"soon":                                            0,
	} {
		if got := parseRetryAfter(value, now); got != want {
			t.Errorf("Retry-After %q: got %v, want %v", value, got, want)
		}
	}
}
