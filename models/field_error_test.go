package models_test

import (
	"errors"
	"fmt"
	"maps"
	"testing"

	"keysmith/models"
)

// A FieldError of a field names it; one of the whole form is its message, as a person reads it
// (the command line prints it so).
func TestFieldErrorText(t *testing.T) {
	if got, want := (&models.FieldError{Field: "name", Message: "is required"}).Error(), "models: invalid name: is required"; got != want {
		t.Errorf("field: got %q, want %q", got, want)
	}
	if got, want := (&models.FieldError{Message: "Enter your email address."}).Error(), "Enter your email address."; got != want {
		t.Errorf("whole form: got %q, want %q", got, want)
	}
}

// Every FieldError joined in an error, wrapped or not, is gathered by field, the first of a
// field winning; an error holding none gives none.
func TestFieldErrorsOf(t *testing.T) {
	err := errors.Join(
		&models.FieldError{Field: "name", Message: "Enter a name for the key."},
		fmt.Errorf("scope: %w", &models.FieldError{Field: "scope", Message: "Choose a permission scope."}),
		&models.FieldError{Field: "name", Message: "a second message"},
		nil,
		&models.FieldError{Message: "The two passwords differ."},
	)
	want := models.FieldErrors{"name": "Enter a name for the key.", "scope": "Choose a permission scope.", "": "The two passwords differ."}
	if got := models.FieldErrorsOf(err); !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := models.FieldErrorsOf(err).Form(); got != "The two passwords differ." {
		t.Errorf("Form: got %q", got)
	}
	if !models.IsFieldError(err) {
		t.Error("IsFieldError: got false for joined field errors")
	}
	for _, none := range []error{nil, errors.New("database gone"), errors.Join(errors.New("a"), errors.New("b"))} {
		if got := models.FieldErrorsOf(none); got != nil || models.IsFieldError(none) {
			t.Errorf("%v: got %v, want none", none, got)
		}
	}
	if got := models.FormErrors(""); got != nil {
		t.Errorf("FormErrors(\"\"): got %v, want nil", got)
	}
}
