package models

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// CheckText is the one test of text that anyone sends Keysmith: form fields, query parameters,
// JSON strings, and what is stored from them. It returns a FieldError naming field when value
// is not valid UTF-8 or holds a control character (NUL, escape, DEL…). PostgreSQL refuses
// invalid UTF-8 and NUL in text, and SQLite stores them as they are, so either would fail
// later or differ between databases; no field needs them. multiLine allows tab, line feed and
// carriage return, for the fields that hold paragraphs.
func CheckText(field, value string, multiLine bool) error {
	if !utf8.ValidString(value) {
		return &FieldError{Field: field, Message: "must be valid UTF-8 text"}
	}
	for _, r := range value {
		if !unicode.IsControl(r) || multiLine && (r == '\t' || r == '\n' || r == '\r') {
			continue
		}
		if r == 0 {
			return &FieldError{Field: field, Message: "must not contain NUL characters"}
		}
		return &FieldError{Field: field, Message: fmt.Sprintf("must not contain control characters (found %U)", r)}
	}
	return nil
}
