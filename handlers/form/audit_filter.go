package form

import (
	"net/url"
	"strings"
	"time"

	"keysmith/models"
)

// AuditFilter reads the audit log's filters from the query string, as the console, its CSV
// export and the API take them: actor, action, key, user, and from and to, each a date
// (2026-11-26, UTC; to includes the whole day) or a time in RFC 3339. A filter that no event
// could match is a FieldError naming it, answered 422.
func AuditFilter(params url.Values) (models.AuditFilter, error) {
	filter := models.AuditFilter{
		Actor:  strings.TrimSpace(params.Get("actor")),
		Action: strings.TrimSpace(params.Get("action")),
		Key:    strings.TrimSpace(params.Get("key")),
		User:   strings.TrimSpace(params.Get("user")),
	}
	var err error
	if filter.From, err = auditFilterTime("from", params.Get("from"), false); err != nil {
		return filter, err
	}
	if filter.To, err = auditFilterTime("to", params.Get("to"), true); err != nil {
		return filter, err
	}
	return filter, filter.Validate()
}

// auditFilterTime reads a from or to filter; a date is its first moment, or for an end, the
// first moment of the next day.
func auditFilterTime(field, value string, end bool) (time.Time, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return time.Time{}, nil
	}
	if day, err := time.Parse(time.DateOnly, value); err == nil {
		if end {
			day = day.AddDate(0, 0, 1)
		}
		return day, nil
	}
	if at, err := time.Parse(time.RFC3339, value); err == nil {
		return at.UTC(), nil
	}
	return time.Time{}, &models.FieldError{Field: field, Message: "must be a date such as 2026-11-26 (UTC) or a time such as 2026-11-26T09:30:00Z"}
}
