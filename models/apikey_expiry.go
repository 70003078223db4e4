package models

import (
	"fmt"
	"strings"
	"time"
)

// ExpiryPresetDays are the "Expires after" durations a key may be given, in days.
var ExpiryPresetDays = []int{7, 30, 90, 180, 365}

// DefaultExpiryDays is the preset chosen unless another is: 180 days, or the longest preset the
// lifetime policy allows.
const DefaultExpiryDays = 180

// The "Expires after" choices besides the presets ("30d").
const (
	ExpiryCustom = "custom"
	ExpiryNever  = "never"
)

// ExpiryPolicy is the organisation's limit on how long a key may live, applied alike when a key
// is created or rotated, from the console or the command line.
type ExpiryPolicy struct {
	// MaxLifetime caps how far in the future a key may expire; zero means no cap, and only
	// then may a key never expire.
	MaxLifetime time.Duration
}

// MaxLifetimeDays is the cap in days, 0 for none.
func (p ExpiryPolicy) MaxLifetimeDays() int { return int(p.MaxLifetime / (24 * time.Hour)) }

// PresetDays returns the presets the policy allows, in days; each is chosen as "30d".
func (p ExpiryPolicy) PresetDays() []int {
	var days []int
	for _, preset := range ExpiryPresetDays {
		if p.MaxLifetime == 0 || time.Duration(preset)*24*time.Hour <= p.MaxLifetime {
			days = append(days, preset)
		}
	}
	return days
}

// DefaultChoice is DefaultExpiryDays, or the longest allowed preset below it, or a custom date
// when the policy allows no preset.
func (p ExpiryPolicy) DefaultChoice() string {
	choice := ExpiryCustom
	for _, days := range p.PresetDays() {
		if days <= DefaultExpiryDays {
			choice = fmt.Sprintf("%dd", days)
		}
	}
	return choice
}

// LastDate is the latest custom date (YYYY-MM-DD) at now: the policy's cap, or the last date
// Keysmith stores (LatestExpiry) without one.
func (p ExpiryPolicy) LastDate(now time.Time) string {
	if p.MaxLifetime > 0 {
		return now.Add(p.MaxLifetime).Format(time.DateOnly)
	}
	return LatestExpiry.AddDate(0, 0, -1).Format(time.DateOnly)
}

// Resolve turns an "Expires after" choice made at now into the expiry: a preset ("30d"), a
// custom date (YYYY-MM-DD, the key working through that whole day in UTC, within the cap), or
// never (nil). A choice the policy refuses is a FieldError for "expires_in" or "expires_at",
// whose message is a sentence for the person who chose.
func (p ExpiryPolicy) Resolve(expiresIn, expiresAt string, now time.Time) (*time.Time, error) {
	refuse := func(field, message string, args ...any) (*time.Time, error) {
		return nil, &FieldError{Field: field, Message: fmt.Sprintf(message, args...)}
	}
	switch expiresIn {
	case ExpiryNever:
		if p.MaxLifetime > 0 {
			return refuse("expires_in", "Your organisation’s policy requires every key to expire within %d days.", p.MaxLifetimeDays())
		}
		return nil, nil
	case ExpiryCustom:
		typed := strings.TrimSpace(expiresAt)
		date, err := time.Parse(time.DateOnly, typed)
		lastDate := p.LastDate(now)
		switch {
		case typed == "":
			return refuse("expires_at", "Enter the date the key expires.")
		case err != nil:
			return refuse("expires_at", "Enter the date as YYYY-MM-DD.")
		case !date.After(now):
			return refuse("expires_at", "Choose a date in the future.")
		case p.MaxLifetime > 0 && date.Format(time.DateOnly) > lastDate:
			return refuse("expires_at", "Choose a date no later than %s: your organisation’s policy limits keys to %d days.", lastDate, p.MaxLifetimeDays())
		case date.Format(time.DateOnly) > lastDate:
			return refuse("expires_at", "Choose a date no later than %s.", lastDate)
		}
		// The key works through the whole chosen day (UTC), within the policy's limit.
		endOfDay := date.AddDate(0, 0, 1)
		if p.MaxLifetime > 0 && endOfDay.Sub(now) > p.MaxLifetime {
			endOfDay = now.Add(p.MaxLifetime)
		}
		return &endOfDay, nil
	}
	for _, days := range p.PresetDays() {
		if fmt.Sprintf("%dd", days) == expiresIn {
			at := now.AddDate(0, 0, days)
			return &at, nil
		}
	}
	return refuse("expires_in", "Choose when the key expires.")
}
