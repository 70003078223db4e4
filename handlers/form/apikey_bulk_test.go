package form

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"keysmith/models"
)

func TestBulkKeysValidate(t *testing.T) {
	many := make([]string, 101)
	for i := range many {
		many[i] = "ak_" + strings.Repeat("a", 13) + string(rune('A'+i/26)) + string(rune('a'+i%26)) + "x"
	}
	for _, tc := range []struct {
		name      string
		form      BulkKeys
		wantIDs   []string
		wantField string
	}{
		{"duplicates removed, order kept", BulkKeys{Action: "delete", IDs: []string{"ak_b", "ak_a", " ak_b ", "ak_a"}}, []string{"ak_b", "ak_a"}, ""},
		{"disable", BulkKeys{Action: "disable", IDs: []string{"ak_a"}}, []string{"ak_a"}, ""},
		{"100 ids", BulkKeys{Action: "disable", IDs: many[:100]}, many[:100], ""},
		{"101 ids", BulkKeys{Action: "disable", IDs: many}, nil, "ids"},
		{"101 with duplicates is 100", BulkKeys{Action: "disable", IDs: append(slices.Clone(many[:100]), many[0])}, many[:100], ""},
		{"unknown action", BulkKeys{Action: "enable", IDs: []string{"ak_a"}}, nil, "action"},
		{"no action", BulkKeys{IDs: []string{"ak_a"}}, nil, "action"},
		{"no ids", BulkKeys{Action: "delete"}, nil, ""},
		{"blank ids", BulkKeys{Action: "delete", IDs: []string{" ", ""}}, nil, ""},
		{"NUL", BulkKeys{Action: "delete", IDs: []string{"ak_a\x00"}}, nil, "ids"},
		{"invalid UTF-8", BulkKeys{Action: "delete", IDs: []string{"ak_\xff"}}, nil, "ids"},
		{"huge id", BulkKeys{Action: "delete", IDs: []string{strings.Repeat("a", 100000)}}, nil, "ids"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids, err := tc.form.Validate()
			if tc.wantIDs != nil {
				if err != nil || !slices.Equal(ids, tc.wantIDs) {
					t.Fatalf("got %q, %v; want %q", ids, err, tc.wantIDs)
				}
				return
			}
			var fieldErr *models.FieldError
			if !errors.As(err, &fieldErr) || fieldErr.Field != tc.wantField {
				t.Fatalf("got %q, %v; want a FieldError for %q", ids, err, tc.wantField)
			}
		})
	}
}
