package views

import (
	"net/url"
	"strconv"
	"time"

	"keysmith/models"
)

// AuditLogView is Administration › Audit log: a page of events, newest first, with the
// filters that chose them as they were typed.
type AuditLogView struct {
	Events []models.AuditEvent
	// Actor, Action, Key, User, From and To are the filters, as the query string gave them.
	Actor, Action, Key, User, From, To string
	// Errors says which filter was not understood; no events are shown then.
	Errors models.FieldErrors
	// Newer and Older tell whether events match beyond the page, either way.
	Newer, Older bool
}

// FilterError is the sentence about the filter that was not understood, or "".
func (v AuditLogView) FilterError() string {
	for field, message := range v.Errors {
		return "The filter “" + field + "” " + message + "."
	}
	return ""
}

// AuditActions are the actions and families the action filter suggests.
var AuditActions = []string{
	"key", models.AuditKeyCreated, models.AuditKeyRotated, models.AuditKeyDisabled, models.AuditKeyEnabled,
	models.AuditKeyDeleted, models.AuditKeyGraceEnded, models.AuditKeyRenamed, models.AuditKeyDescriptionChanged, models.AuditKeyRefused,
	"session", models.AuditSignedIn, models.AuditSignInFailed, models.AuditSignInThrottled, models.AuditSignedOut,
	models.AuditSessionEnded,
	"user", models.AuditUserCreated, models.AuditUserActivated, models.AuditUserPermissionChanged, models.AuditUserDisabled,
	models.AuditUserEnabled, models.AuditUserResetLink, models.AuditUserPasswordChanged, models.AuditUserPasswordChangeFailed,
	"authz", models.AuditAuthzDenied,
	"setup", "audit",
}

// filters are the view's filters as query parameters.
func (v AuditLogView) filters() url.Values {
	params := url.Values{}
	for name, value := range map[string]string{"actor": v.Actor, "action": v.Action, "key": v.Key, "user": v.User, "from": v.From, "to": v.To} {
		if value != "" {
			params.Set(name, value)
		}
	}
	return params
}

// pageURL is the audit log's address with the filters and, when set, one more parameter.
func (v AuditLogView) pageURL(path, name, value string) string {
	params := v.filters()
	if name != "" {
		params.Set(name, value)
	}
	if len(params) == 0 {
		return path
	}
	return path + "?" + params.Encode()
}

// NewerURL is the page of the events just newer than this page's.
func (v AuditLogView) NewerURL() string {
	return v.pageURL("/admin/audit-log", "after", strconv.FormatInt(v.Events[0].ID, 10))
}

// OlderURL is the page of the events just older than this page's.
func (v AuditLogView) OlderURL() string {
	return v.pageURL("/admin/audit-log", "before", strconv.FormatInt(v.Events[len(v.Events)-1].ID, 10))
}

// NewestURL is the first page, with the filters.
func (v AuditLogView) NewestURL() string { return v.pageURL("/admin/audit-log", "", "") }

// CSVURL exports every event the filters select.
func (v AuditLogView) CSVURL() string { return v.pageURL("/admin/audit-log.csv", "", "") }

// Filtered tells whether a filter narrows the log.
func (v AuditLogView) Filtered() bool { return len(v.filters()) > 0 }

// auditFilterURL is the audit log filtered by one parameter.
func auditFilterURL(name, value string) string {
	return "/admin/audit-log?" + url.Values{name: {value}}.Encode()
}

// auditTime writes an event's time to the second, in UTC.
func auditTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

// formatInt writes an id for an attribute.
func formatInt(n int64) string { return strconv.FormatInt(n, 10) }
