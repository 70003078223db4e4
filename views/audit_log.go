package views

import (
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
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
	// Today is the current day in UTC (YYYY-MM-DD), where the date presets end.
	Today string
}

// FilterError is the sentence about the filter that was not understood, or "".
func (v AuditLogView) FilterError() string {
	for field, message := range v.Errors {
		return "The filter “" + field + "” " + message + "."
	}
	return ""
}

// AuditActions are the actions and families the action filter offers, each family before
// its actions.
var AuditActions = []string{
	"key", models.AuditKeyCreated, models.AuditKeyRotated, models.AuditKeyDisabled, models.AuditKeyEnabled,
	models.AuditKeyDeleted, models.AuditKeyGraceEnded, models.AuditKeyRenamed, models.AuditKeyDescriptionChanged, models.AuditKeyRefused,
	"session", models.AuditSignedIn, models.AuditSignInFailed, models.AuditSignInThrottled, models.AuditSignedOut,
	models.AuditSessionEnded,
	"user", models.AuditUserCreated, models.AuditUserActivated, models.AuditUserPermissionChanged, models.AuditUserDisabled,
	models.AuditUserEnabled, models.AuditUserResetLink, models.AuditUserPasswordChanged, models.AuditUserPasswordChangeFailed,
	"authz", models.AuditAuthzDenied,
	"setup", models.AuditSetupCompleted,
	"audit", models.AuditExported, models.AuditPruned, models.AuditChainStarted, models.AuditChainBroken,
}

// auditActionLabels are the words the audit log shows for its actions and families, so that
// it reads like a log; the code stays in each row's details, in the CSV and in the API.
var auditActionLabels = map[string]string{
	"key":                                "Keys",
	models.AuditKeyCreated:               "Key created",
	models.AuditKeyRotated:               "Key rotated",
	models.AuditKeyDisabled:              "Key disabled",
	models.AuditKeyEnabled:               "Key enabled",
	models.AuditKeyDeleted:               "Key deleted",
	models.AuditKeyGraceEnded:            "Previous secret stopped",
	models.AuditKeyRefused:               "Key refused by the API",
	"session":                            "Sign-ins and sessions",
	models.AuditSignedIn:                 "Signed in",
	models.AuditSignInFailed:             "Sign-in failed",
	models.AuditSignInThrottled:          "Sign-ins throttled",
	models.AuditSignedOut:                "Signed out",
	models.AuditSessionEnded:             "Session ended",
	"user":                               "Users",
	models.AuditUserCreated:              "User added",
	models.AuditUserActivated:            "User activated",
	models.AuditUserPermissionChanged:    "Permission changed",
	models.AuditUserDisabled:             "User disabled",
	models.AuditUserEnabled:              "User enabled",
	models.AuditUserResetLink:            "Reset link created",
	models.AuditUserPasswordChanged:      "Password changed",
	models.AuditUserPasswordChangeFailed: "Password change failed",
	"authz":                              "Refused console requests",
	models.AuditAuthzDenied:              "Console request refused",
	"setup":                              "Setup",
	models.AuditSetupCompleted:           "Setup completed",
	"audit":                              "The audit log",
	models.AuditExported:                 "Audit log exported",
	models.AuditPruned:                   "Old events pruned",
	models.AuditChainStarted:             "Audit chain started",
	models.AuditChainBroken:              "Audit chain broken",
}

// AuditActionLabel is the audit log's words for an action or a family. An action without its
// own words (one added without a label) is named from its code, "key.renamed" as "Key
// renamed", so that no row ever shows a bare code.
func AuditActionLabel(action string) string {
	if label, ok := auditActionLabels[action]; ok {
		return label
	}
	family, verb, found := strings.Cut(action, ".")
	if !found {
		return capitalise(action)
	}
	return capitalise(family + " " + strings.ReplaceAll(verb, "_", " "))
}

// AuditActionGroup is one family of the action filter: the family (every action in it) and
// its actions.
type AuditActionGroup struct {
	Family  string
	Actions []string
}

// AuditActionGroups arranges AuditActions by family, in their order, an action with the
// family its code names.
func AuditActionGroups() []AuditActionGroup {
	var groups []AuditActionGroup
	index := map[string]int{}
	for _, action := range AuditActions {
		family, _, _ := strings.Cut(action, ".")
		i, ok := index[family]
		if !ok {
			i = len(groups)
			index[family] = i
			groups = append(groups, AuditActionGroup{Family: family})
		}
		if family != action {
			groups[i].Actions = append(groups[i].Actions, action)
		}
	}
	return groups
}

// actionOffered tells whether the action filter lists action, so that one typed into the
// address (or unknown) is offered as it was asked rather than silently dropped.
func actionOffered(action string) bool {
	return action == "" || slices.Contains(AuditActions, action)
}

// AuditDatePreset is one of the shortcuts that set the date filters to a span ending today.
type AuditDatePreset struct {
	Label, From, To string
	// Current tells that the filters are this span now.
	Current bool
	URL     string
}

// DatePresets are today, the last 7 days and the last 30 days, each keeping the other
// filters; none when Today is unknown.
func (v AuditLogView) DatePresets() []AuditDatePreset {
	today, err := time.Parse(time.DateOnly, v.Today)
	if err != nil {
		return nil
	}
	var presets []AuditDatePreset
	for _, span := range []struct {
		label string
		days  int
	}{{"Today", 1}, {"Last 7 days", 7}, {"Last 30 days", 30}} {
		from := today.AddDate(0, 0, 1-span.days).Format(time.DateOnly)
		withDates := v
		withDates.From, withDates.To = from, v.Today
		presets = append(presets, AuditDatePreset{
			Label: span.label, From: from, To: v.Today,
			Current: v.From == from && v.To == v.Today,
			URL:     withDates.pageURL("/admin/audit-log", "", ""),
		})
	}
	return presets
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

// isoInstant matches the instants audit details hold in RFC 3339, such as a key's old and new
// expiry: "2027-02-06T00:00:00Z".
var isoInstant = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})`)

// detailPart is a piece of an audit detail: text as stored, or an instant it names, which the
// page writes in the console's date style while the stored detail, the CSV and the API keep
// the raw text.
type detailPart struct {
	Text string
	At   *time.Time
}

// detailParts splits an audit detail into its text and the instants it names. A date that does
// not parse stays text.
func detailParts(detail string) []detailPart {
	var parts []detailPart
	last := 0
	for _, loc := range isoInstant.FindAllStringIndex(detail, -1) {
		at, err := time.Parse(time.RFC3339Nano, detail[loc[0]:loc[1]])
		if err != nil {
			continue
		}
		if loc[0] > last {
			parts = append(parts, detailPart{Text: detail[last:loc[0]]})
		}
		parts = append(parts, detailPart{Text: detail[loc[0]:loc[1]], At: &at})
		last = loc[1]
	}
	if last < len(detail) {
		parts = append(parts, detailPart{Text: detail[last:]})
	}
	return parts
}

// formatInt writes an id for an attribute.
func formatInt(n int64) string { return strconv.FormatInt(n, 10) }
