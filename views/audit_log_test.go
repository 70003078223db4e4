package views_test

import (
	"slices"
	"strings"
	"testing"

	"keysmith/views"
)

// TestAuditActionsHaveWords: every action and family the filter offers has words of its own,
// not its code; an action added without words is named from its code.
func TestAuditActionsHaveWords(t *testing.T) {
	seen := map[string]string{}
	for _, action := range views.AuditActions {
		label := views.AuditActionLabel(action)
		if label == "" || label == action || strings.ContainsAny(label, "._") {
			t.Errorf("%s: label %q, want words", action, label)
		}
		if other, ok := seen[label]; ok {
			t.Errorf("%s and %s share the label %q", action, other, label)
		}
		seen[label] = action
	}
	if got, want := views.AuditActionLabel("key.scope_changed"), "Key scope changed"; got != want {
		t.Errorf("an action without words: got %q, want %q", got, want)
	}
}

// TestAuditActionGroupsHoldEveryActionOnce: the filter's groups are the families in order,
// each action once, under the family its code names.
func TestAuditActionGroupsHoldEveryActionOnce(t *testing.T) {
	var listed []string
	for _, group := range views.AuditActionGroups() {
		listed = append(listed, group.Family)
		for _, action := range group.Actions {
			if !strings.HasPrefix(action, group.Family+".") {
				t.Errorf("%s is in the group %s", action, group.Family)
			}
			listed = append(listed, action)
		}
	}
	want := slices.Clone(views.AuditActions)
	slices.Sort(want)
	slices.Sort(listed)
	if !slices.Equal(listed, want) {
		t.Errorf("actions in the groups: got %q, want %q", listed, want)
	}
}

// TestAuditDatePresets: today, the last 7 and 30 days end today, keep the other filters and
// drop the paging; the one the filters are now is marked.
func TestAuditDatePresets(t *testing.T) {
	log := views.AuditLogView{Action: "key", From: "2030-01-27", To: "2030-02-02", Today: "2030-02-02"}
	var got []string
	for _, preset := range log.DatePresets() {
		got = append(got, preset.Label+" "+preset.URL+" "+map[bool]string{true: "current", false: "-"}[preset.Current])
	}
	want := []string{
		"Today /admin/audit-log?action=key&from=2030-02-02&to=2030-02-02 -",
		"Last 7 days /admin/audit-log?action=key&from=2030-01-27&to=2030-02-02 current",
		"Last 30 days /admin/audit-log?action=key&from=2030-01-04&to=2030-02-02 -",
	}
	if !slices.Equal(got, want) {
		t.Errorf("presets:\n got %q\nwant %q", got, want)
	}
	if presets := (views.AuditLogView{}).DatePresets(); presets != nil {
		t.Errorf("presets without today: got %v, want none", presets)
	}
}
