package models

import "time"

// LastUseFilter selects keys by their last use, for the clean-up of keys nobody uses. Its
// values are the list's used parameter.
type LastUseFilter string

// The list's last-use filters. A key is unused for a period when it has existed for the whole
// period without a use in it: a key made yesterday and never used is not yet unused for 30
// days, since nothing could have used it before it existed.
const (
	UsedNever LastUseFilter = "never"
	Unused30d LastUseFilter = "unused-30d"
	Unused90d LastUseFilter = "unused-90d"
)

// LastUseFilters lists every last-use filter in the order the list's menu offers them.
var LastUseFilters = []LastUseFilter{UsedNever, Unused30d, Unused90d}

// ParseLastUseFilter validates a last-use filter's name, as the list's used parameter carries
// it.
func ParseLastUseFilter(s string) (LastUseFilter, bool) {
	for _, f := range LastUseFilters {
		if string(f) == s {
			return f, true
		}
	}
	return "", false
}

// Label is the filter's name in the console's menu.
func (f LastUseFilter) Label() string {
	switch f {
	case UsedNever:
		return "Never used"
	case Unused30d:
		return "Unused for 30 days"
	case Unused90d:
		return "Unused for 90 days"
	}
	return string(f)
}

// lastUseCondition is the SQL condition, with its arguments, that holds for the keys the
// filter selects at now.
func lastUseCondition(f LastUseFilter, now time.Time) (string, []any) {
	days := 30
	switch f {
	case UsedNever:
		return "last_used_at IS NULL", nil
	case Unused90d:
		days = 90
	}
	cutoff := now.Add(-time.Duration(days) * 24 * time.Hour).UTC()
	return "created_at < ? AND (last_used_at IS NULL OR last_used_at < ?)", []any{cutoff, cutoff}
}
