package models_test

import (
	"errors"
	"testing"

	"keysmith/models"
)

func TestCheckText(t *testing.T) {
	for _, tc := range []struct {
		name      string
		value     string
		multiLine bool
		want      string // the FieldError's message, "" for none
	}{
		{"plain", "Nightly export ✓", false, ""},
		{"empty", "", false, ""},
		{"NUL", "a\x00b", false, "must not contain NUL characters"},
		{"NUL in a paragraph", "a\x00b", true, "must not contain NUL characters"},
		{"invalid UTF-8", "caf\xe9", false, "must be valid UTF-8 text"},
		{"truncated sequence", "\xe2\x82", true, "must be valid UTF-8 text"},
		{"escape", "\x1b[2J", false, "must not contain control characters (found U+001B)"},
		{"DEL", "a\x7f", false, "must not contain control characters (found U+007F)"},
		{"C1 control", "a\u0085b", true, "must not contain control characters (found U+0085)"},
		{"line feed on one line", "a\nb", false, "must not contain control characters (found U+000A)"},
		{"tab on one line", "a\tb", false, "must not contain control characters (found U+0009)"},
		{"line breaks in a paragraph", "a\r\n\tb", true, ""},
	} {
		err := models.CheckText("field", tc.value, tc.multiLine)
		got := ""
		var fe *models.FieldError
		if errors.As(err, &fe) {
			got = fe.Message
			if fe.Field != "field" {
				t.Errorf("%s: field %q, want %q", tc.name, fe.Field, "field")
			}
		} else if err != nil {
			t.Errorf("%s: got %v, want a FieldError", tc.name, err)
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
