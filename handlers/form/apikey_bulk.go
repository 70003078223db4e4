package form

import (
	"strconv"
	"strings"

	"keysmith/models"
)

// MaxBulkKeys is how many keys one bulk action takes: a page of the list holds 25, and a
// confirmation naming more than 100 keys and their clients is no longer read.
const MaxBulkKeys = 100

// maxBulkIDLength bounds one id as sent; a public id is 19 characters, and an unknown id is
// named back in the answer.
const maxBulkIDLength = 40

// The bulk actions of the keys list, as its buttons send them.
const (
	BulkDisable = "disable"
	BulkDelete  = "delete"
)

// BulkKeys is the keys list's bulk form as sent: the action, the public ids of the keys
// ticked, and, once the confirmation was shown, Confirmed and the count typed.
type BulkKeys struct {
	Action       string   `form:"action"`
	IDs          []string `form:"ids"`
	Confirmed    string   `form:"confirmed"`
	ConfirmCount string   `form:"confirm_count"`
	Return       string   `form:"return"`
}

// Validate returns the ids in the order sent, each once, or a FieldError: an action other than
// disable or delete, no id, more than MaxBulkKeys, or an id that is not one line of text of at
// most 40 characters. Whether the keys exist is the store's to say.
func (f BulkKeys) Validate() ([]string, error) {
	if f.Action != BulkDisable && f.Action != BulkDelete {
		return nil, &models.FieldError{Field: "action", Message: "must be disable or delete"}
	}
	seen := make(map[string]bool, len(f.IDs))
	ids := make([]string, 0, len(f.IDs))
	for _, id := range f.IDs {
		id = strings.TrimSpace(id)
		if err := models.CheckText("ids", id, false); err != nil {
			return nil, err
		}
		if len(id) > maxBulkIDLength {
			return nil, &models.FieldError{Field: "ids", Message: "holds an id longer than " + strconv.Itoa(maxBulkIDLength) + " characters"}
		}
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		ids = append(ids, id)
	}
	switch {
	case len(ids) == 0:
		return nil, &models.FieldError{Message: "Tick at least one key, then choose Disable or Delete."}
	case len(ids) > MaxBulkKeys:
		return nil, &models.FieldError{Field: "ids", Message: "names " + strconv.Itoa(len(ids)) + " keys; one action takes at most " + strconv.Itoa(MaxBulkKeys)}
	}
	return ids, nil
}
