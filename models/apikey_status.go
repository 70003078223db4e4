package models

import (
	"context"
	"fmt"
	"time"
)

// KeyStatus is the state the list shows as a badge, and filters by. Its values are the badge's
// data-status and the list's status parameter alike, so a script reads one and writes the
// other.
type KeyStatus string

// Key statuses, in the order a key is tested for them: the first that holds is the key's.
const (
	StatusDisabled    KeyStatus = "disabled"
	StatusExpired     KeyStatus = "expired"
	StatusRotating    KeyStatus = "rotating"
	StatusExpiresSoon KeyStatus = "expires-soon"
	StatusActive      KeyStatus = "active"
)

// KeyStatuses lists every status in the order the list's filter offers them.
var KeyStatuses = []KeyStatus{StatusActive, StatusExpiresSoon, StatusExpired, StatusDisabled, StatusRotating}

// ParseKeyStatus validates a status name, as the list's filter and the command line take it.
func ParseKeyStatus(s string) (KeyStatus, bool) {
	for _, status := range KeyStatuses {
		if string(status) == s {
			return status, true
		}
	}
	return "", false
}

// Label is the status's name in the console, on its badge and in its filter.
func (s KeyStatus) Label() string {
	switch s {
	case StatusDisabled:
		return "Disabled"
	case StatusExpired:
		return "Expired"
	case StatusRotating:
		return "Rotating"
	case StatusExpiresSoon:
		return "Expires soon"
	case StatusActive:
		return "Active"
	}
	return string(s)
}

// ExpiresSoonWindow is how close to its expiry a key is flagged as expiring soon.
const ExpiresSoonWindow = 7 * 24 * time.Hour

// Status is the key's state at now; where several hold, the first of disabled, expired,
// rotating, expires soon (within ExpiresSoonWindow) and active. statusCondition selects the
// same keys in SQL: the two change together.
func (k *APIKey) Status(now time.Time) KeyStatus {
	switch {
	case k.DisabledAt != nil:
		return StatusDisabled
	case k.Expired(now):
		return StatusExpired
	case k.Rotating(now):
		return StatusRotating
	case k.ExpiresAt != nil && k.ExpiresAt.Sub(now) <= ExpiresSoonWindow:
		return StatusExpiresSoon
	}
	return StatusActive
}

// statusCondition is the SQL condition, with its arguments, that holds for the keys whose
// Status at now is status.
func statusCondition(status KeyStatus, now time.Time) (string, []any) {
	soon := now.Add(ExpiresSoonWindow)
	rotating, rotatingArgs := rotatingCondition(now)
	switch status {
	case StatusDisabled:
		return "disabled_at IS NOT NULL", nil
	case StatusExpired:
		return "disabled_at IS NULL AND expires_at <= ?", []any{now}
	case StatusRotating:
		return "disabled_at IS NULL AND COALESCE(expires_at, ?) > ? AND (" + rotating + ")",
			append([]any{LatestExpiry, now}, rotatingArgs...)
	case StatusExpiresSoon:
		return "disabled_at IS NULL AND expires_at > ? AND expires_at <= ? AND NOT (" + rotating + ")",
			append([]any{now, soon}, rotatingArgs...)
	}
	// Keys that never expire count as expiring at LatestExpiry, the latest any key may: an OR
	// of "never" and "later" would lead SQLite to read most keys through two indexes, several
	// times slower than reading the table.
	return "disabled_at IS NULL AND COALESCE(expires_at, ?) > ? AND NOT (" + rotating + ")",
		append([]any{LatestExpiry, soon}, rotatingArgs...)
}

// NeverExpiresFlagged tells whether the list flags the key for never expiring: a key that
// writes to the catalog (Admin, Manage documentation) and never expires works for whoever holds
// a leaked copy until someone deletes it.
func (k *APIKey) NeverExpiresFlagged() bool {
	return k.ExpiresAt == nil && (k.Scope == ScopeAdmin || k.Scope == ScopeManageDocumentation)
}

// CountAPIKeysWithStatus counts the keys whose status is status now, for the list's banner of
// keys about to expire.
func (s *Store) CountAPIKeysWithStatus(ctx context.Context, status KeyStatus) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, ok := ParseKeyStatus(string(status)); !ok {
		return 0, &FieldError{Field: "status", Message: "is not a key status"}
	}
	condition, args := statusCondition(status, s.now())
	var count int64
	if err := s.db.WithContext(ctx).Model(&APIKey{}).Where(condition, args...).Count(&count).Error; err != nil {
		return 0, fmt.Errorf("models: count api keys: %w", err)
	}
	return count, nil
}
